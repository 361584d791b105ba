"""The IOC database: an engine for SQLite (WAL) or PostgreSQL, migrated by Alembic at start.

SQLite is the embedded default for one instance: WAL mode (readers do not wait for the
feed's writes), foreign keys on, a busy timeout instead of "database is locked". Two API
instances behind one address share a PostgreSQL database; the schema and the migrations
are the same.
"""

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000


class DatabaseError(RuntimeError):
    """The database cannot be opened or migrated; the message names the URL (without password)."""


def open_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: object) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.close()

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision`; safe at every start (a current schema is left as it is)."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except Exception as error:  # any driver's error: reported with the URL, never as a traceback
        raise DatabaseError(f"cannot migrate {engine.url!r}: {type(error).__name__}: {error}") from error


def session_factory(engine: Engine) -> sessionmaker[DbSession]:
    return sessionmaker(engine, expire_on_commit=False)

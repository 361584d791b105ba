"""The IOC's Alembic chain creates exactly the tables public_alerts/tables.py describes."""

from pathlib import Path

import sqlalchemy as sa

from ioc.database import migrate
from public_alerts.tables import metadata

TABLES = ("public_alerts", "siren_commands", "webhook_deliveries")


def _shape(engine: sa.Engine) -> dict[str, object]:
    inspector = sa.inspect(engine)
    return {
        table: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)),
            sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
        )
        for table in TABLES
    }


def test_the_desk_migration_makes_the_public_alert_tables(tmp_path: Path) -> None:
    migrated = sa.create_engine(f"sqlite:///{tmp_path / 'desk.db'}")
    migrate(migrated)
    declared = sa.create_engine(f"sqlite:///{tmp_path / 'declared.db'}")
    metadata.create_all(declared)
    assert _shape(migrated) == _shape(declared)
    with migrated.connect() as connection:
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0005"
    migrate(migrated)  # a current schema is left as it is

"""Where webhook deliveries are recorded: delivered, pending, or dead (the desk's dead-letter list).

One row per (channel, idempotency key): a transition goes to a channel at most once, however
often it is offered (a repeated warning, a restarted centre). The table is defined here with
SQLAlchemy Core so it lives in the desk's database (SQLite in tests, PostgreSQL in the IOC);
the IOC's Alembic chain creates it (migrations 0002, and 0005 for the lease columns).

A pending delivery is held by one sender (`owner`, the instance's name) until `lease_until_ms`:
the time its next attempt is due (`next_attempt_ms`) plus the request's timeout and a margin. A
sender that died leaves it pending; its lease lapses and any sender takes it over (`take_over`,
a conditional UPDATE: of two instances one wins), keeping its attempts, its backoff and its
body (so its idempotency key). A restarted instance takes back its own at start without
waiting for the lease (its earlier life is gone). A delivery past its alert's expiry
(`expires_ms`) is not resumed: it is a dead letter saying so.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from public_alerts.tables import metadata, webhook_deliveries

State = Literal["pending", "delivered", "dead"]
T = webhook_deliveries


@dataclass(frozen=True)
class DeliveryRecord:
    channel: str
    idempotency_key: str
    state: State
    attempts: int
    last_error: str
    body: bytes
    owner: str | None = None
    next_attempt_ms: int = 0
    lease_until_ms: int = 0
    expires_ms: int | None = None


@dataclass(frozen=True)
class NewDelivery:
    channel: str
    key: str
    body: bytes
    lease_until_ms: int = 0
    expires_ms: int | None = None


def _insert_or_skip(engine: Engine) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING on the desk's two databases: a key taken before inserts no row."""
    if engine.dialect.name == "postgresql":
        return (
            postgresql.insert(T).on_conflict_do_nothing(index_elements=["channel", "idempotency_key"]).returning(T.c.id)
        )
    if engine.dialect.name == "sqlite":
        return sqlite.insert(T).on_conflict_do_nothing(index_elements=["channel", "idempotency_key"]).returning(T.c.id)
    raise ValueError(f"webhook deliveries need SQLite or PostgreSQL, not {engine.dialect.name}")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class DeliveryLog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create_tables(self) -> None:
        """For tests and the demo's SQLite; the IOC's database gets the table from Alembic."""
        metadata.create_all(self._engine)

    def claim(
        self,
        channel: str,
        key: str,
        body: bytes,
        *,
        owner: str | None = None,
        lease_until_ms: int = 0,
        expires_ms: int | None = None,
    ) -> bool:
        """Record a new delivery, held by `owner` until `lease_until_ms`; False if this key was already taken."""
        [taken] = self.claim_many([NewDelivery(channel, key, body, lease_until_ms, expires_ms)], owner=owner)
        return taken

    def claim_many(self, deliveries: Sequence["NewDelivery"], *, owner: str | None = None) -> list[bool]:
        """Record new deliveries in one transaction (one commit for a batch); for each, False if already taken."""
        now = _now_ms()
        insert = _insert_or_skip(self._engine)
        taken = []
        with self._engine.begin() as connection:
            for d in deliveries:
                row = {"channel": d.channel, "idempotency_key": d.key, "state": "pending", "attempts": 0}
                row |= {"last_error": "", "body": d.body, "created_ms": now, "updated_ms": now, "owner": owner}
                row |= {"lease_until_ms": d.lease_until_ms, "next_attempt_ms": now, "expires_ms": d.expires_ms}
                # the id RETURNED when a row went in (psycopg's rowcount for it is not 1)
                taken.append(connection.execute(insert.values(**row)).first() is not None)
        return taken

    def attempted(
        self,
        channel: str,
        key: str,
        *,
        state: State,
        error: str = "",
        owner: str | None = None,
        next_attempt_ms: int = 0,
        lease_until_ms: int = 0,
    ) -> bool:
        """Record an attempt's outcome; False when `owner` no longer holds it (another sender took it over)."""
        query = update(T).where(T.c.channel == channel, T.c.idempotency_key == key, T.c.state == "pending")
        if owner is not None:
            query = query.where(T.c.owner == owner)
        values = {"state": state, "attempts": T.c.attempts + 1, "last_error": error[:500], "updated_ms": _now_ms()}
        values |= {"next_attempt_ms": next_attempt_ms, "lease_until_ms": lease_until_ms}
        with self._engine.begin() as connection:
            return bool(connection.execute(query.values(**values)).rowcount == 1)

    def resumable(self, owner: str, now_ms: int, *, own: bool) -> list[DeliveryRecord]:
        """Pending deliveries whose holder's lease lapsed (and, with `own`, those `owner` held), oldest first."""
        lapsed = T.c.lease_until_ms < now_ms
        query = select(T).where(T.c.state == "pending", or_(lapsed, T.c.owner == owner) if own else lapsed)
        with self._engine.connect() as connection:
            return [_record(r) for r in connection.execute(query.order_by(T.c.id))]

    def take_over(self, record: DeliveryRecord, owner: str, now_ms: int, lease_until_ms: int, *, own: bool) -> bool:
        """Hold a pending delivery whose lease lapsed (or, with `own`, one `owner` held); False if another won."""
        lapsed = T.c.lease_until_ms < now_ms
        query = update(T).where(
            T.c.channel == record.channel,
            T.c.idempotency_key == record.idempotency_key,
            T.c.state == "pending",
            or_(lapsed, T.c.owner == owner) if own else lapsed,
        )
        with self._engine.begin() as connection:
            taken = connection.execute(query.values(owner=owner, lease_until_ms=lease_until_ms, updated_ms=now_ms))
            return bool(taken.rowcount == 1)

    def expired(self, record: DeliveryRecord, owner: str, reason: str) -> None:
        """A held delivery past its alert's expiry: a dead letter, not sent."""
        query = update(T).where(
            T.c.channel == record.channel,
            T.c.idempotency_key == record.idempotency_key,
            T.c.state == "pending",
            T.c.owner == owner,
        )
        with self._engine.begin() as connection:
            connection.execute(query.values(state="dead", last_error=reason[:500], updated_ms=_now_ms()))

    def release(self, owner: str) -> int:
        """A sender stopping: its pending deliveries may be taken over at once (attempts and backoff kept)."""
        query = update(T).where(T.c.state == "pending", T.c.owner == owner).values(lease_until_ms=0)
        with self._engine.begin() as connection:
            return int(connection.execute(query).rowcount)

    def records(self, state: State | None = None) -> list[DeliveryRecord]:
        query = select(T).order_by(T.c.id)
        if state is not None:
            query = query.where(T.c.state == state)
        with self._engine.connect() as connection:
            return [_record(r) for r in connection.execute(query)]

    def dead_letters(self) -> list[DeliveryRecord]:
        return self.records("dead")


def _record(r: object) -> DeliveryRecord:
    row = r._mapping  # type: ignore[attr-defined]
    return DeliveryRecord(
        row["channel"],
        row["idempotency_key"],
        row["state"],
        row["attempts"],
        row["last_error"],
        row["body"],
        row["owner"],
        row["next_attempt_ms"],
        row["lease_until_ms"],
        row["expires_ms"],
    )

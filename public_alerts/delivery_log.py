"""Where webhook deliveries are recorded: delivered, pending, or dead (the desk's dead-letter list).

One row per (channel, idempotency key): a transition goes to a channel at most once, however
often it is offered (a repeated warning, a restarted centre). The table is defined here with
SQLAlchemy Core so it lives in the desk's database (SQLite in tests, PostgreSQL in the IOC);
the IOC's Alembic chain creates it (migration `public_alerts_webhook_deliveries`).
"""

import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from public_alerts.tables import metadata, webhook_deliveries

State = Literal["pending", "delivered", "dead"]


@dataclass(frozen=True)
class DeliveryRecord:
    channel: str
    idempotency_key: str
    state: State
    attempts: int
    last_error: str
    body: bytes


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class DeliveryLog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create_tables(self) -> None:
        """For tests and the demo's SQLite; the IOC's database gets the table from Alembic."""
        metadata.create_all(self._engine)

    def claim(self, channel: str, key: str, body: bytes) -> bool:
        """Record a new delivery; False if this key was already taken for this channel."""
        now = _now_ms()
        row = {"channel": channel, "idempotency_key": key, "state": "pending", "attempts": 0, "last_error": ""}
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(webhook_deliveries).values(**row, body=body, created_ms=now, updated_ms=now))
        except IntegrityError:
            return False
        return True

    def attempted(self, channel: str, key: str, *, state: State, error: str = "") -> None:
        table = webhook_deliveries
        with self._engine.begin() as connection:
            connection.execute(
                update(table)
                .where(table.c.channel == channel, table.c.idempotency_key == key)
                .values(state=state, attempts=table.c.attempts + 1, last_error=error[:500], updated_ms=_now_ms())
            )

    def records(self, state: State | None = None) -> list[DeliveryRecord]:
        table = webhook_deliveries
        query = select(table).order_by(table.c.id)
        if state is not None:
            query = query.where(table.c.state == state)
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        return [DeliveryRecord(r.channel, r.idempotency_key, r.state, r.attempts, r.last_error, r.body) for r in rows]

    def dead_letters(self) -> list[DeliveryRecord]:
        return self.records("dead")

"""Live push of warning changes: the audit trail, read as it grows, fanned out to every open page.

The hub reads audit entries newer than the last it sent, as soon as this instance's feed
or an operator changed something (`poke`), and at the latest every `poll_s` (changes made
by another instance sharing the database). Each entry goes to every subscriber's queue
as a Server-Sent Event whose id is the audit id, so a page that reconnects with
`Last-Event-ID` is sent what it missed. A subscriber that falls `max_queued` events
behind is dropped; its browser reconnects and catches up the same way.
"""

import asyncio
import contextlib
import json
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from ioc.schema import AuditEntry, WarningRecord
from ioc.views import AuditView, WarningView

MAX_REPLAY = 500


@dataclass(frozen=True)
class Change:
    audit_id: int
    data: str  # JSON: {"audit": ..., "warning": ...}


class ChangeHub:
    def __init__(self, sessions: sessionmaker[DbSession], poll_s: float = 0.5, max_queued: int = 1000) -> None:
        self.sessions = sessions
        self.poll_s = poll_s
        self.max_queued = max_queued
        self.last_id = 0
        self.sent = 0
        self._subscribers: set[asyncio.Queue[Change | None]] = set()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _max_id(self) -> int:
        with self.sessions() as db:
            return db.scalar(select(func.max(AuditEntry.id))) or 0

    def changes_since(self, audit_id: int, up_to: int | None = None, limit: int = MAX_REPLAY) -> list[Change]:
        """Changes of warnings after `audit_id` (and up to `up_to`), oldest first."""
        with self.sessions() as db:
            query = (
                select(AuditEntry, WarningRecord)
                .join(WarningRecord, AuditEntry.warning_id == WarningRecord.id)
                .where(AuditEntry.id > audit_id, AuditEntry.id <= (up_to if up_to is not None else audit_id + 10**12))
                .order_by(AuditEntry.id)
                .limit(limit)
            )
            return [
                Change(
                    entry.id,
                    json.dumps(
                        {"audit": AuditView.of(entry).model_dump(), "warning": WarningView.of(row).model_dump()},
                        ensure_ascii=False,
                    ),
                )
                for entry, row in db.execute(query)
            ]

    def poke(self) -> None:
        """From any thread: something changed, look now."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.last_id = await asyncio.to_thread(self._max_id)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            self._wake.clear()
            top = await asyncio.to_thread(self._max_id)
            if top <= self.last_id:
                continue
            changes = await asyncio.to_thread(self.changes_since, self.last_id, top)
            for change in changes:
                self._broadcast(change)
            # Entries without a warning (logins, accounts) are not pushed; the hub moves past them all the same.
            self.last_id = top if len(changes) < MAX_REPLAY else changes[-1].audit_id

    def _broadcast(self, change: Change) -> None:
        self.sent += 1
        for queue in list(self._subscribers):
            if queue.qsize() >= self.max_queued:
                self._subscribers.discard(queue)
                queue.put_nowait(None)  # the stream ends; the page reconnects with Last-Event-ID
            else:
                queue.put_nowait(change)

    def subscribe(self) -> "asyncio.Queue[Change | None]":
        queue: asyncio.Queue[Change | None] = asyncio.Queue()
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: "asyncio.Queue[Change | None]") -> None:
        self._subscribers.discard(queue)

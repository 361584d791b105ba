"""The sending service: what operators approved goes out (feed, webhooks, siren commands) and becomes `sent`.

Approval (`ioc/publishing.approve`) only records the operator's word; the alert rests
`approved`, visible in the desk (`GET /api/public/alerts?state=approved`). This service takes
each approved transition, oldest first, in its own transaction (`publishing.send_approved`):
the CAP alert into the feed, the siren commands claimed for the dispatcher
(`floodwatch-ioc sirens`, the one account that may command gateways), and once that has
committed, the alert's webhooks queued on the app's `WebhookSender`. It looks when an approval
pokes it and at the latest every `poll_s` (approvals made on another instance sharing the
database, or left while it was stopped). Two instances may both look: the row's move from
`approved` to `sent` is conditional, so one of them sends it.

The webhooks of a sent alert and of the Updates and Cancels that follow it (drafts that
waited, or what the rules say later, `queue` from the desk's feed thread) go to the chain's
channels (`Outgoing`), each keyed by its transition id. They are queued after the commit, in
memory; at start the service offers again every alert sent within the policy's
`expires_after_h` (`recover`): a delivery claimed before is not taken twice (one row per channel
and key), one lost by a process that died between its commit and its queue goes out now. A
delivery claimed and not finished when the process died stays `pending` (not resumed).
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from ioc.lifecycle import now_ms
from ioc.publishing import Outgoing, Sent, recent_outgoing, send_approved
from public_alerts import AlertBook, PublicAlert
from public_alerts.sirens import CommandLog

log = logging.getLogger(__name__)


class AlertSender:
    def __init__(
        self,
        sessions: sessionmaker[DbSession],
        book: AlertBook,
        sirens: CommandLog,
        deliver: Callable[[PublicAlert, Iterable[str]], Awaitable[object]],
        on_change: Callable[[], None],
        *,
        poll_s: float = 2.0,
    ) -> None:
        self._sessions = sessions
        self._book = book
        self._sirens = sirens
        self.deliver = deliver  # queues the webhooks of a sent alert (the app sets its WebhookSender's)
        self._on_change = on_change
        self.poll_s = poll_s
        self.sent = 0
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The app's loop, where webhooks are queued (set at start, before `run`)."""
        self._loop = loop

    def queue(self, out: Outgoing) -> None:
        """From any thread, once its transaction committed: queue an alert's webhooks (a public chain's follower)."""
        if self._loop is None:
            log.error("webhooks_not_queued", extra={"event": "webhooks_not_queued", "identifier": out.alert.identifier})
            return
        try:
            asyncio.run_coroutine_threadsafe(self._deliver(out), self._loop)
        except RuntimeError:  # the app is stopping: its loop is closed
            log.error("webhooks_not_queued", extra={"event": "webhooks_not_queued", "identifier": out.alert.identifier})

    async def _deliver(self, out: Outgoing) -> None:
        if out.channels:
            await self.deliver(out.alert, out.channels)

    def poke(self) -> None:
        """From any thread: an approval was committed, look now."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def recover(self) -> list[Outgoing]:
        """The alerts sent within the policy's expiry, with their channels: offered again at start."""
        since_ms = now_ms() - int(self._book.policy.expires_after_h * 3600_000)
        with self._sessions() as db:
            return recent_outgoing(db, self._book, since_ms)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            for out in await asyncio.to_thread(self.recover):
                await self._deliver(out)
        except SQLAlchemyError as error:
            log.error("public_recover_failed", extra={"event": "public_recover_failed", "error": repr(error)})
        while True:
            try:
                done = await asyncio.to_thread(self.send_all)
            except SQLAlchemyError as error:  # a database fault: the rows stay approved, the next round retries
                log.error("public_send_failed", extra={"event": "public_send_failed", "error": repr(error)})
                done = []
            for sent in done:  # the approved alert's webhooks, and its followers' (the chain's channels)
                for out in sent.webhooks:
                    await self._deliver(out)
            if done:
                self._on_change()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            self._wake.clear()

    def send_all(self) -> list[Sent]:
        """Send every approved transition (oldest first), each in its own transaction; what was sent."""
        with self._sessions() as db:
            waiting = self._book.approved(db.connection())
        done = []
        for message in waiting:
            with self._sessions.begin() as db:
                sent = send_approved(db, self._book, self._sirens, message)
            if sent is not None:
                self.sent += 1
                done.append(sent)
        return done

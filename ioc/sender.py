"""The sending service: what operators approved goes out (feed, webhooks, siren commands) and becomes `sent`.

Approval (`ioc/publishing.approve`) only records the operator's word; the alert rests
`approved`, visible in the desk (`GET /api/public/alerts?state=approved`). This service takes
each approved transition, oldest first (`publishing.send_approved`, up to `SEND_BATCH` to a
transaction, each conditional and audited on its own):
the CAP alert into the feed, the siren commands claimed for the dispatcher
(`floodwatch-ioc sirens`, the one account that may command gateways), and once that has
committed, the alert's webhooks queued on the app's `WebhookSender`. It looks when an approval
pokes it and at the latest every `poll_s` (approvals made on another instance sharing the
database, or left while it was stopped). Two instances may both look: the row's move from
`approved` to `sent` is conditional, so one of them sends it.

The webhooks of a sent alert and of the Updates and Cancels that follow it (drafts that
waited, or what the rules say later, `queue` from the desk's feed thread) go to the chain's
channels (`Outgoing`), each keyed by its transition id. They are queued after the commit, in
memory, those committed together claimed together (one transaction, in the thread that committed
them, so the claim does not queue for SQLite's write lock behind the feed's next batch); at start the
service offers again every alert sent within the policy's `expires_after_h` (`recover`): a
delivery claimed before is not taken twice (one row per channel and key), one lost by a process
that died between its commit and its queue goes out now. A delivery claimed and still retrying
when its process died is taken over (`resume_deliveries`, `WebhookSender.resume`): at start the
instance's own (by its name), and every `poll_s` any whose holder's lease lapsed (another
instance that died), each carrying on from its attempt count and backoff with the same
idempotency key; one past its alert's expiry is a dead letter instead.
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from ioc.lifecycle import now_ms
from ioc.publishing import Outgoing, Sent, recent_outgoing, send_approved
from public_alerts import AlertBook, PublicAlert
from public_alerts.sirens import CommandLog
from wire_contract import WarningMessage

log = logging.getLogger(__name__)
# Approvals sent per transaction: one commit for a batch (100 at once were 100 commits), each still
# conditional and audited on its own; a batch holds SQLite's write lock for about SEND_BATCH x 5 ms.
SEND_BATCH = 25
Deliver = Callable[[Sequence[tuple[PublicAlert, Iterable[str] | None]]], Awaitable[object]]


class AlertSender:
    def __init__(
        self,
        sessions: sessionmaker[DbSession],
        book: AlertBook,
        sirens: CommandLog,
        deliver: Deliver,
        on_change: Callable[[], None],
        *,
        poll_s: float = 2.0,
    ) -> None:
        self._sessions = sessions
        self._book = book
        self._sirens = sirens
        # queues the webhooks of sent alerts, a batch at a time (the app sets its WebhookSender's `deliver_many`)
        self.deliver = deliver
        # takes over webhook deliveries left pending by a sender that died (the app sets its WebhookSender's
        # `resume`): at start (own=True: this instance's earlier life too) and every `poll_s`
        self.resume_deliveries: Callable[..., Awaitable[object]] | None = None
        # when set (the app sets its WebhookSender's `claim` and `start`), the webhooks of what was
        # committed are claimed in the committing thread at once, then started on the loop
        self.claim_webhooks: Callable[[Sequence[tuple[PublicAlert, Iterable[str] | None]]], list[Any]] | None = None
        self.start_webhooks: Callable[[list[Any]], None] | None = None
        self._on_change = on_change
        self.poll_s = poll_s
        self.sent = 0
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queued: list[Outgoing] = []  # followers committed by the feed's thread, not yet handed over
        self._queued_lock = threading.Lock()

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The app's loop, where webhooks are queued (set at start, before `run`)."""
        self._loop = loop

    def queue(self, out: Outgoing) -> None:
        """From any thread, once its transaction committed: queue an alert's webhooks (a public chain's follower)."""
        self.queue_many([out])

    def queue_many(self, outs: Sequence[Outgoing]) -> None:
        """From any thread, once their transaction committed: queue the webhooks of alerts committed together.

        With `claim_webhooks` set they are claimed here, in the caller's thread, in one transaction, and
        started on the loop; otherwise handed to the loop together (one wake-up, one claim transaction)."""
        if not outs:
            return
        if self._loop is None:
            _not_queued(outs)
            return
        if self.claim_webhooks is not None and self.start_webhooks is not None:
            items = [(out.alert, out.channels) for out in outs if out.channels]
            try:
                taken = self.claim_webhooks(items) if items else []
            except SQLAlchemyError as error:  # offered again at the next start (`recover`)
                log.error("webhooks_not_claimed", extra={"event": "webhooks_not_claimed", "error": repr(error)})
                return
            if taken:
                self._call_soon(self.start_webhooks, taken, outs)
            return
        with self._queued_lock:
            self._queued.extend(outs)
            first = len(self._queued) == len(outs)
        if not first:
            return  # a hand-over is already on its way and takes these too
        try:
            asyncio.run_coroutine_threadsafe(self._hand_over(), self._loop)
        except RuntimeError:  # the app is stopping: its loop is closed
            _not_queued(outs)

    def _call_soon(self, function: Callable[[list[Any]], None], taken: list[Any], outs: Sequence[Outgoing]) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(function, taken)
        except RuntimeError:  # the app is stopping: its loop is closed (claimed ones are resumed later)
            _not_queued(outs)

    async def _hand_over(self) -> None:
        with self._queued_lock:
            outs, self._queued = self._queued, []
        await self._deliver(outs)

    async def _deliver(self, outs: Sequence[Outgoing]) -> None:
        items = [(out.alert, out.channels) for out in outs if out.channels]
        if items:
            await self.deliver(items)

    def poke(self) -> None:
        """From any thread: an approval was committed, look now."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def recover(self) -> list[Outgoing]:
        """The alerts sent within the policy's expiry, with their channels: offered again at start."""
        since_ms = now_ms() - int(self._book.policy.expires_after_h * 3600_000)
        with self._sessions() as db:
            return recent_outgoing(db, self._book, since_ms)

    async def _resume(self, *, own: bool) -> None:
        if self.resume_deliveries is None:
            return
        try:
            await self.resume_deliveries(own=own)
        except SQLAlchemyError as error:  # a database fault: they stay pending, the next round retries
            log.error("webhook_resume_failed", extra={"event": "webhook_resume_failed", "error": repr(error)})

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            await self._deliver(await asyncio.to_thread(self.recover))
        except SQLAlchemyError as error:
            log.error("public_recover_failed", extra={"event": "public_recover_failed", "error": repr(error)})
        await self._resume(own=True)
        resumed = time.monotonic()
        while True:
            try:
                done = await asyncio.to_thread(self.send_all)
            except SQLAlchemyError as error:  # a database fault: the rows stay approved, the next round retries
                log.error("public_send_failed", extra={"event": "public_send_failed", "error": repr(error)})
                done = []
            if self.claim_webhooks is None:  # otherwise queued by `send_all` as each batch committed
                # the approved alerts' webhooks, and their followers' (the chain's channels)
                await self._deliver([out for sent in done for out in sent.webhooks])
            if done:
                self._on_change()
            if time.monotonic() - resumed >= self.poll_s:  # not at every approval's wake-up
                await self._resume(own=False)
                resumed = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            self._wake.clear()

    def send_all(self) -> list[Sent]:
        """Send every approved transition (oldest first), `SEND_BATCH` to a transaction; what was sent."""
        with self._sessions() as db:
            waiting = self._book.approved(db.connection())
        done = []
        for start in range(0, len(waiting), SEND_BATCH):
            batch = waiting[start : start + SEND_BATCH]
            try:
                done += self._send(batch)
            except SQLAlchemyError:
                if len(batch) == 1:
                    raise
                for message in batch:  # one row the database refuses does not hold back the others
                    done += self._send([message])
        return done

    def _send(self, batch: Sequence[WarningMessage]) -> list[Sent]:
        done = []
        with self._sessions.begin() as db:
            for message in batch:
                sent = send_approved(db, self._book, self._sirens, message)
                if sent is not None:
                    done.append(sent)
        self.sent += len(done)
        if self.claim_webhooks is not None:  # committed: their webhooks go now, not after the whole round
            self.queue_many([out for sent in done for out in sent.webhooks])
        return done


def _not_queued(outs: Sequence[Outgoing]) -> None:
    for out in outs:
        log.error("webhooks_not_queued", extra={"event": "webhooks_not_queued", "identifier": out.alert.identifier})

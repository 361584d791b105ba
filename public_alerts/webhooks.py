"""Webhooks: each public alert as HMAC-signed JSON to other systems (SMS gateway, Zalo OA bridge, apps).

    POST <url>
    Content-Type: application/json
    Idempotency-Key: <transition id>          the same for every retry of one delivery
    X-Floodwatch-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

A receiver recomputes the HMAC over the timestamp and the raw body (`verify_signature`),
refuses an old timestamp, and drops a key it has seen. Faults are sorted by kind:
2xx delivered; 408, 425, 429, 5xx and transport errors retried with capped, jittered
exponential backoff; any other 4xx is the receiver refusing the message, which retrying
will not change: dead at once. After `max_attempts` the delivery is dead too. Dead
deliveries are the desk's dead-letter list (`DeliveryLog.dead_letters`). Each channel has
its own token bucket (`max_per_minute`, bursts of up to a tenth of that).

A pending delivery is leased to the sender that holds it (public_alerts/delivery_log.py): one
whose sender died is taken over by another (`WebhookSender.resume`) and carries on its retries
from the attempt and backoff recorded, with the same body and idempotency key.
"""

import asyncio
import functools
import hashlib
import hmac
import logging
import random
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence

import httpx
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import SQLAlchemyError

from public_alerts.alert_book import PublicAlert
from public_alerts.cap import cap_time
from public_alerts.delivery_log import DeliveryLog, NewDelivery, State
from public_alerts.feed import alert_url
from public_alerts.policy import PublicPolicy, WebhookChannel

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Floodwatch-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRYABLE_STATUS = frozenset({408, 425, 429})
IN_FLIGHT_PER_CHANNEL = 8


class WebhookPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    idempotency_key: str
    identifier: str
    msg_type: str
    station: str
    kind: str
    level: int
    previous_level: int
    value: float
    unit: str
    sent: str
    headline_en: str
    # The alert's CAP 1.2 XML at the IOC app, served for every sent alert, one routed to webhooks
    # but not the feed too (the Atom feed does not list that one): receivers fetch the full alert.
    cap_url: str


def payload_of(alert: PublicAlert, policy: PublicPolicy) -> bytes:
    w = alert.warning
    return (
        WebhookPayload(
            idempotency_key=w.warning_id,
            identifier=alert.identifier,
            msg_type=alert.msg_type,
            station=w.station,
            kind=w.kind,
            level=w.level,
            previous_level=w.previous_level,
            value=w.value,
            unit=w.unit,
            sent=cap_time(alert.sent_ms),
            headline_en=alert.headline_en,
            cap_url=alert_url(policy, alert.identifier),
        )
        .model_dump_json()
        .encode()
    )


def webhook_secrets(policy: PublicPolicy, environ: Mapping[str, str]) -> dict[str, bytes]:
    """The signing keys the policy's webhook channels name, from the environment (never the file)."""
    names = {c.secret_env for c in policy.channels.values() if isinstance(c, WebhookChannel)}
    return {name: environ[name].encode() for name in names if environ.get(name)}


def sign(secret: bytes, body: bytes, timestamp_s: int) -> str:
    digest = hmac.new(secret, f"{timestamp_s}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp_s},v1={digest}"


def verify_signature(secret: bytes, body: bytes, header: str, *, now_s: float, tolerance_s: float = 300) -> bool:
    """What a receiver does: the HMAC matches and the timestamp is recent."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp_s = int(fields["t"])
        expected = sign(secret, body, timestamp_s)
    except (KeyError, ValueError):
        return False
    return abs(now_s - timestamp_s) <= tolerance_s and hmac.compare_digest(expected, header)


class TokenBucket:
    """`rate_per_s` tokens a second, at most `burst` saved up; `take` waits for one."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self._rate)


def backoff_s(channel: WebhookChannel, failures: int, rng: random.Random) -> float:
    """Capped exponential backoff with full jitter on the upper half: failure 1 waits ~first_retry_s."""
    ceiling = min(channel.max_retry_s, channel.first_retry_s * 2 ** (failures - 1))
    return ceiling * (0.5 + rng.random() / 2)


class WebhookSender:
    """Delivers alerts to every webhook channel their routes name; use as `async with`.

    `secrets` maps a channel's `secret_env` name to its key (the caller reads the
    environment; tests pass keys). A channel without its key is `unkeyed`: nothing unsigned
    is sent, its deliveries go straight to the dead letters saying which variable to set.
    `deliver` records and schedules; `drain` waits for all.

    `owner` names this sender in the delivery log (the IOC passes its instance's name, so a
    restarted instance knows its own); each delivery it holds is leased until its next attempt
    is due plus the request's timeout and `lease_margin_s`. `resume` takes over the pending
    deliveries of a sender that died (at start, `own=True`, also this owner's earlier life) and
    carries on their retries from the attempt and the time they had reached.
    """

    def __init__(
        self,
        policy: PublicPolicy,
        log: DeliveryLog,
        secrets: Mapping[str, bytes],
        *,
        owner: str | None = None,
        lease_margin_s: float = 30.0,
    ) -> None:
        self._policy = policy
        self._log = log
        self.owner = owner or f"webhooks-{uuid.uuid4().hex[:12]}"
        self._lease_margin_ms = int(lease_margin_s * 1000)
        self._channels = {n: c for n, c in policy.channels.items() if isinstance(c, WebhookChannel)}
        self.unkeyed = sorted(n for n, c in self._channels.items() if c.secret_env not in secrets)
        self._secrets = dict(secrets)
        self._buckets = {
            n: TokenBucket(c.max_per_minute / 60, max(1, c.max_per_minute // 10)) for n, c in self._channels.items()
        }
        # Requests in flight per channel: beyond the client's connections they only queue inside
        # httpcore's pool, whose every assignment walks the whole queue (100 queued: 1.1 s -> see bench).
        self._in_flight = {n: asyncio.Semaphore(IN_FLIGHT_PER_CHANNEL) for n in self._channels}
        self._rng = random.Random()
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: set[tuple[str, str]] = set()  # (channel, key) this sender is delivering
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> "WebhookSender":
        connections = IN_FLIGHT_PER_CHANNEL * max(1, len(self._channels))
        self._client = httpx.AsyncClient(limits=httpx.Limits(max_connections=connections))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        # what is still pending may be taken over by another instance at once (attempts and backoff kept)
        try:
            await asyncio.to_thread(self._log.release, self.owner)
        except SQLAlchemyError as error:  # the leases then lapse by themselves: taken over a little later
            log.error("webhook_release_failed", extra={"event": "webhook_release_failed", "error": repr(error)})

    def _lease_ms(self, channel: WebhookChannel) -> int:
        return int(channel.timeout_s * 1000) + self._lease_margin_ms

    async def deliver(self, alert: PublicAlert, channels: Iterable[str] | None = None) -> list[str]:
        """Schedule the alert on webhook channels; the channels newly taken (a repeat takes none).

        `channels`: where it goes (the desk passes its chain's, `AlertBook.webhook_channels`, so an
        Update or Cancel reaches whoever the Alert reached); None: the webhook routes of its own level.
        """
        return [name for name, _ in await self.deliver_many([(alert, channels)])]

    async def deliver_many(self, items: Sequence[tuple[PublicAlert, Iterable[str] | None]]) -> list[tuple[str, str]]:
        """`deliver` for a batch of alerts, claimed in one transaction (one commit, not one per alert and
        channel); the (channel, key) newly taken."""
        # the database call runs in a thread: a commit (an fsync) must not stall every other delivery
        taken = await asyncio.to_thread(self.claim, items)
        self.start(taken)
        return [(d.channel, d.key) for d in taken]

    def claim(self, items: Sequence[tuple[PublicAlert, Iterable[str] | None]]) -> list[NewDelivery]:
        """From any thread: record the deliveries of a batch of alerts in one transaction, held by this
        sender; those newly taken, for `start` on the loop. The desk's feed and sender claim from their
        own threads right after their commit: from the loop's executor the claim waited for SQLite's
        write lock behind the feed's next transactions (100 followers: ~1 s, bench/public_alert_latency.py)."""
        wanted: list[NewDelivery] = []
        for alert, channels in items:
            w = alert.warning
            if channels is None:
                level = max(w.level, w.previous_level)
                routes = self._policy.routes_for(w.station, w.kind, level, data_warning=w.data_warning)
                channels = [r.channel for r in routes]
            body = payload_of(alert, self._policy)
            expires_ms = alert.sent_ms + int(self._policy.expires_after_h * 3600_000)
            for name in dict.fromkeys(n for n in channels if n in self._channels):
                lease_until_ms = _now_ms() + self._lease_ms(self._channels[name])
                wanted.append(NewDelivery(name, w.warning_id, body, lease_until_ms, expires_ms))
        if not wanted:
            return []
        claimed = self._log.claim_many(wanted, owner=self.owner)
        return [delivery for delivery, new in zip(wanted, claimed, strict=True) if new]

    def start(self, taken: Sequence[NewDelivery]) -> None:
        """On the loop: send deliveries `claim` took."""
        for delivery in taken:
            self._schedule(delivery.channel, delivery.key, delivery.body, 0, 0)

    async def resume(self, *, own: bool = False) -> list[tuple[str, str]]:
        """Take over pending deliveries whose holder's lease lapsed (`own`: this owner's too, at start) and
        carry on their retries; the (channel, key) taken. One past its alert's expiry becomes a dead letter."""
        now = _now_ms()
        taken = []
        for record in await asyncio.to_thread(self._log.resumable, self.owner, now, own=own):
            held = (record.channel, record.idempotency_key)
            channel = self._channels.get(record.channel)
            if held in self._held or channel is None:  # being delivered here; a channel the policy dropped
                continue
            lease_until_ms = max(record.next_attempt_ms, now) + self._lease_ms(channel)
            take = functools.partial(self._log.take_over, own=own)
            if not await asyncio.to_thread(take, record, self.owner, now, lease_until_ms):
                continue  # another instance took it first
            if record.expires_ms is not None and record.expires_ms <= now:
                why = "not resumed: its alert expired before it was delivered"
                await asyncio.to_thread(self._log.expired, record, self.owner, why)
                continue
            taken.append(held)
            self._schedule(record.channel, record.idempotency_key, record.body, record.attempts, record.next_attempt_ms)
        return taken

    def _schedule(self, name: str, key: str, body: bytes, attempts: int, due_ms: int) -> None:
        self._held.add((name, key))
        task = asyncio.get_running_loop().create_task(
            self._send(name, key, body, attempts, due_ms), name=f"webhook {name}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: self._held.discard((name, key)))

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _record(self, name: str, key: str, state: State, error: str = "", due_ms: int = 0) -> bool:
        lease_until_ms = due_ms + self._lease_ms(self._channels[name]) if state == "pending" else 0
        record = functools.partial(
            self._log.attempted,
            state=state,
            error=error,
            owner=self.owner,
            next_attempt_ms=due_ms,
            lease_until_ms=lease_until_ms,
        )
        return await asyncio.to_thread(record, name, key)

    async def _send(self, name: str, key: str, body: bytes, attempts: int, due_ms: int) -> None:
        """Attempts `attempts + 1` ... `max_attempts`, the first not before `due_ms` (a resumed delivery's backoff)."""
        channel = self._channels[name]
        secret = self._secrets.get(channel.secret_env)
        if secret is None:
            why = f"not sent: no signing key (set {channel.secret_env} where the IOC runs)"
            await self._record(name, key, "dead", why)
            return
        if attempts >= channel.max_attempts:  # resumed after its last attempt was recorded pending
            await self._record(name, key, "dead", f"no attempt left (after {attempts} attempts)")
            return
        assert self._client is not None, "WebhookSender used outside `async with`"
        for attempt in range(attempts + 1, channel.max_attempts + 1):
            if (wait_ms := due_ms - _now_ms()) > 0:
                await asyncio.sleep(wait_ms / 1000)
            await self._buckets[name].take()
            headers = {
                "Content-Type": "application/json",
                IDEMPOTENCY_HEADER: key,
                SIGNATURE_HEADER: sign(secret, body, int(time.time())),
            }
            try:
                async with self._in_flight[name]:
                    response = await self._client.post(
                        channel.url, content=body, headers=headers, timeout=channel.timeout_s
                    )
            except httpx.HTTPError as error:
                reason, retry = f"{type(error).__name__}: {error}", True
            else:
                if 200 <= response.status_code < 300:
                    await self._record(name, key, "delivered")
                    return
                reason = f"HTTP {response.status_code}: {response.text[:200]}"
                retry = response.status_code in RETRYABLE_STATUS or response.status_code >= 500
            if not retry or attempt == channel.max_attempts:
                why = reason if not retry else f"{reason} (after {attempt} attempts)"
                await self._record(name, key, "dead", why)
                return
            due_ms = _now_ms() + int(backoff_s(channel, attempt, self._rng) * 1000)
            if not await self._record(name, key, "pending", reason, due_ms):
                return  # our lease lapsed (a stall) and another sender took it over: it carries on


def _now_ms() -> int:
    return time.time_ns() // 1_000_000

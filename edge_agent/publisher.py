"""Publish the buffered readings to the centre at QoS 1: live first, the backlog behind.

The publisher only ever reads from the disk buffer (`edge_agent.buffer`). A batch
is sealed with a sequence number in the buffer and published; up to `max_inflight`
batches await their PUBACK at once. The PUBACK only says the broker holds the batch
(in memory, until its next autosave), so the batch stays on disk until ingest
confirms it stored: a `BatchAck` on the gateway's own `ack` topic, to which the
publisher subscribes in a persistent session. A batch unconfirmed after
`confirm_timeout_s` is published again with the same seq (the wait doubling per
attempt), and at most `max_unconfirmed_batches` are out at once.

After a (re)connection, readings stored before it (less the last `live_window_s`)
are the backlog: they go out oldest first at `backlog_rate_per_s`, while readings
polled since then go out as soon as a batch is full or `max_wait_ms` has passed.
Batches sealed but never acknowledged go out again first, unchanged.
"""

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Literal

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.buffer import AsyncBuffer, SealedBatch
from edge_agent.commands import CommandExecutor
from edge_agent.config import GatewayConfig
from typed_config.secrets import SecretError
from wire_contract import (
    CONTENT_TYPES,
    CONTRACT_VERSION,
    ContractError,
    GatewayStatus,
    PayloadForm,
    TelemetryBatch,
    ack_topic,
    command_result_topic,
    command_topic,
    decode_ack,
    encode_command_result,
    encode_status,
    pack_telemetry,
    status_topic,
    telemetry_topic,
)

log = logging.getLogger(__name__)
BACKOFF_START_S = 0.2
PUBACK_TIMEOUT_S = 10.0

StatusSource = Callable[[Literal["online", "offline"]], Awaitable[GatewayStatus]]


class Unconfirmed:
    """Batches the broker has (PUBACK) and the centre has not yet confirmed: when each is due again."""

    def __init__(self, timeout_s: float, timeout_max_s: float) -> None:
        self.timeout_s, self.timeout_max_s = timeout_s, timeout_max_s
        self._due: dict[int, tuple[float, int, float]] = {}  # seq -> (due, attempts, first sent)

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, seq: int) -> bool:
        return seq in self._due

    def sent(self, seq: int, now: float) -> None:
        _, attempts, first = self._due.get(seq, (0.0, 0, now))
        wait = min(self.timeout_s * 2**attempts, self.timeout_max_s)
        self._due[seq] = (now + wait, attempts + 1, first)

    def confirmed(self, seq: int) -> None:
        self._due.pop(seq, None)

    def clear(self) -> None:
        self._due.clear()

    def overdue(self, now: float) -> list[int]:
        return sorted(seq for seq, (due, _, _) in self._due.items() if due <= now)

    def next_due(self) -> float | None:
        return min((due for due, _, _ in self._due.values()), default=None)

    def oldest_age_s(self, now: float) -> float | None:
        first = min((first for _, _, first in self._due.values()), default=None)
        return None if first is None else round(now - first, 1)


def telemetry_payload(gateway: str, seq: int, bodies: tuple[bytes, ...]) -> bytes:
    """A `TelemetryBatch` as `encode_telemetry` writes it, from readings already encoded in the buffer."""
    head = f'{{"v":{CONTRACT_VERSION},"gateway":"{gateway}","seq":{seq},"readings":['.encode()
    return head + b",".join(bodies) + b"]}"


def telemetry_message(gateway: str, seq: int, bodies: tuple[bytes, ...], form: str) -> tuple[bytes, Properties]:
    """The batch's payload in `form` and the MQTT 5 properties that announce it."""
    payload = telemetry_payload(gateway, seq, bodies)
    if form == PayloadForm.packed:
        payload = pack_telemetry(TelemetryBatch.model_validate_json(payload))
    properties = Properties(PacketTypes.PUBLISH)
    properties.ContentType = CONTENT_TYPES[PayloadForm(form)]
    return payload, properties


SESSION_EXPIRY_S = 7 * 24 * 3600


def _session_properties() -> Properties:
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = SESSION_EXPIRY_S
    return properties


class Publisher:
    """Sends what the buffer holds until `finish()` was called and the buffer is empty."""

    def __init__(
        self,
        config: GatewayConfig,
        buffer: AsyncBuffer,
        status: StatusSource | None = None,
        commands: CommandExecutor | None = None,
    ) -> None:
        self.config = config
        self.buffer = buffer
        self.status = status
        self.commands = commands
        self.published_readings = 0
        self.confirmed_readings = 0
        self.resent_batches = 0
        self.connected = False
        self.reconnections = 0
        self.unconfirmed = Unconfirmed(config.publish.confirm_timeout_s, config.publish.confirm_timeout_max_s)
        self._wake = asyncio.Event()
        self._finishing = False
        self._recent: deque[tuple[float, int, int]] = deque()  # (monotonic, first id, count) of each add
        self._live_unsent = 0
        self._live_since: float | None = None
        self._beat: asyncio.Task[None] | None = None
        self._acks: asyncio.Task[None] | None = None
        self._confirm_deadline = float("inf")

    @property
    def unsent_readings(self) -> int:
        return self.buffer.depth

    def notify(self, last_id: int, count: int) -> None:
        """The agent stored `count` readings ending at `last_id`."""
        now = time.monotonic()
        self._recent.append((now, last_id - count + 1, count))
        horizon = now - self.config.publish.live_window_s
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()
        if self._live_unsent == 0:
            self._live_since = now
        self._live_unsent += count
        self._wake.set()

    def finish(self, confirm_wait_s: float = 5.0) -> None:
        """No more readings: send everything, without the backlog's rate bound, then return.

        Once all is sent, wait up to `confirm_wait_s` for the centre's confirmations;
        what is still unconfirmed then stays on disk and goes out at the next start."""
        self._finishing = True
        self._confirm_deadline = time.monotonic() + confirm_wait_s
        self._wake.set()

    def _client(self) -> aiomqtt.Client:
        mqtt, gateway = self.config.mqtt, self.config.gateway_id
        offline = encode_status(GatewayStatus(gateway=gateway, state="offline"))
        # Read at each connection: a rotated password file is picked up without a restart.
        password = mqtt.password.read() if mqtt.password is not None else None
        tls = mqtt.tls_context()
        return aiomqtt.Client(
            mqtt.host,
            mqtt.port,
            username=mqtt.username,
            password=password,
            tls_context=tls,
            identifier=f"floodwatch-edge-{gateway}",
            # MQTT 5, for the payload's content type. The broker keeps the session (the ack
            # subscription, and acks sent while we were away) for SESSION_EXPIRY_S.
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=_session_properties(),
            keepalive=mqtt.keepalive_s,
            will=aiomqtt.Will(status_topic(gateway), offline, qos=1, retain=True),
        )

    async def run(self) -> None:
        """Publish, reconnecting with jittered, capped backoff, until finished and all is acknowledged."""
        backoff = BACKOFF_START_S
        while True:
            try:
                async with self._client() as client:
                    self.connected = True
                    await client.subscribe(ack_topic(self.config.gateway_id), qos=1, timeout=PUBACK_TIMEOUT_S)
                    if self.commands is not None:
                        topic = command_topic(self.config.gateway_id)
                        await client.subscribe(topic, qos=1, timeout=PUBACK_TIMEOUT_S)
                    await self._announce(client, "online")
                    backoff = BACKOFF_START_S
                    await self._publish_all(client)
                    await self._announce(client, "offline")
                    return
            except (aiomqtt.MqttError, SecretError) as error:  # a password file gone: retried like the broker
                self.reconnections += 1
                log.warning(
                    "mqtt_disconnected",
                    extra={
                        "event": "mqtt_disconnected",
                        "reason": str(error),
                        "retry_in_s": round(backoff, 2),
                        "unsent_readings": self.unsent_readings,
                    },
                )
            finally:
                self.connected = False
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, self.config.mqtt.reconnect_max_s)

    async def _announce(self, client: aiomqtt.Client, state: Literal["online", "offline"]) -> None:
        if self.status is not None:
            status = await self.status(state)
        else:
            status = GatewayStatus(gateway=self.config.gateway_id, state=state, ts_ms=time.time_ns() // 1_000_000)
        await client.publish(
            status_topic(self.config.gateway_id), encode_status(status), qos=1, retain=True, timeout=PUBACK_TIMEOUT_S
        )

    def _live_from(self, last_id: int) -> int:
        """First id that counts as live: stored within the live window, else anything stored from now on."""
        horizon = time.monotonic() - self.config.publish.live_window_s
        recent = [(first, count) for stamp, first, count in self._recent if stamp >= horizon]
        self._live_unsent = sum(count for _, count in recent)
        self._live_since = time.monotonic() if self._live_unsent else None
        return recent[0][0] if recent else last_id + 1

    async def _publish_all(self, client: aiomqtt.Client) -> None:
        inflight: set[asyncio.Task[None]] = set()
        # A failed heartbeat or ack reader fails the connection like a failed batch (see _reap).
        self._beat = asyncio.create_task(self._heartbeat(client), name="heartbeat")
        self._acks = asyncio.create_task(self._receive_acks(client), name="acks")
        try:
            await self._publish_loop(client, inflight)
        finally:
            for helper in (self._beat, self._acks):
                helper.cancel()
            await asyncio.gather(self._beat, self._acks, return_exceptions=True)
            self._beat = self._acks = None
            for task in inflight:
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)

    async def _heartbeat(self, client: aiomqtt.Client) -> None:
        """The retained `online` status again every `heartbeat_s`, with the gateway's figures."""
        while True:
            await asyncio.sleep(self.config.publish.heartbeat_s)
            await self._announce(client, "online")

    async def _receive_acks(self, client: aiomqtt.Client) -> None:
        """Forget each batch the centre confirms; a malformed ack is logged and skipped."""
        async for message in client.messages:
            if self.commands is not None and message.topic.matches(command_topic(self.config.gateway_id)):
                await self._answer(client, bytes(message.payload))  # type: ignore[arg-type]
                continue
            try:
                ack = decode_ack(bytes(message.payload))  # type: ignore[arg-type]
            except ContractError as error:
                log.error("bad_ack", extra={"event": "bad_ack", "topic": str(message.topic), "reason": error.reason})
                continue
            if ack.gateway != self.config.gateway_id:
                log.error("bad_ack", extra={"event": "bad_ack", "reason": f"names gateway {ack.gateway!r}"})
                continue
            self.confirmed_readings += await self.buffer.confirm(ack.seqs)
            for seq in ack.seqs:
                self.unconfirmed.confirmed(seq)
            self._wake.set()

    async def _answer(self, client: aiomqtt.Client, payload: bytes) -> None:
        """Execute a centre's command (edge_agent.commands) and publish its result.

        In line with the acks: a siren's write and read-back take milliseconds, and one
        command at a time is what a relay module on a shared bus can take anyway."""
        assert self.commands is not None
        result = await self.commands.handle(payload, time.time_ns() // 1_000_000)
        if result is not None:
            topic = command_result_topic(self.config.gateway_id)
            await client.publish(topic, encode_command_result(result), qos=1, timeout=PUBACK_TIMEOUT_S)

    async def _resend_overdue(self, client: aiomqtt.Client, inflight: set["asyncio.Task[None]"]) -> None:
        for seq in self.unconfirmed.overdue(time.monotonic()):
            batch = await self.buffer.batch(seq)
            if batch is None:  # confirmed meanwhile
                self.unconfirmed.confirmed(seq)
                continue
            self.resent_batches += 1
            log.warning("batch_unconfirmed", extra={"event": "batch_unconfirmed", "seq": seq, "resending": True})
            await self._launch(client, batch, inflight)

    def _room(self, inflight: set["asyncio.Task[None]"]) -> bool:
        limits = self.config.publish
        out = len(inflight) + len(self.unconfirmed)
        return len(inflight) < limits.max_inflight and out < limits.max_unconfirmed_batches

    async def _publish_loop(self, client: aiomqtt.Client, inflight: set["asyncio.Task[None]"]) -> None:
        limits = self.config.publish
        loop = asyncio.get_running_loop()
        self.unconfirmed.clear()  # a new connection: every sealed batch goes out again now
        for unconfirmed in await self.buffer.sealed():
            await self._reap(inflight, block=len(inflight) >= limits.max_inflight)
            await self._launch(client, unconfirmed, inflight)
        live_from = self._live_from(await self.buffer.last_id())
        backlog_left = True
        tokens, refilled = float(limits.max_batch), loop.time()
        while True:
            await self._reap(inflight, block=len(inflight) >= limits.max_inflight)
            if len(inflight) >= limits.max_inflight:
                continue
            await self._resend_overdue(client, inflight)
            if not self._room(inflight):
                await self._idle(inflight, self._wait_s(tokens, False))
                continue
            now = loop.time()
            tokens = min(tokens + (now - refilled) * limits.backlog_rate_per_s, float(limits.max_batch))
            refilled = now
            batch: SealedBatch | None = None
            if self._live_ready():
                batch = await self.buffer.seal(limits.max_batch, from_id=live_from)
                self._sealed_live(batch)
            if batch is None and backlog_left and (self._finishing or tokens >= limits.max_batch):
                batch = await self.buffer.seal(limits.max_batch, below_id=live_from)
                backlog_left = batch is not None
                if batch is not None:
                    tokens -= len(batch.bodies)
            if batch is not None:
                await self._launch(client, batch, inflight)
                continue
            if self._finishing and not backlog_left and self._live_unsent == 0:
                last = await self.buffer.seal(limits.max_batch)  # anything left anywhere
                if last is not None:
                    await self._launch(client, last, inflight)
                    continue
                await self._reap(inflight, block=True, every=True)
                left_s = self._confirm_deadline - time.monotonic()
                if not self.unconfirmed or left_s <= 0:
                    return
                await self._idle(inflight, min(left_s, self._wait_s(tokens, False) or left_s))
                continue
            await self._idle(inflight, self._wait_s(tokens, backlog_left))

    def _live_ready(self) -> bool:
        if self._live_unsent <= 0:
            return False
        limits = self.config.publish
        if self._finishing or self._live_unsent >= limits.max_batch or self._live_since is None:
            return True
        return time.monotonic() - self._live_since >= limits.max_wait_ms / 1000

    def _sealed_live(self, batch: SealedBatch | None) -> None:
        self._live_unsent = 0 if batch is None else max(self._live_unsent - len(batch.bodies), 0)
        self._live_since = time.monotonic() if self._live_unsent else None

    def _wait_s(self, tokens: float, backlog_left: bool) -> float | None:
        limits = self.config.publish
        waits = []
        if self._live_unsent > 0 and self._live_since is not None:
            waits.append(self._live_since + limits.max_wait_ms / 1000 - time.monotonic())
        if backlog_left:
            waits.append((limits.max_batch - tokens) / limits.backlog_rate_per_s)
        due = self.unconfirmed.next_due()
        if due is not None:
            waits.append(due - time.monotonic())
        return max(min(waits), 0.0) if waits else None

    async def _idle(self, inflight: set["asyncio.Task[None]"], timeout_s: float | None) -> None:
        """Wait for new readings, a finished publish, or the timeout."""
        self._wake.clear()
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            helpers = [task for task in (self._beat, self._acks) if task is not None]
            watched = {waker, *inflight, *helpers}
            await asyncio.wait(watched, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()
        await self._reap(inflight, block=False)

    async def _reap(self, inflight: set["asyncio.Task[None]"], block: bool, every: bool = False) -> None:
        """Collect finished publishes; a failed one raises here (and the connection is redone)."""
        if block and inflight:
            mode = asyncio.ALL_COMPLETED if every else asyncio.FIRST_COMPLETED
            await asyncio.wait(inflight, return_when=mode)
        for task in [t for t in inflight if t.done()]:
            inflight.discard(task)
            task.result()
        for helper in (self._beat, self._acks):
            if helper is not None and helper.done():
                helper.result()

    async def _launch(self, client: aiomqtt.Client, batch: SealedBatch, inflight: set["asyncio.Task[None]"]) -> None:
        task = asyncio.create_task(self._send(client, batch), name=f"publish-{batch.seq}")
        inflight.add(task)

    async def _send(self, client: aiomqtt.Client, batch: SealedBatch) -> None:
        gateway = self.config.gateway_id
        payload, properties = telemetry_message(gateway, batch.seq, batch.bodies, self.config.publish.payload)
        await client.publish(telemetry_topic(gateway), payload, qos=1, properties=properties, timeout=PUBACK_TIMEOUT_S)
        first_time = batch.seq not in self.unconfirmed
        self.unconfirmed.sent(batch.seq, time.monotonic())
        if first_time:
            self.published_readings += len(batch.bodies)

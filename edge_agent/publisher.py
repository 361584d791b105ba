"""Publish the buffered readings to the centre at QoS 1: live first, the backlog behind.

The publisher only ever reads from the disk buffer (`edge_agent.buffer`). A batch
is sealed with a sequence number in the buffer, published, and deleted from the
buffer when the broker's PUBACK arrives (aiomqtt's `publish` awaits it). Up to
`max_inflight` batches await their PUBACK at once.

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

from edge_agent.buffer import AsyncBuffer, SealedBatch
from edge_agent.config import GatewayConfig
from wire_contract import CONTRACT_VERSION, GatewayStatus, encode_status, status_topic, telemetry_topic

log = logging.getLogger(__name__)
BACKOFF_START_S = 0.2
PUBACK_TIMEOUT_S = 10.0

StatusSource = Callable[[Literal["online", "offline"]], Awaitable[GatewayStatus]]


def telemetry_payload(gateway: str, seq: int, bodies: tuple[bytes, ...]) -> bytes:
    """A `TelemetryBatch` as `encode_telemetry` writes it, from readings already encoded in the buffer."""
    head = f'{{"v":{CONTRACT_VERSION},"gateway":"{gateway}","seq":{seq},"readings":['.encode()
    return head + b",".join(bodies) + b"]}"


class Publisher:
    """Sends what the buffer holds until `finish()` was called and the buffer is empty."""

    def __init__(self, config: GatewayConfig, buffer: AsyncBuffer, status: StatusSource | None = None) -> None:
        self.config = config
        self.buffer = buffer
        self.status = status
        self.published_readings = 0
        self.connected = False
        self.reconnections = 0
        self._wake = asyncio.Event()
        self._finishing = False
        self._recent: deque[tuple[float, int, int]] = deque()  # (monotonic, first id, count) of each add
        self._live_unsent = 0
        self._live_since: float | None = None
        self._beat: asyncio.Task[None] | None = None

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

    def finish(self) -> None:
        """No more readings: send everything, without the backlog's rate bound, then return."""
        self._finishing = True
        self._wake.set()

    def _client(self) -> aiomqtt.Client:
        mqtt, gateway = self.config.mqtt, self.config.gateway_id
        offline = encode_status(GatewayStatus(gateway=gateway, state="offline"))
        return aiomqtt.Client(
            mqtt.host,
            mqtt.port,
            username=mqtt.username,
            password=mqtt.password,
            identifier=f"floodwatch-edge-{gateway}",
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
                    await self._announce(client, "online")
                    backoff = BACKOFF_START_S
                    await self._publish_all(client)
                    await self._announce(client, "offline")
                    return
            except aiomqtt.MqttError as error:
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
        # A failed heartbeat fails the connection like a failed batch (see _reap).
        self._beat = asyncio.create_task(self._heartbeat(client), name="heartbeat")
        try:
            await self._publish_loop(client, inflight)
        finally:
            self._beat.cancel()
            await asyncio.gather(self._beat, return_exceptions=True)
            self._beat = None
            for task in inflight:
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)

    async def _heartbeat(self, client: aiomqtt.Client) -> None:
        """The retained `online` status again every `heartbeat_s`, with the gateway's figures."""
        while True:
            await asyncio.sleep(self.config.publish.heartbeat_s)
            await self._announce(client, "online")

    async def _publish_loop(self, client: aiomqtt.Client, inflight: set["asyncio.Task[None]"]) -> None:
        limits = self.config.publish
        loop = asyncio.get_running_loop()
        for unacknowledged in await self.buffer.sealed():
            await self._launch(client, unacknowledged, inflight)
        live_from = self._live_from(await self.buffer.last_id())
        backlog_left = True
        tokens, refilled = float(limits.max_batch), loop.time()
        while True:
            await self._reap(inflight, block=len(inflight) >= limits.max_inflight)
            if len(inflight) >= limits.max_inflight:
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
                if last is None:
                    await self._reap(inflight, block=True, every=True)
                    return
                await self._launch(client, last, inflight)
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
        return max(min(waits), 0.0) if waits else None

    async def _idle(self, inflight: set["asyncio.Task[None]"], timeout_s: float | None) -> None:
        """Wait for new readings, a finished publish, or the timeout."""
        self._wake.clear()
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            watched = {waker, *inflight, *([self._beat] if self._beat is not None else [])}
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
        if self._beat is not None and self._beat.done():
            self._beat.result()

    async def _launch(self, client: aiomqtt.Client, batch: SealedBatch, inflight: set["asyncio.Task[None]"]) -> None:
        task = asyncio.create_task(self._send(client, batch), name=f"publish-{batch.seq}")
        inflight.add(task)

    async def _send(self, client: aiomqtt.Client, batch: SealedBatch) -> None:
        payload = telemetry_payload(self.config.gateway_id, batch.seq, batch.bodies)
        await client.publish(telemetry_topic(self.config.gateway_id), payload, qos=1, timeout=PUBACK_TIMEOUT_S)
        await self.buffer.ack(batch.seq)
        self.published_readings += len(batch.bodies)

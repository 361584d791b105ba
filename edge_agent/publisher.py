"""Publish readings to the centre at QoS 1, one batch at a time, in order.

A batch counts as delivered when the broker's PUBACK arrives (aiomqtt's
`publish` awaits it). While the broker is unreachable, batches wait in memory
and go out, oldest first, once the connection is back.
"""

import asyncio
import logging
import random
import time
from collections import deque
from typing import Literal

import aiomqtt

from edge_agent.config import GatewayConfig
from wire_contract import (
    GatewayStatus,
    Reading,
    TelemetryBatch,
    encode_status,
    encode_telemetry,
    status_topic,
    telemetry_topic,
)

log = logging.getLogger(__name__)
BACKOFF_START_S = 0.2
BACKOFF_MAX_S = 30.0
PUBACK_TIMEOUT_S = 10.0


class Publisher:
    """Sends batches until the readings queue yields `None` (no more readings) and all are acknowledged."""

    def __init__(self, config: GatewayConfig, readings: "asyncio.Queue[Reading | None]") -> None:
        self.config = config
        self.readings = readings
        self.pending: deque[TelemetryBatch] = deque()
        self.published_readings = 0
        self._gathering: list[Reading] = []  # on the instance, so a cancel loses nothing
        self._no_more_readings = False
        self._next_seq = 0

    @property
    def unsent_readings(self) -> int:
        return sum(len(b.readings) for b in self.pending) + len(self._gathering) + self.readings.qsize()

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
        """Publish, reconnecting with jittered, capped backoff, until every reading is acknowledged."""
        backoff = BACKOFF_START_S
        while True:
            try:
                async with self._client() as client:
                    await self._announce(client, "online")
                    backoff = BACKOFF_START_S
                    await self._publish_all(client)
                    await self._announce(client, "offline")
                    return
            except aiomqtt.MqttError as error:
                log.warning(
                    "mqtt_disconnected",
                    extra={
                        "event": "mqtt_disconnected",
                        "reason": str(error),
                        "retry_in_s": round(backoff, 2),
                        "unsent_readings": self.unsent_readings,
                    },
                )
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _announce(self, client: aiomqtt.Client, state: Literal["online", "offline"]) -> None:
        status = GatewayStatus(gateway=self.config.gateway_id, state=state, ts_ms=time.time_ns() // 1_000_000)
        await client.publish(status_topic(self.config.gateway_id), encode_status(status), qos=1, retain=True)

    async def _publish_all(self, client: aiomqtt.Client) -> None:
        topic = telemetry_topic(self.config.gateway_id)
        while True:
            if not self.pending:
                await self._gather()
                if not self._gathering:
                    return
                self._seal_batch()
            batch = self.pending[0]
            await client.publish(topic, encode_telemetry(batch), qos=1, timeout=PUBACK_TIMEOUT_S)
            self.pending.popleft()
            self.published_readings += len(batch.readings)

    async def _take(self, timeout_s: float | None) -> bool:
        """Move one reading into the batch being gathered; False when there is none to wait for."""
        if self._no_more_readings:
            return False
        try:
            reading = await asyncio.wait_for(self.readings.get(), timeout_s)
        except TimeoutError:
            return False
        if reading is None:
            self._no_more_readings = True
            return False
        self._gathering.append(reading)
        return True

    async def _gather(self) -> None:
        """Wait for one reading, then gather more for at most max_wait_ms."""
        limits = self.config.publish
        if not self._gathering and not await self._take(None):
            return
        deadline = asyncio.get_running_loop().time() + limits.max_wait_ms / 1000
        while len(self._gathering) < limits.max_batch:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or not await self._take(remaining):
                break

    def _seal_batch(self) -> None:
        batch = TelemetryBatch(gateway=self.config.gateway_id, seq=self._next_seq, readings=tuple(self._gathering))
        self.pending.append(batch)
        self._gathering = []
        self._next_seq += 1

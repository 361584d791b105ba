"""A gateway's real store-and-forward path fed with numbered readings instead of a Modbus poll.

`BufferedGateway` runs the edge agent's own `DiskBuffer` and `Publisher` (live first,
backlog rate, PUBACK, end-to-end confirmation, resend) on an event loop in a thread
of its own, and stores `readings_per_tick` water levels every `tick_s`. Every reading
has its own time and a value derived from its number, so a test can say exactly which
readings reached InfluxDB: the fault tests of the centre use it where a Modbus poll
would only blur the count (a poll in flight at a kill).
"""

import asyncio
import contextlib
import threading
import time
from pathlib import Path

from devstack.services import Mosquitto
from edge_agent.buffer import AsyncBuffer, DiskBuffer, Row
from edge_agent.config import GatewayConfig
from edge_agent.publisher import Publisher
from wire_contract import Quality, Reading

T0_MS = 1_600_000_000_000  # 2020-09-13: inside any sane retention, far from now


class BufferedGateway:
    def __init__(
        self,
        gateway: str,
        broker: Mosquitto,
        buffer_path: Path,
        *,
        readings_per_tick: int = 20,
        tick_s: float = 0.05,
        publish: dict[str, float | int] | None = None,
        wall_clock: bool = False,
    ) -> None:
        self.gateway = gateway
        self.readings_per_tick = readings_per_tick
        self.wall_clock = wall_clock  # stamp readings with the wall clock (latency benchmarks), not T0 + number
        self.tick_s = tick_s
        publish_settings = {"max_batch": 100, "max_wait_ms": 50, "confirm_timeout_s": 2, "confirm_timeout_max_s": 4}
        self.config = GatewayConfig.model_validate(
            {
                "gateway_id": gateway,
                "mqtt": broker.gateway_mqtt(gateway) | {"keepalive_s": 5, "reconnect_max_s": 0.5},
                "publish": publish_settings | (publish or {}),
                "buffer": {"path": str(buffer_path), "synchronous": "normal"},
                "devices": [
                    {
                        "name": "feed",
                        "profile": "river_level_radar",
                        "station": "feed",
                        "transport": {"kind": "tcp", "host": "127.0.0.1"},
                        "sensors": {"level": f"{gateway}.level"},
                    }
                ],
            }
        )
        self.buffer = AsyncBuffer(DiskBuffer(buffer_path, 256 * 1024 * 1024, 0, "normal"))
        self.publisher = Publisher(self.config, self.buffer)
        self.produced = 0
        self._feeding = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=f"gateway-{gateway}", daemon=True)
        self._ready = threading.Event()

    def reading(self, number: int) -> Reading:
        return Reading(
            sensor=f"{self.gateway}.level",
            station=self.gateway,
            quantity="water_level",
            value=self.value(number),
            unit="m",
            ts_ms=time.time_ns() // 1_000_000 if self.wall_clock else T0_MS + number,
            quality=Quality.good,
        )

    @staticmethod
    def value(number: int) -> float:
        return (number % 1000) / 100

    def start(self) -> "BufferedGateway":
        self._feeding.set()
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"gateway {self.gateway} did not start")
        return self

    def stop_feeding(self) -> None:
        self._feeding.clear()

    def close(self, timeout_s: float = 20) -> None:
        self._feeding.clear()
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)

    @property
    def depth(self) -> int:
        """Readings on the gateway's disk: not yet confirmed stored by the centre."""
        return self.buffer.depth

    @property
    def unconfirmed_batches(self) -> int:
        return len(self.publisher.unconfirmed)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        await self.buffer.open()
        publishing = asyncio.create_task(self.publisher.run())
        self._ready.set()
        while not self._stop.is_set():
            if self._feeding.is_set():
                await self._store_tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.tick_s)
        self.publisher.finish(confirm_wait_s=10)
        await asyncio.wait_for(publishing, 30)
        await self.buffer.close()

    async def _store_tick(self) -> None:
        first = self.produced
        readings = [self.reading(n) for n in range(first, first + self.readings_per_tick)]
        rows = [Row(5, r.ts_ms, r.model_dump_json().encode()) for r in readings]
        last_id = await self.buffer.add(rows)
        self.produced += len(rows)
        self.publisher.notify(last_id, len(rows))

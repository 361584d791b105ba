"""The gateway service: one poll loop per device feeding one publisher."""

import asyncio
import contextlib
import logging
import time

from edge_agent.config import Device, GatewayConfig
from edge_agent.poller import DevicePoller
from edge_agent.publisher import Publisher
from hardware_specs import Profile
from wire_contract import Reading

log = logging.getLogger(__name__)


class Agent:
    def __init__(self, config: GatewayConfig, profiles: dict[str, Profile]) -> None:
        self.config = config
        self.readings: asyncio.Queue[Reading | None] = asyncio.Queue()
        self.pollers = [DevicePoller(d, profiles[d.profile]) for d in config.devices]
        self.publisher = Publisher(config, self.readings)

    async def run(self, stop: asyncio.Event, flush_timeout_s: float = 10.0) -> None:
        """Poll and publish until `stop` is set, then publish what was read and return."""
        log.info(
            "agent_started",
            extra={"event": "agent_started", "gateway": self.config.gateway_id, "devices": len(self.pollers)},
        )
        publishing = asyncio.create_task(self.publisher.run(), name="publish")
        polls = [asyncio.create_task(self._poll_loop(p, stop), name=f"poll-{p.device.name}") for p in self.pollers]
        await asyncio.gather(*polls)
        for poller in self.pollers:
            await poller.close()
        self.readings.put_nowait(None)
        try:
            await asyncio.wait_for(publishing, flush_timeout_s)
        except TimeoutError:
            log.error(
                "flush_timeout",
                extra={"event": "flush_timeout", "unsent_readings": self.publisher.unsent_readings},
            )
        log.info(
            "agent_stopped",
            extra={"event": "agent_stopped", "published_readings": self.publisher.published_readings},
        )

    async def _poll_loop(self, poller: DevicePoller, stop: asyncio.Event) -> None:
        device: Device = poller.device
        next_due = time.monotonic()
        while not stop.is_set():
            for reading in await poller.poll():
                self.readings.put_nowait(reading)
            next_due += device.poll_s
            now = time.monotonic()
            if next_due < now:  # a slow bus: skip the missed periods rather than burst
                next_due = now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), next_due - now)

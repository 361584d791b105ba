"""The gateway service: poll loops store every reading on disk; the publisher forwards them."""

import asyncio
import contextlib
import logging
import time
from typing import Literal

from edge_agent import health
from edge_agent.buffer import AsyncBuffer, DiskBuffer, Row
from edge_agent.bus import BusDevice, SerialBus
from edge_agent.clock import GatewayClock
from edge_agent.config import Device, GatewayConfig, NodeTransport, SerialTransport, line_settings
from edge_agent.counters import Counters
from edge_agent.node_poller import NodePoller
from edge_agent.poller import DevicePoller, RtuReader
from edge_agent.publisher import Publisher
from edge_agent.rtu import SerialLine
from hardware_specs import Profile
from wire_contract import GatewayStatus, Reading

log = logging.getLogger(__name__)
MB = 1024 * 1024


def buffer_for(config: GatewayConfig) -> DiskBuffer:
    limits = config.buffer
    # An in-memory buffer starts a new process's sequence numbers from the clock, so
    # they still grow across restarts; a file keeps its counter.
    first_seq = 0 if limits.path is not None else time.time_ns() // 1_000_000
    return DiskBuffer(
        limits.path, int(limits.max_mb * MB), int(limits.min_free_disk_mb * MB), limits.synchronous, first_seq
    )


def make_pollers(
    config: GatewayConfig,
    profiles: dict[str, Profile],
    counters: Counters | None = None,
    clock: GatewayClock | None = None,
) -> tuple[list[DevicePoller | NodePoller], list[SerialBus]]:
    """One poller per device; the devices on one serial port share one `SerialBus`."""
    counters = counters if counters is not None else Counters()
    clock = clock if clock is not None else GatewayClock()
    buses: dict[str, SerialBus] = {}
    pollers: list[DevicePoller | NodePoller] = []
    for device in config.devices:
        profile = profiles[device.profile]
        transport = device.transport
        if isinstance(transport, NodeTransport):
            pollers.append(NodePoller(device, profile, counters, clock))
            continue
        if not isinstance(transport, SerialTransport):
            pollers.append(DevicePoller(device, profile, counters=counters, clock=clock))
            continue
        bus = buses.get(transport.port)
        if bus is None:
            line = line_settings(device, profile)
            serial_line = SerialLine(transport.port, line.baud, line.parity, line.stop_bits, line.byte_size)
            bus = buses[transport.port] = SerialBus(
                serial_line, config.bus.quarantine_after, config.bus.quarantine_max_s
            )
        priority = device.priority if device.priority is not None else profile.priority
        bus_device = BusDevice(
            device.name, device.unit_id, priority, device.timeout_ms / 1000, device.retries, device.poll_s
        )
        pollers.append(DevicePoller(device, profile, RtuReader(bus_device, bus), counters, clock))
    return pollers, list(buses.values())


class Agent:
    def __init__(self, config: GatewayConfig, profiles: dict[str, Profile]) -> None:
        self.config = config
        self.counters = Counters()
        self.clock = GatewayClock()
        self.pollers, self.buses = make_pollers(config, profiles, self.counters, self.clock)
        self.priorities = {
            d.name: d.priority if d.priority is not None else profiles[d.profile].priority for d in config.devices
        }
        self.buffer = AsyncBuffer(buffer_for(config))
        self.publisher = Publisher(config, self.buffer, self.status)
        self.stored_readings = 0
        self._started = time.monotonic()

    async def status(self, state: Literal["online", "offline"]) -> GatewayStatus:
        """The retained status with the heartbeat's figures."""
        stats = await self.buffer.stats()
        errors = {p.device.name: p.errors for p in self.pollers}
        return GatewayStatus(
            gateway=self.config.gateway_id,
            state=state,
            ts_ms=self.clock.stamp()[0],
            uptime_s=round(time.monotonic() - self._started, 1),
            cpu_temp_c=health.cpu_temp_c(),
            load_1m=health.load_1m(),
            disk_free_mb=health.disk_free_mb(self.config.buffer.path),
            buffer_depth=stats.depth,
            oldest_unsent_age_s=health.age_s(stats.oldest_unsent_ts_ms),
            unconfirmed_readings=stats.unconfirmed,
            oldest_unconfirmed_age_s=self.publisher.unconfirmed.oldest_age_s(time.monotonic()),
            dropped_readings={str(p): n for p, n in stats.drops.items()},
            device_errors=errors,
            clock_synced=self.clock.synced,
            clock_problem=self.clock.problem,
        )

    async def run(self, stop: asyncio.Event, flush_timeout_s: float = 10.0) -> None:
        """Poll and publish until `stop` is set, then publish what is buffered and return."""
        await self.buffer.open()
        self.counters.states.update(await self.buffer.counters())
        self.clock.raise_floor(await self.buffer.newest_ts_ms())
        log.info(
            "agent_started",
            extra={
                "event": "agent_started",
                "gateway": self.config.gateway_id,
                "devices": len(self.pollers),
                "buffer": str(self.config.buffer.path or ":memory:"),
                "buffered_readings": self.buffer.depth,
            },
        )
        if self.config.buffer.path is None:
            log.warning("buffer_in_memory", extra={"event": "buffer_in_memory", "hint": "set buffer.path"})
        publishing = asyncio.create_task(self.publisher.run(), name="publish")
        polls = [asyncio.create_task(self._poll_loop(p, stop), name=f"poll-{p.device.name}") for p in self.pollers]
        await asyncio.gather(*polls)
        for poller in self.pollers:
            await poller.close()
        for bus in self.buses:
            await bus.close()
        self.publisher.finish(confirm_wait_s=flush_timeout_s / 2)
        try:
            await asyncio.wait_for(publishing, flush_timeout_s)
        except TimeoutError:
            log.error(
                "flush_timeout",
                extra={"event": "flush_timeout", "unsent_readings": self.publisher.unsent_readings},
            )
        await self.buffer.close()
        log.info(
            "agent_stopped",
            extra={
                "event": "agent_stopped",
                "published_readings": self.publisher.published_readings,
                "unsent_readings": self.publisher.unsent_readings,
            },
        )

    async def store(self, device: Device, readings: list[Reading]) -> None:
        """On disk first (one transaction), then tell the publisher."""
        if not readings:
            return
        priority = self.priorities[device.name]
        rows = [Row(priority, r.ts_ms, r.model_dump_json().encode()) for r in readings]
        last_id = await self.buffer.add(rows, self.counters.take_dirty())
        self.stored_readings += len(rows)
        self.publisher.notify(last_id, len(rows))

    async def _poll_loop(self, poller: DevicePoller | NodePoller, stop: asyncio.Event) -> None:
        device: Device = poller.device
        next_due = time.monotonic()
        while not stop.is_set():
            await self.store(device, await poller.poll())
            next_due += device.poll_s
            now = time.monotonic()
            if next_due < now:  # a slow bus: skip the missed periods rather than burst
                next_due = now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), next_due - now)

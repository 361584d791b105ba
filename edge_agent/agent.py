"""The gateway service: poll loops store every reading on disk; the publisher forwards them.

Every poll loop, bus worker and the publisher run under one `Supervisor`: a task that
fails is logged, shown in the heartbeat (`tasks`) and restarted with backoff. The
event loop pings systemd's watchdog. On SIGTERM the poll loops get `stop_grace_s` to
finish the poll in hand and are then cancelled; the publisher gets `flush_timeout_s`
to send what is buffered; what is left stays on disk.
"""

import asyncio
import contextlib
import functools
import logging
import time
from typing import Literal

from edge_agent import health
from edge_agent.buffer import AsyncBuffer, DiskBuffer, Row
from edge_agent.bus import BusDevice, SerialBus
from edge_agent.clock import GatewayClock
from edge_agent.config import Device, GatewayConfig, NodeTransport, SerialTransport, bus_key, line_settings
from edge_agent.counters import Counters
from edge_agent.node_poller import NodePoller
from edge_agent.poller import DevicePoller, RtuReader
from edge_agent.publisher import Publisher
from edge_agent.rtu import SerialLine
from edge_agent.supervisor import Supervisor
from edge_agent.watchdog import Notifier
from hardware_specs import Profile
from wire_contract import GatewayStatus, Reading

log = logging.getLogger(__name__)
MB = 1024 * 1024


def buffer_for(config: GatewayConfig) -> DiskBuffer:
    limits = config.buffer
    # An in-memory buffer starts a new process's sequence numbers from the clock, so
    # they still grow across restarts; a file keeps its counter.
    first_seq = 0 if limits.file is not None else time.time_ns() // 1_000_000
    return DiskBuffer(
        limits.file, int(limits.max_mb * MB), int(limits.min_free_disk_mb * MB), limits.synchronous, first_seq
    )


def make_pollers(
    config: GatewayConfig,
    profiles: dict[str, Profile],
    counters: Counters | None = None,
    clock: GatewayClock | None = None,
    supervisor: Supervisor | None = None,
) -> tuple[list[DevicePoller | NodePoller], list[SerialBus]]:
    """One poller per device; the devices on one serial port share one `SerialBus`."""
    counters = counters if counters is not None else Counters()
    clock = clock if clock is not None else GatewayClock()
    supervisor = supervisor if supervisor is not None else Supervisor()
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
        bus = buses.get(bus_key(transport))
        if bus is None:
            line = line_settings(device, profile)
            serial_line = SerialLine(transport.port, line.baud, line.parity, line.stop_bits, line.byte_size)
            bus = buses[bus_key(transport)] = SerialBus(
                serial_line, config.bus.quarantine_after, config.bus.quarantine_max_s, supervisor
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
        self.supervisor = Supervisor()
        self.notifier = Notifier()
        self.pollers, self.buses = make_pollers(config, profiles, self.counters, self.clock, self.supervisor)
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
        now = time.monotonic()
        devices = {
            p.device.name: p.device_status(
                now, isinstance(p, DevicePoller) and isinstance(p.reader, RtuReader) and p.reader.quarantined()
            )
            for p in self.pollers
        }
        return GatewayStatus(
            gateway=self.config.gateway_id,
            state=state,
            ts_ms=self.clock.stamp()[0],
            uptime_s=round(time.monotonic() - self._started, 1),
            cpu_temp_c=health.cpu_temp_c(),
            load_1m=health.load_1m(),
            disk_free_mb=health.disk_free_mb(self.config.buffer.file),
            buffer_depth=stats.depth,
            oldest_unsent_age_s=health.age_s(stats.oldest_unsent_ts_ms),
            unconfirmed_readings=stats.unconfirmed,
            oldest_unconfirmed_age_s=self.publisher.unconfirmed.oldest_age_s(time.monotonic()),
            dropped_readings={str(p): n for p, n in stats.drops.items()},
            device_errors=errors,
            devices=devices,
            tasks=self.supervisor.status(),
            clock_synced=self.clock.synced,
            clock_problem=self.clock.problem,
        )

    async def run(self, stop: asyncio.Event, flush_timeout_s: float = 10.0, stop_grace_s: float = 5.0) -> None:
        """Poll and publish until `stop` is set, then publish what is buffered and return.

        Returns within about `stop_grace_s + flush_timeout_s` of `stop` being set.
        """
        await self.buffer.open()
        self.counters.states.update(await self.buffer.counters())
        self.clock.raise_floor(await self.buffer.newest_ts_ms())
        log.info(
            "agent_started",
            extra={
                "event": "agent_started",
                "gateway": self.config.gateway_id,
                "devices": len(self.pollers),
                "buffer": str(self.config.buffer.file or ":memory:"),
                "buffered_readings": self.buffer.depth,
            },
        )
        if self.config.buffer.file is None:
            log.warning("buffer_in_memory", extra={"event": "buffer_in_memory", "hint": "drop buffer.in_memory"})
        publishing = self.supervisor.start("publisher", self.publisher.run)
        polls = [
            self.supervisor.start(f"poll-{p.device.name}", functools.partial(self._poll_loop, p, stop))
            for p in self.pollers
        ]
        watchdog = asyncio.create_task(self._watchdog(), name="watchdog")
        self.notifier.ready()
        await stop.wait()
        self.notifier.stopping()
        _, late = await asyncio.wait(polls, timeout=stop_grace_s)
        for poll in late:  # a poll still waiting on its device or bus: its readings are not taken
            poll.cancel()
        await asyncio.gather(*polls, return_exceptions=True)
        if late:
            log.warning("polls_cancelled", extra={"event": "polls_cancelled", "devices": len(late)})
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
        watchdog.cancel()
        await asyncio.gather(watchdog, return_exceptions=True)
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

    async def _watchdog(self) -> None:
        """Ping systemd from the event loop: a wedged loop stops pinging and is restarted."""
        interval = self.notifier.ping_interval_s
        if interval is None:
            return
        while True:
            self.notifier.ping()
            await asyncio.sleep(interval)

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

"""Poll one microcontroller node (transport `{kind: node}`, firmware_bridge/PROTOCOL.md) into
readings, through the same path as a Modbus device: the same qualities, counters and
disk buffer, and `errors` in the status heartbeat.

A channel's value is the node's `raw × 10^scale`. Its quality: `read_failure` when the
node does not answer, does not send the channel, or flags it `sensor_fault`;
`out_of_range` when the node flags it so or it lies outside the profile's valid range;
else `good`. A counter channel (a rain gauge's total since the node booted) goes through
the gateway's counters, so a node reset does not make rain fall twice.

The link opens at the first poll (IDENTIFY, then TIME_SYNC when the gateway's clock is
synced) and again after a failure. A node that reboots says HELLO; its clock is set again.
"""

import logging
import time

from edge_agent.clock import GatewayClock
from edge_agent.config import Device, NodeTransport
from edge_agent.counters import Counters
from firmware_bridge import Hello, LinkError, NodeLink, Readings, ReadingStatus
from firmware_bridge import Reading as NodeReading
from firmware_bridge.messages import Error, ErrorCode, Heartbeat, decimal_value
from hardware_specs import Profile, Register
from wire_contract import Quality, Reading

log = logging.getLogger(__name__)
COUNTER_MODULUS = 1 << 32


class NodePoller:
    """One node on its own port; `poll()` sends one POLL and maps its channels to sensors."""

    def __init__(
        self,
        device: Device,
        profile: Profile,
        counters: Counters | None = None,
        clock: GatewayClock | None = None,
    ) -> None:
        assert isinstance(device.transport, NodeTransport)
        self.device = device
        self.transport = device.transport
        self.counters = counters if counters is not None else Counters()
        self.clock = clock if clock is not None else GatewayClock()
        self.slots = [(sensor, profile.register(name)) for name, sensor in device.sensors.items()]
        self.errors = 0
        self.hello: Hello | None = None
        self.last_heartbeat: Heartbeat | None = None
        self._link: NodeLink | None = None
        self._failing = False

    async def close(self) -> None:
        if self._link is not None:
            link, self._link = self._link, None
            await link.__aexit__(None, None, None)

    async def _connected(self) -> NodeLink:
        if self._link is None:
            link = NodeLink(
                self.transport.port, self.transport.baud, self.device.timeout_ms / 1000, self.device.retries
            )
            await link.__aenter__()
            self._link = link
            self.hello = await link.identify()
            log.info(
                "node_connected",
                extra={
                    "event": "node_connected",
                    "device": self.device.name,
                    "model": self.hello.model,
                    "serial": self.hello.serial,
                    "firmware": self.hello.firmware_text,
                    "image_state": self.hello.image_state.name.lower(),
                },
            )
            await self._sync_clock(link)
        return self._link

    async def _sync_clock(self, link: NodeLink) -> None:
        if self.clock.synced:
            await link.time_sync(int(time.time() * 1000))

    async def poll(self) -> list[Reading]:
        try:
            link = await self._connected()
            await self._take_unsolicited(link)
            answer = await link.poll()
        except (LinkError, OSError) as error:
            self._note_failure(str(error))
            await self.close()
            ts_ms, synced = self.clock.stamp()
            return [
                self._reading(sensor, register, None, Quality.read_failure, ts_ms, synced)
                for sensor, register in self.slots
            ]
        if self._failing:
            log.info("device_recovered", extra={"event": "device_recovered", "device": self.device.name})
            self._failing = False
        ts_ms, synced = self.clock.stamp()  # at the answer's arrival
        return self._readings(answer, ts_ms, synced)

    async def _take_unsolicited(self, link: NodeLink) -> None:
        for _, message in link.drain_unsolicited():
            if isinstance(message, Hello):  # the node rebooted: its clock starts again
                self.hello = message
                log.warning(
                    "node_rebooted",
                    extra={
                        "event": "node_rebooted",
                        "device": self.device.name,
                        "boot_reason": message.boot_reason.name.lower(),
                        "firmware": message.firmware_text,
                    },
                )
                await self._sync_clock(link)
            elif isinstance(message, Heartbeat):
                self.last_heartbeat = message
            elif isinstance(message, Error) and message.code == ErrorCode.SENSOR_FAULT:
                log.warning(
                    "node_sensor_fault",
                    extra={"event": "node_sensor_fault", "device": self.device.name, "channel": message.detail},
                )

    def _readings(self, answer: Readings, ts_ms: int, synced: bool) -> list[Reading]:
        by_channel = {r.channel: r for r in answer.readings}
        readings = []
        for sensor, register in self.slots:
            channel = by_channel.get(register.address)
            if channel is None or channel.status & ReadingStatus.SENSOR_FAULT:
                readings.append(self._reading(sensor, register, None, Quality.read_failure, ts_ms, synced))
                continue
            value = self._value(sensor, register, channel)
            out = channel.status & ReadingStatus.OUT_OF_RANGE or not register.valid_min <= value <= register.valid_max
            quality = Quality.out_of_range if out else Quality.good
            readings.append(self._reading(sensor, register, value, quality, ts_ms, synced))
        return readings

    def _value(self, sensor: str, register: Register, channel: NodeReading) -> float:
        if not register.counter:
            value = channel.value
            assert value is not None  # not a sensor fault
            return value
        total, grown = self.counters.update(sensor, channel.raw % COUNTER_MODULUS, COUNTER_MODULUS)
        number = grown if register.counter_reports == "increment" else total
        return decimal_value(number, channel.scale)

    def _note_failure(self, reason: str) -> None:
        self.errors += 1
        level = logging.DEBUG if self._failing else logging.WARNING
        log.log(level, "read_failure", extra={"event": "read_failure", "device": self.device.name, "reason": reason})
        self._failing = True

    def _reading(
        self, sensor: str, register: Register, value: float | None, quality: Quality, ts_ms: int, synced: bool
    ) -> Reading:
        return Reading(
            sensor=sensor,
            station=self.device.station,
            quantity=register.quantity,
            value=value,
            unit=register.unit,
            ts_ms=ts_ms,
            quality=quality,
            clock_synced=synced,
        )

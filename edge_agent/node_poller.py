"""Poll one microcontroller node (transport `{kind: node}`, firmware_bridge/PROTOCOL.md) into
readings, through the same path as a Modbus device: the same qualities, counters and
disk buffer, and `errors` in the status heartbeat.

A channel's value is the node's `raw × 10^scale`. Its quality: `read_failure` when the
node does not answer (reason `timeout`, or the port's fault), does not send the channel
(`decode_error`), or flags it `sensor_fault` (reason `sensor_fault`);
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
from edge_agent.failures import classify, describe
from edge_agent.poller import health_status
from firmware_bridge import Hello, LinkError, NodeLink, NodeTimeout, Readings, ReadingStatus
from firmware_bridge import Reading as NodeReading
from firmware_bridge.messages import Error, ErrorCode, Heartbeat, decimal_value
from hardware_specs import Profile, Register
from wire_contract import DeviceStatus, FailureReason, Quality, Reading

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
        self.last_good_at: float | None = None  # monotonic time of the last answer
        self.last_attempt_at = time.monotonic()  # of the last poll that ended, well or not
        self.last_error: FailureReason | None = None
        self.last_error_detail: str | None = None
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
            reason, detail = _reason(error), describe(error)
            self._note_failure(reason, detail)
            await self.close()
            ts_ms, synced = self.clock.stamp()  # when the gateway gave up
            return [
                self._reading(sensor, register, None, Quality.read_failure, ts_ms, synced, reason)
                for sensor, register in self.slots
            ]
        finally:
            self.last_attempt_at = time.monotonic()
        ts_ms, synced = self.clock.stamp()  # at the answer's arrival
        if self._failing:
            log.info("device_recovered", extra={"event": "device_recovered", "device": self.device.name})
            self._failing = False
        self.last_good_at = time.monotonic()
        return self._readings(answer, ts_ms, synced)

    def device_status(self, now: float, quarantined: bool = False) -> DeviceStatus:
        """What the heartbeat shows of this node at monotonic time `now` (a node has its port to
        itself: it is never quarantined by a bus)."""
        return health_status(self, now, quarantined=False)

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
                reason = FailureReason.decode_error if channel is None else FailureReason.sensor_fault
                readings.append(self._reading(sensor, register, None, Quality.read_failure, ts_ms, synced, reason))
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

    def _note_failure(self, reason: FailureReason, detail: str) -> None:
        self.errors += 1
        level = logging.WARNING if not self._failing or reason is not self.last_error else logging.DEBUG
        log.log(
            level,
            "read_failure",
            extra={"event": "read_failure", "device": self.device.name, "reason": reason.value, "detail": detail},
        )
        self.last_error, self.last_error_detail = reason, detail
        self._failing = True

    def _reading(
        self,
        sensor: str,
        register: Register,
        value: float | None,
        quality: Quality,
        ts_ms: int,
        synced: bool,
        reason: FailureReason | None = None,
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
            reason=reason,
        )


def _reason(error: BaseException) -> FailureReason:
    """The contract's reason for a failed poll: no answer is `timeout`; a port that could not
    be opened or failed says why (through the port's own error)."""
    if isinstance(error, NodeTimeout):
        return FailureReason.timeout
    cause = error.__cause__
    if isinstance(error, LinkError) and cause is not None:
        return classify(cause)
    if isinstance(error, LinkError):
        return FailureReason.port_error if "port failed" in str(error) else FailureReason.internal_error
    return classify(error)

"""Poll one Modbus device (TCP, or RTU through its port's `SerialBus`) into readings with a quality.

A read failure (timeout, Modbus exception, lost connection) becomes readings of
quality `read_failure` for the registers of that request; it never stops the agent.
A value outside the profile's valid range is published as `out_of_range`.
"""

import asyncio
import contextlib
import logging
import struct
from typing import Protocol

from edge_agent.bus import BusDevice, SerialBus, TransportError
from edge_agent.clock import GatewayClock
from edge_agent.config import Device, TcpTransport
from edge_agent.counters import Counters
from edge_agent.decode import DecodeError, engineering_value, scaled, words_to_number
from edge_agent.plan import ReadRequest, Slot, plan_requests
from edge_agent.rtu import READ_FUNCTIONS
from hardware_specs import Profile
from wire_contract import Quality, Reading

log = logging.getLogger(__name__)


class ReadFailure(Exception):
    def __init__(self, device: str, request: ReadRequest, reason: str) -> None:
        super().__init__(f"device {device!r}: read {request.table} {request.address}+{request.count} failed: {reason}")
        self.device = device
        self.reason = reason


class RegisterReader(Protocol):
    async def read(self, table: str, address: int, count: int) -> list[int]: ...

    async def close(self) -> None: ...


class TcpReader:
    """Modbus TCP to one device: one connection, one request at a time, reconnected after a failure.

    MBAP frame: [transaction id][protocol 0][length][unit] then the PDU, all big-endian.
    A timeout or a reply to another transaction drops the connection, so a late answer
    can never pass for the next one.
    """

    def __init__(self, host: str, port: int, unit_id: int, timeout_s: float, retries: int = 0) -> None:
        self.host = host
        self.port = port
        self.unit_id = unit_id
        self.timeout_s = timeout_s
        self.retries = retries
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._tid = 0

    @classmethod
    def for_device(cls, device: Device) -> "TcpReader":
        assert isinstance(device.transport, TcpTransport)
        transport = device.transport
        return cls(transport.host, transport.port, device.unit_id, device.timeout_ms / 1000, device.retries)

    @classmethod
    def for_address(cls, host: str, port: int, unit_id: int, timeout_s: float) -> "TcpReader":
        return cls(host, port, unit_id, timeout_s)

    async def read(self, table: str, address: int, count: int) -> list[int]:
        reason = ""
        for _ in range(self.retries + 1):
            try:
                async with asyncio.timeout(self.timeout_s):
                    return await self._transact(READ_FUNCTIONS[table], address, count)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, _Desync) as error:
                await self.close()
                reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        raise TransportError(reason)

    async def _transact(self, function: int, address: int, count: int) -> list[int]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        self._tid = (self._tid + 1) & 0xFFFF
        writer.write(struct.pack(">HHHBBHH", self._tid, 0, 6, self.unit_id, function, address, count))
        tid, _, length, _ = struct.unpack(">HHHB", await reader.readexactly(7))
        body = await reader.readexactly(length - 1)
        if tid != self._tid:
            raise _Desync(f"reply to transaction {tid}, not {self._tid}")
        if body[0] == function | 0x80:
            raise TransportError(f"Modbus exception code {body[1]}")
        if body[0] != function or body[1] != 2 * count or len(body) < 2 + 2 * count:
            raise TransportError(f"short response of {body[1] // 2} registers")
        return list(struct.unpack(f">{count}H", body[2 : 2 + 2 * count]))

    async def close(self) -> None:
        if self._streams is not None:
            _, writer = self._streams
            self._streams = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class _Desync(Exception):
    pass


class RtuReader:
    """A device on a shared serial bus: its reads queue on the port's scheduler."""

    def __init__(self, device: BusDevice, bus: SerialBus) -> None:
        self.device = device
        self.bus = bus

    async def read(self, table: str, address: int, count: int) -> list[int]:
        return await self.bus.read(self.device, table, address, count)

    async def close(self) -> None:
        """The bus is shared: the agent closes it once."""


class DevicePoller:
    """Reads every planned request of one device once per `poll()`."""

    def __init__(
        self,
        device: Device,
        profile: Profile,
        reader: RegisterReader | None = None,
        counters: Counters | None = None,
        clock: GatewayClock | None = None,
    ) -> None:
        self.device = device
        self.profile = profile
        self.counters = counters if counters is not None else Counters()
        self.clock = clock if clock is not None else GatewayClock()
        self._unchanged: dict[str, tuple[list[int], int]] = {}  # sensor -> (words, polls seen unchanged)
        self.requests = plan_requests(profile, device.sensors)
        self.errors = 0
        self._failing = False
        self.reader: RegisterReader = reader if reader is not None else TcpReader.for_device(device)

    async def close(self) -> None:
        await self.reader.close()

    async def poll(self) -> list[Reading]:
        readings: list[Reading] = []
        for request in self.requests:
            ts_ms, synced = self.clock.stamp()
            try:
                words = await self._read(request)
            except ReadFailure as failure:
                self._note_failure(failure)
                readings += [self._failed(slot, ts_ms, synced) for slot in request.slots]
                continue
            self._note_success()
            readings += [self._decoded(slot, words, ts_ms, synced) for slot in request.slots]
        return readings

    async def _read(self, request: ReadRequest) -> list[int]:
        try:
            return await self.reader.read(request.table, request.address, request.count)
        except TransportError as error:
            raise ReadFailure(self.device.name, request, error.reason) from error

    def _note_failure(self, failure: ReadFailure) -> None:
        self.errors += 1
        # Log the first failure loudly and the rest quietly, so a dead device
        # does not drown the journal during a storm.
        level = logging.DEBUG if self._failing else logging.WARNING
        log.log(
            level, "read_failure", extra={"event": "read_failure", "device": failure.device, "reason": failure.reason}
        )
        self._failing = True

    def _note_success(self) -> None:
        if self._failing:
            log.info("device_recovered", extra={"event": "device_recovered", "device": self.device.name})
        self._failing = False

    def _reading(self, slot: Slot, value: float | None, quality: Quality, ts_ms: int, synced: bool) -> Reading:
        register = slot.register
        return Reading(
            sensor=slot.sensor,
            station=self.device.station,
            quantity=register.quantity,
            value=value,
            unit=register.unit,
            ts_ms=ts_ms,
            quality=quality,
            clock_synced=synced,
        )

    def _failed(self, slot: Slot, ts_ms: int, synced: bool) -> Reading:
        return self._reading(slot, None, Quality.read_failure, ts_ms, synced)

    def _stale(self, slot: Slot, words: list[int]) -> bool:
        """The same words for `stale_after_polls` polls in a row: the device stopped updating."""
        limit = self.device.stale_after_polls
        if limit is None or slot.register.counter or slot.register.bit is not None:
            return False
        previous, polls = self._unchanged.get(slot.sensor, ([], 0))
        polls = polls + 1 if words == previous else 1
        self._unchanged[slot.sensor] = (words, polls)
        return polls >= limit

    def _decoded(self, slot: Slot, words: list[int], ts_ms: int, synced: bool) -> Reading:
        register = slot.register
        own = words[slot.offset : slot.offset + register.count]
        try:
            if register.counter:
                raw = int(words_to_number(own, register.type, register.byte_order))
                value = scaled(register, self.counters.update(slot.sensor, raw, register.modulus))
            else:
                value = engineering_value(register, own)
        except DecodeError as error:
            log.warning(
                "decode_failure",
                extra={
                    "event": "decode_failure",
                    "device": self.device.name,
                    "register": register.name,
                    "reason": str(error),
                },
            )
            return self._failed(slot, ts_ms, synced)
        if not register.valid_min <= value <= register.valid_max:
            quality = Quality.out_of_range
        elif self._stale(slot, own):
            quality = Quality.stale
        else:
            quality = Quality.good
        return self._reading(slot, value, quality, ts_ms, synced)

"""Poll one Modbus device (TCP, or RTU through its port's `SerialBus`) into readings with a quality.

A read failure (timeout, Modbus exception, lost connection) becomes readings of
quality `read_failure`, with the contract's `reason`, for the registers of that
request; it never stops the agent. A value outside the profile's valid range is
published as `out_of_range`. A reading is stamped when its response arrived.

Each poller keeps what the heartbeat shows of its device (`device_status`): its
state, the age of its last good reading, its last failure and how many.
"""

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar, cast

from edge_agent.bus import BusDevice, SerialBus
from edge_agent.clock import GatewayClock
from edge_agent.config import Device, TcpTransport
from edge_agent.counters import Counters
from edge_agent.decode import DecodeError, number_decoder, register_value, scaled
from edge_agent.failures import TransportError, classify, describe
from edge_agent.plan import ReadRequest, Slot, plan_requests
from edge_agent.rtu import BIT_FUNCTIONS, READ_FUNCTIONS, encode_table_write, payload_bytes, unpack_bits
from hardware_specs import Profile
from wire_contract import DeviceStatus, FailureReason, Quality, Reading, modbus_exception_reason, modbus_exception_words
from wire_contract.payload import DeviceState

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class ReadFailure(Exception):
    def __init__(self, device: str, request: ReadRequest, reason: FailureReason, detail: str) -> None:
        super().__init__(f"device {device!r}: read {request.table} {request.address}+{request.count} failed: {detail}")
        self.device = device
        self.reason = reason
        self.detail = detail


class RegisterReader(Protocol):
    async def read(self, table: str, address: int, count: int) -> list[int]: ...

    async def write(self, address: int, words: Sequence[int], table: str = "holding") -> None: ...

    async def close(self) -> None: ...


class TcpReader:
    """Modbus TCP to one device: one connection, one request at a time, reconnected after a failure.

    MBAP frame: [transaction id][protocol 0][length][unit] then the PDU, all big-endian.
    A timeout or a reply to another transaction drops the connection, so a late answer
    can never pass for the next one.

    The poll path is kept lean: a bare `asyncio.Protocol` hands each whole response to
    one future per request, and the protocol's one timer fails that future at the
    request's deadline (no cancel scope, no timer per request); only a (re)connection
    runs under `asyncio.timeout`. Errors, and the reasons logged for them, are those a
    `StreamReader.readexactly` of the header then of the body would give.
    """

    def __init__(self, host: str, port: int, unit_id: int, timeout_s: float, retries: int = 0) -> None:
        self.host = host
        self.port = port
        self.unit_id = unit_id
        self.timeout_s = timeout_s
        self.retries = retries
        self._protocol: _MbapProtocol | None = None
        self._tid = 0
        # One transaction on the connection at a time: the protocol waits for one answer, so a
        # command's write sent while a poll is in flight would take the poll's answer (or leave
        # it unanswered for good).
        self._turn = asyncio.Lock()

    @classmethod
    def for_device(cls, device: Device) -> "TcpReader":
        assert isinstance(device.transport, TcpTransport)
        transport = device.transport
        return cls(transport.host, transport.port, device.unit_id, device.timeout_ms / 1000, device.retries)

    @classmethod
    def for_address(cls, host: str, port: int, unit_id: int, timeout_s: float) -> "TcpReader":
        return cls(host, port, unit_id, timeout_s)

    async def read(self, table: str, address: int, count: int) -> list[int]:
        function = READ_FUNCTIONS[table]
        return await self._retried(
            lambda protocol, deadline: self._transact(protocol, function, address, count, deadline)
        )

    async def write(self, address: int, words: Sequence[int], table: str = "holding") -> None:
        """Write holding registers (function 6 or 16) or coils (bits of 0/1: 5 or 15); the echo is checked."""
        request = encode_table_write(self.unit_id, table, address, words)
        await self._retried(lambda protocol, deadline: self._transact_write(protocol, request, deadline))

    async def _retried(self, transact: "Callable[[_MbapProtocol, float | None], Awaitable[_T]]") -> _T:
        async with self._turn:
            return await self._retried_in_turn(transact)

    async def _retried_in_turn(self, transact: "Callable[[_MbapProtocol, float | None], Awaitable[_T]]") -> _T:
        error: Exception = TimeoutError()
        for _ in range(self.retries + 1):
            try:
                protocol = self._protocol
                if protocol is None:
                    # Connecting and the first request share one timeout, as every request has.
                    async with asyncio.timeout(self.timeout_s):
                        protocol = await self._connect()
                        return await transact(protocol, None)
                return await transact(protocol, protocol.loop.time() + self.timeout_s)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, _Desync) as failed:
                await self.close()
                error = failed
        reason = classify(error)
        if reason not in (FailureReason.timeout, FailureReason.connection_refused):
            reason = FailureReason.connection_lost  # a broken socket, a peer out of step, an unreachable host
        raise TransportError(reason, f"{self.host}:{self.port}: {describe(error)}")

    async def _connect(self) -> "_MbapProtocol":
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(lambda: _MbapProtocol(loop), self.host, self.port)
        self._protocol = protocol
        return protocol

    async def _transact(
        self, protocol: "_MbapProtocol", function: int, address: int, count: int, deadline: float | None
    ) -> list[int]:
        tid = self._tid = (self._tid + 1) & 0xFFFF
        protocol.transport.write(_REQUEST.pack(tid, 0, 6, self.unit_id, function, address, count))
        frame = await protocol.expect(deadline)
        if len(frame) < 9:  # header, unit, function and one byte at least: a broken or hostile peer
            raise _Desync(f"malformed reply of {len(frame)} bytes")
        if frame[0] << 8 | frame[1] != tid:
            raise _Desync(f"reply to transaction {frame[0] << 8 | frame[1]}, not {tid}")
        # frame[7] is the PDU's function code, frame[8] its byte count (or exception code)
        if frame[7] == function | 0x80:
            raise TransportError(modbus_exception_reason(frame[8]), modbus_exception_words(frame[8]))
        if function in BIT_FUNCTIONS:
            size = payload_bytes(function, count)
            if frame[7] != function or frame[8] != size or len(frame) < 9 + size:
                raise TransportError(FailureReason.short_frame, f"short response of {frame[8]} bytes for {count} bits")
            return unpack_bits(frame[9:], count)
        if frame[7] != function or frame[8] != 2 * count or len(frame) < 9 + 2 * count:
            raise TransportError(FailureReason.short_frame, f"short response of {frame[8] // 2} registers")
        words = _WORDS.get(count)
        if words is None:
            words = _WORDS[count] = struct.Struct(f">{count}H")
        return list(words.unpack_from(frame, 9))

    async def _transact_write(self, protocol: "_MbapProtocol", request: bytes, deadline: float | None) -> None:
        tid = self._tid = (self._tid + 1) & 0xFFFF
        pdu = request[1:-2]  # the RTU frame less its unit id and CRC
        protocol.transport.write(_MBAP.pack(tid, 0, len(pdu) + 1, self.unit_id) + pdu)
        frame = await protocol.expect(deadline)
        if len(frame) < 9 or frame[0] << 8 | frame[1] != tid:
            raise _Desync(f"malformed reply or another transaction's: {frame[:9].hex()}")
        if frame[7] == request[1] | 0x80:
            raise TransportError(modbus_exception_reason(frame[8]), modbus_exception_words(frame[8]))
        if frame[7:12] != pdu[:5]:
            raise TransportError(FailureReason.wrong_unit, f"wrote {pdu[:5].hex()}, the answer was {frame[7:].hex()}")

    async def close(self) -> None:
        if self._protocol is not None:
            protocol = self._protocol
            self._protocol = None
            protocol.transport.close()
            with contextlib.suppress(OSError):
                await protocol.closed


_REQUEST = struct.Struct(">HHHBBHH")  # MBAP header, function, address, count
_MBAP = struct.Struct(">HHHB")  # transaction, protocol 0, length, unit
_WORDS: dict[int, struct.Struct] = {}  # register count -> its big-endian words
_LIMIT = 2**16  # StreamReader's default limit: reading pauses above twice this, unread


class _MbapProtocol(asyncio.Protocol):
    """Whole MBAP frames, one per `expect()`; bytes that arrive unasked wait for the next request.

    Failures come in the order and with the wording of `StreamReader.readexactly(7)` (the
    header) then `readexactly(length - 1)` (the rest): a lost connection's error first, then
    a whole frame, then `IncompleteReadError` at end of stream.

    A response not complete by its deadline fails with `TimeoutError` when the loop reaches
    that deadline, as under `asyncio.timeout`. One timer serves request after request: when
    it comes due for an earlier request's deadline it moves on to the current one's.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set by connection_made
        self.closed: asyncio.Future[None] = loop.create_future()
        self._buffer = bytearray()
        self._response: asyncio.Future[bytes] | None = None
        self._eof = False
        self._error: BaseException | None = None
        self._deadline: float | None = None  # of `_response`; None: under the caller's own timeout
        self._paused = False  # reading paused: more than 2 * _LIMIT bytes unasked for, as a StreamReader does
        self._watchdog: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream transport (uvloop's is not a subclass)

    def expect(self, deadline: float | None) -> "asyncio.Future[bytes]":
        """The next whole frame (resolved at once when it is already here), by loop time `deadline`."""
        self._response = response = self.loop.create_future()
        if self._buffer or self._eof or self._error is not None:
            self._deliver()
            if response.done():
                return response
        self._deadline = deadline
        if deadline is not None:
            watchdog = self._watchdog
            if watchdog is None or deadline < watchdog.when():  # earlier only if the timeout was shortened
                if watchdog is not None:
                    watchdog.cancel()
                self._watchdog = self.loop.call_at(deadline, self._watch)
        return response

    def _watch(self) -> None:
        assert self._watchdog is not None
        due = self._watchdog.when()
        self._watchdog = None
        response, deadline = self._response, self._deadline
        if response is None or response.done() or deadline is None:
            return  # idle: the next request sets the timer again
        if deadline <= due:
            self._fail(response, TimeoutError())
        else:
            self._watchdog = self.loop.call_at(deadline, self._watch)

    def data_received(self, data: bytes) -> None:
        response = self._response
        # The usual case: one request outstanding, its whole answer in one segment.
        if (
            response is not None
            and not self._buffer
            and len(data) >= 7
            and len(data) == 6 + (data[4] << 8 | data[5])
            and self._error is None
        ):
            self._response = None
            if not response.done():
                response.set_result(data)
                return
        self._buffer += data
        if not self._paused and len(self._buffer) > 2 * _LIMIT:  # a peer that talks unasked: let TCP hold it back
            self.transport.pause_reading()
            self._paused = True
        self._deliver()

    def eof_received(self) -> bool:
        self._eof = True
        self._deliver()
        return True  # keep the transport, as a StreamReader would: a request may still be written

    def connection_lost(self, exc: Exception | None) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if exc is None:
            self._eof = True
        else:
            self._error = exc
        if not self.closed.done():
            if exc is None:
                self.closed.set_result(None)
            else:
                self.closed.set_exception(exc)
                self.closed.exception()  # retrieved: `close()` may never wait on it
        self._deliver()

    def _deliver(self) -> None:
        response = self._response
        if response is None:
            return
        if response.done():  # timed out or cancelled: what comes later waits for the next request
            self._response = None
            return
        buffer = self._buffer
        if self._error is not None:
            self._fail(response, self._error)
            return
        if len(buffer) < 7:
            if self._eof:
                partial = bytes(buffer)
                buffer.clear()
                self._fail(response, asyncio.IncompleteReadError(partial, 7))
            elif self._paused:  # waiting for the rest
                self._resume()
            return
        length = buffer[4] << 8 | buffer[5]
        if length < 3:  # unit id + function + one byte at least: anything shorter is garbage
            del buffer[:7]
            self._fail(response, _Desync(f"MBAP length {length} is too short for a response"))
            return
        end = 6 + length
        if len(buffer) >= end:
            frame = bytes(buffer[:end])
            del buffer[:end]
            self._response = None
            response.set_result(frame)
            if self._paused and len(buffer) <= _LIMIT:
                self._resume()
        elif self._eof:
            partial = bytes(buffer[7:])
            buffer.clear()
            self._fail(response, asyncio.IncompleteReadError(partial, length - 1))
        elif self._paused:  # waiting for the rest
            self._resume()

    def _resume(self) -> None:
        self._paused = False
        self.transport.resume_reading()

    def _fail(self, response: "asyncio.Future[bytes]", error: BaseException) -> None:
        self._response = None
        response.set_exception(error)


class _Desync(Exception):
    pass


class RtuReader:
    """A device on a shared serial bus: its reads queue on the port's scheduler."""

    def __init__(self, device: BusDevice, bus: SerialBus) -> None:
        self.device = device
        self.bus = bus

    async def read(self, table: str, address: int, count: int) -> list[int]:
        return await self.bus.read(self.device, table, address, count)

    async def write(self, address: int, words: Sequence[int], table: str = "holding") -> None:
        await self.bus.write(self.device, address, tuple(words), table)

    def quarantined(self) -> bool:
        return self.bus.health_of(self.device).quarantined(time.monotonic())

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
        # Each register's decoder, worked out once: a poll only slices words and calls it.
        self._numbers = {
            slot.register.name: number_decoder(slot.register.type, slot.register.byte_order)
            for request in self.requests
            for slot in request.slots
        }
        self.errors = 0
        self._failing = False
        self.last_good_at: float | None = None  # monotonic time of the last good read
        self.last_attempt_at = time.monotonic()  # of the last request that ended, well or not
        self.last_error: FailureReason | None = None
        self.last_error_detail: str | None = None
        self.reader: RegisterReader = reader if reader is not None else TcpReader.for_device(device)

    async def close(self) -> None:
        await self.reader.close()

    async def poll(self) -> list[Reading]:
        readings: list[Reading] = []
        for request in self.requests:
            try:
                words = await self._read(request)
            except ReadFailure as failure:
                ts_ms, synced = self.clock.stamp()  # when the gateway gave up
                self._note_failure(failure)
                readings += [self._failed(slot, ts_ms, synced, failure.reason) for slot in request.slots]
                continue
            ts_ms, synced = self.clock.stamp()  # when the response arrived
            self._note_success()
            readings += [self._decoded(slot, words, ts_ms, synced) for slot in request.slots]
        return readings

    async def _read(self, request: ReadRequest) -> list[int]:
        try:
            return await self.reader.read(request.table, request.address, request.count)
        except TransportError as error:
            raise ReadFailure(self.device.name, request, error.reason, error.detail) from error
        finally:
            self.last_attempt_at = time.monotonic()

    def device_status(self, now: float, quarantined: bool = False) -> DeviceStatus:
        """What the heartbeat shows of this device at monotonic time `now`."""
        return health_status(self, now, quarantined)

    def _note_failure(self, failure: ReadFailure) -> None:
        self.errors += 1
        # Log the first failure loudly, and again whenever the reason changes (the port went
        # missing while the device was busy); the same reason again only at DEBUG, so a dead
        # device does not drown the journal during a storm. The heartbeat always has the last.
        changed = failure.reason is not FailureReason.quarantined and failure.reason is not self.last_error
        level = logging.WARNING if not self._failing or changed else logging.DEBUG
        log.log(
            level,
            "read_failure",
            extra={
                "event": "read_failure",
                "device": failure.device,
                "reason": failure.reason.value,
                "detail": failure.detail,
            },
        )
        if failure.reason is not FailureReason.quarantined:  # keep the fault that put it there
            self.last_error, self.last_error_detail = failure.reason, failure.detail
        self._failing = True

    def _note_success(self) -> None:
        if self._failing:
            log.info("device_recovered", extra={"event": "device_recovered", "device": self.device.name})
        self._failing = False
        self.last_good_at = time.monotonic()

    def _reading(
        self,
        slot: Slot,
        value: float | None,
        quality: Quality,
        ts_ms: int,
        synced: bool,
        reason: FailureReason | None = None,
    ) -> Reading:
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
            reason=reason,
        )

    def _failed(self, slot: Slot, ts_ms: int, synced: bool, reason: FailureReason) -> Reading:
        return self._reading(slot, None, Quality.read_failure, ts_ms, synced, reason)

    def _stale(self, slot: Slot, words: list[int]) -> bool:
        """The same words for `stale_after_polls` polls in a row: the device stopped updating."""
        limit = self.device.stale_after_polls
        register = slot.register
        if limit is None or register.counter or register.bit is not None or register.is_bit:
            return False
        previous, polls = self._unchanged.get(slot.sensor, ([], 0))
        polls = polls + 1 if words == previous else 1
        self._unchanged[slot.sensor] = (words, polls)
        return polls >= limit

    def _decoded(self, slot: Slot, words: list[int], ts_ms: int, synced: bool) -> Reading:
        register = slot.register
        own = words[slot.offset : slot.offset + register.count]
        try:
            number = self._numbers[register.name](own)
            if register.counter:
                total, grown = self.counters.update(slot.sensor, int(number), register.modulus)
                value = scaled(register, grown if register.counter_reports == "increment" else total)
            else:
                value = register_value(register, number)
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
            return self._failed(slot, ts_ms, synced, FailureReason.decode_error)
        if not register.valid_min <= value <= register.valid_max or (
            register.enum is not None and register.label(value) is None
        ):
            quality = Quality.out_of_range
        elif self._stale(slot, own):
            quality = Quality.stale
        else:
            quality = Quality.good
        return self._reading(slot, value, quality, ts_ms, synced)


class _Health(Protocol):
    """What a poller (Modbus or node) keeps of its device's health."""

    device: Device
    last_attempt_at: float
    last_good_at: float | None
    errors: int
    last_error: FailureReason | None
    last_error_detail: str | None
    _failing: bool


def health_status(poller: _Health, now: float, quarantined: bool) -> DeviceStatus:
    """The heartbeat's view of one device at monotonic time `now`: one rule for every kind of poller."""
    state: DeviceState
    if now - poller.last_attempt_at > 3 * poller.device.poll_s:
        state = "not_attempted"
    elif quarantined:
        state = "quarantined"
    else:
        state = "failing" if poller._failing else "polling"
    detail = poller.last_error_detail
    return DeviceStatus(
        state=state,
        last_good_age_s=None if poller.last_good_at is None else round(now - poller.last_good_at, 3),
        errors=poller.errors,
        last_error=poller.last_error,
        last_error_detail=None if detail is None else detail[:300],
    )

"""Modbus RTU on a serial line: a pure frame codec and one line that carries one request at a time.

Frame layout of register reads (function 3 holding or 4 input):

    request   [unit][fc][addr hi][addr lo][count hi][count lo][crc lo][crc hi]      8 bytes
    response  [unit][fc][byte count = 2n][n big-endian words ...][crc lo][crc hi] 5 + 2n bytes
    exception [unit][fc | 0x80][exception code][crc lo][crc hi]                     5 bytes

Writes of holding registers (a setting a profile marks `writable`):

    fc 6   [unit][06][addr hi][addr lo][value hi][value lo][crc lo][crc hi]                 8 bytes
           the response echoes the request                                                  8 bytes
    fc 16  [unit][10][addr hi][addr lo][count hi][count lo][2n][n words ...][crc lo][crc hi]
           response [unit][10][addr hi][addr lo][count hi][count lo][crc lo][crc hi]        8 bytes

Coils and discrete inputs (one bit each; `bits` below are 0/1, first address first):

    fc 1/2 request as fc 3/4, with a count of bits (at most 2000)
           response  [unit][fc][byte count = ceil(n/8)][bits, LSB of the first byte first, 0-padded][crc]
    fc 5   [unit][05][addr hi][addr lo][FF 00 on | 00 00 off][crc lo][crc hi]                 8 bytes
           the response echoes the request                                                  8 bytes
    fc 15  [unit][0F][addr hi][addr lo][count hi][count lo][ceil(n/8)][bits ...][crc lo][crc hi]
           response [unit][0F][addr hi][addr lo][count hi][count lo][crc lo][crc hi]        8 bytes

Frames are separated by at least 3.5 character times of silence (1.75 ms above
19200 baud, as the Modbus serial line spec fixes it). How a response breaks, and
what `decode_response` raises: fewer bytes than the frame needs (`ShortFrame`),
a CRC that does not match (`CrcMismatch`), another unit or function than asked
(`UnexpectedFrame`), an exception response (`ExceptionResponse`). The line
(`SerialLine`) throws away whatever arrived before it sends a request, so garbage
and late answers to an earlier request never pass for the next response.
"""

import asyncio
import contextlib
import time
from collections.abc import Sequence

import serial

READ_FUNCTIONS = {"holding": 3, "input": 4, "coil": 1, "discrete_input": 2}
BIT_FUNCTIONS = frozenset((1, 2))
WRITE_SINGLE, WRITE_MULTIPLE = 6, 16
WRITE_COIL, WRITE_COILS = 5, 15
COIL_ON, COIL_OFF = 0xFF00, 0x0000
WRITE_RESPONSE_BYTES = 8


class RtuError(Exception):
    """A response that is not the answer to the request."""


class ShortFrame(RtuError):
    pass


class CrcMismatch(RtuError):
    pass


class UnexpectedFrame(RtuError):
    pass


class ExceptionResponse(RtuError):
    def __init__(self, code: int) -> None:
        super().__init__(f"Modbus exception code {code}")
        self.code = code


class NoResponse(RtuError):
    pass


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """Modbus CRC-16 (poly 0xA001 reflected, init 0xFFFF); sent low byte first."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


def with_crc(body: bytes) -> bytes:
    return body + crc16(body).to_bytes(2, "little")


def encode_read(unit: int, function: int, address: int, count: int) -> bytes:
    return with_crc(bytes([unit, function]) + address.to_bytes(2, "big") + count.to_bytes(2, "big"))


def encode_write(unit: int, address: int, words: Sequence[int]) -> bytes:
    """Function 6 for one word, 16 for more."""
    if len(words) == 1:
        return with_crc(bytes([unit, WRITE_SINGLE]) + address.to_bytes(2, "big") + words[0].to_bytes(2, "big"))
    payload = b"".join(w.to_bytes(2, "big") for w in words)
    head = bytes([unit, WRITE_MULTIPLE]) + address.to_bytes(2, "big") + len(words).to_bytes(2, "big")
    return with_crc(head + bytes([len(payload)]) + payload)


def encode_write_coils(unit: int, address: int, bits: Sequence[int]) -> bytes:
    """Function 5 for one coil (FF00 on, 0000 off), 15 for more."""
    if len(bits) == 1:
        value = COIL_ON if bits[0] else COIL_OFF
        return with_crc(bytes([unit, WRITE_COIL]) + address.to_bytes(2, "big") + value.to_bytes(2, "big"))
    payload = pack_bits(bits)
    head = bytes([unit, WRITE_COILS]) + address.to_bytes(2, "big") + len(bits).to_bytes(2, "big")
    return with_crc(head + bytes([len(payload)]) + payload)


def encode_table_write(unit: int, table: str, address: int, values: Sequence[int]) -> bytes:
    """A write to holding registers (words) or coils (bits of 0/1); no other table is written."""
    if table == "coil":
        return encode_write_coils(unit, address, values)
    if table != "holding":
        raise ValueError(f"the {table} table is read-only")
    return encode_write(unit, address, values)


def pack_bits(bits: Sequence[int]) -> bytes:
    """Bits as Modbus sends them: the first bit in the least significant bit of the first byte."""
    packed = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            packed[i >> 3] |= 1 << (i & 7)
    return bytes(packed)


def unpack_bits(data: bytes, count: int) -> list[int]:
    return [(data[i >> 3] >> (i & 7)) & 1 for i in range(count)]


def payload_bytes(function: int, count: int) -> int:
    """The byte count of a read's response: 2 a register, or one bit each rounded up to bytes."""
    return (count + 7) // 8 if function in BIT_FUNCTIONS else 2 * count


def write_echo(request: bytes) -> bytes:
    """What a device answers to a write it took (simulators and tests; `decode_write_response` checks it)."""
    return request if request[1] in (WRITE_SINGLE, WRITE_COIL) else with_crc(request[:6])


def decode_write_response(frame: bytes, request: bytes) -> None:
    """Check a write's response against its request: an exception, or the echo the spec fixes."""
    unit, function = request[0], request[1]
    if len(frame) >= 5 and frame[1] == function | 0x80:
        if crc16(frame[:5]) != 0:
            raise CrcMismatch(f"exception frame {frame[:5].hex()} fails its CRC")
        raise ExceptionResponse(frame[2])
    if len(frame) < WRITE_RESPONSE_BYTES:
        raise ShortFrame(f"{len(frame)} of {WRITE_RESPONSE_BYTES} bytes: {frame.hex()}")
    frame = frame[:WRITE_RESPONSE_BYTES]
    if crc16(frame) != 0:
        raise CrcMismatch(f"CRC of {frame.hex()} does not match")
    if frame != write_echo(request)[:WRITE_RESPONSE_BYTES] or frame[0] != unit:
        raise UnexpectedFrame(f"wrote {request[:6].hex()}, the answer was {frame.hex()}")


def response_length(count: int, function: int = 3) -> int:
    return 5 + payload_bytes(function, count)


def encode_response(unit: int, function: int, words: Sequence[int]) -> bytes:
    """What a device answers (simulators and tests): words, or bits for functions 1 and 2."""
    bits = function in BIT_FUNCTIONS
    payload = pack_bits(words) if bits else b"".join(w.to_bytes(2, "big") for w in words)
    return with_crc(bytes([unit, function, len(payload)]) + payload)


def decode_response(frame: bytes, unit: int, function: int, count: int) -> list[int]:
    """The `count` words (functions 3, 4) or bits of 0/1 (functions 1, 2) a read's response carries."""
    if len(frame) >= 5 and frame[1] == function | 0x80:
        if crc16(frame[:5]) != 0:
            raise CrcMismatch(f"exception frame {frame[:5].hex()} fails its CRC")
        raise ExceptionResponse(frame[2])
    expected = response_length(count, function)
    if len(frame) < expected:
        raise ShortFrame(f"{len(frame)} of {expected} bytes: {frame.hex()}")
    frame = frame[:expected]
    if crc16(frame) != 0:  # the CRC over a frame including its own CRC is 0
        raise CrcMismatch(f"CRC of {frame.hex()} does not match")
    if frame[0] != unit or frame[1] != function or frame[2] != expected - 5:
        raise UnexpectedFrame(f"asked unit {unit} fc {function} for {count}, got {frame[:3].hex()}")
    if function in BIT_FUNCTIONS:
        return unpack_bits(frame[3:-2], count)
    return [int.from_bytes(frame[3 + 2 * i : 5 + 2 * i], "big") for i in range(count)]


def char_time_s(baud: int, parity: str = "N", stop_bits: int = 1, byte_size: int = 8) -> float:
    """Seconds one character takes on the wire: start bit, data, parity, stop bits."""
    return (1 + byte_size + (0 if parity == "N" else 1) + stop_bits) / baud


def silence_s(baud: int, char_s: float) -> float:
    """The inter-frame gap: 3.5 characters, fixed at 1.75 ms above 19200 baud."""
    return 0.00175 if baud > 19200 else 3.5 * char_s


def wire_time_s(request_bytes: int, response_bytes: int, baud: int, char_s: float) -> float:
    """The least time one transaction can take: both frames and the silence after each."""
    return (request_bytes + response_bytes) * char_s + 2 * silence_s(baud, char_s)


class SerialLine:
    """One serial port: send a frame, collect the response frame. Not re-entrant: the bus serialises."""

    def __init__(self, port: str, baud: int, parity: str, stop_bits: int, byte_size: int) -> None:
        self.port = port
        self.baud = baud
        self.char_s = char_time_s(baud, parity, stop_bits, byte_size)
        self.silence_s = silence_s(baud, self.char_s)
        # A USB RS-485 adapter delivers bytes in bursts: allow a gap inside a frame
        # of 1.5 characters or a few milliseconds, whichever is longer.
        self.inter_char_s = max(1.5 * self.char_s, 0.005)
        self._settings = {"baudrate": baud, "parity": parity, "stopbits": stop_bits, "bytesize": byte_size}
        self._serial: serial.Serial | None = None
        self._received = bytearray()
        self._arrived = asyncio.Event()
        self._last_activity = 0.0
        self._fault: serial.SerialException | None = None

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def open(self) -> None:
        port = serial.Serial(self.port, timeout=0, write_timeout=0, exclusive=True, **self._settings)
        asyncio.get_running_loop().add_reader(port.fileno(), self._on_readable)
        self._serial = port

    def close(self) -> None:
        self._fault = None
        if self._serial is not None:
            asyncio.get_running_loop().remove_reader(self._serial.fileno())
            self._serial.close()
            self._serial = None

    def _on_readable(self) -> None:
        assert self._serial is not None
        try:
            data = self._serial.read(4096)
        except serial.SerialException as error:
            # EIO, or ready with no data: the adapter is gone. Stop watching the descriptor
            # (it would be ready forever) and fail the transaction waiting on it.
            asyncio.get_running_loop().remove_reader(self._serial.fileno())
            self._fault = error
            self._arrived.set()
            return
        if data:
            self._received += data
            self._last_activity = time.monotonic()
            self._arrived.set()

    async def transact(self, request: bytes, response_bytes: int, timeout_s: float) -> bytes:
        """Send `request` after the inter-frame silence; return what came back as one frame."""
        if self._serial is None:
            self.open()
        assert self._serial is not None
        quiet_until = self._last_activity + self.silence_s
        while (wait := quiet_until - time.monotonic()) > 0:
            await asyncio.sleep(wait)
            quiet_until = self._last_activity + self.silence_s
        self._received.clear()  # garbage, or a late answer to an earlier request
        self._serial.write(request)
        sent_at = time.monotonic() + len(request) * self.char_s
        self._last_activity = sent_at
        return await self._collect(response_bytes, sent_at + timeout_s)

    async def read(self, unit: int, table: str, address: int, count: int, timeout_s: float) -> list[int]:
        """Read `count` registers of `table` from `unit`: one request, its response checked and decoded."""
        function = READ_FUNCTIONS[table]
        request = encode_read(unit, function, address, count)
        frame = await self.transact(request, response_length(count, function), timeout_s)
        return decode_response(frame, unit, function, count)

    async def write(
        self, unit: int, address: int, words: Sequence[int], timeout_s: float, table: str = "holding"
    ) -> None:
        """Write `words` to holding registers (or bits of 0/1 to coils) from `address` of `unit`:
        one request, its echo checked."""
        request = encode_table_write(unit, table, address, words)
        decode_write_response(await self.transact(request, WRITE_RESPONSE_BYTES, timeout_s), request)

    async def _collect(self, response_bytes: int, deadline: float) -> bytes:
        loop_time = time.monotonic
        while True:
            if self._fault is not None:
                raise self._fault
            frame = bytes(self._received)
            if len(frame) >= response_bytes or (len(frame) >= 5 and frame[1] & 0x80):
                return frame
            now = loop_time()
            if frame and now - self._last_activity >= self.inter_char_s:
                return frame  # the sender stopped mid-frame: a truncated frame
            if not frame and now >= deadline:
                raise NoResponse("no response")
            limit = self._last_activity + self.inter_char_s if frame else deadline
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), max(limit - now, 0.0005))

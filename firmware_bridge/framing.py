"""Frames of the node protocol (PROTOCOL.md section 1): CRC-16/CCITT-FALSE, COBS, and a
streaming decoder that counts what it drops.

    on the wire:   COBS( message || crc_hi || crc_lo ) || 0x00

How a frame breaks, and where `FrameDecoder` counts it: more than 253 bytes before a 0x00
(`oversize`; the rest up to the next 0x00 goes too), a COBS code byte pointing past the
end (`cobs_error`), fewer than 7 bytes after decoding (`short`), a CRC that does not
match (`crc_error`). Empty frames (0x00 0x00) are ignored. Garbage between frames and a
frame cut short by a reset end up in one of these when the next 0x00 arrives.
"""

import binascii
from dataclasses import dataclass, field

MAX_MESSAGE = 250
MAX_ENCODED = 253  # COBS of MAX_MESSAGE + 2 CRC bytes, without the delimiter
HEADER_BYTES = 5
MIN_FRAME = HEADER_BYTES + 2


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection (binascii's CRC-CCITT)."""
    return binascii.crc_hqx(data, 0xFFFF)


def cobs_encode(data: bytes) -> bytes:
    out = bytearray()
    for piece in data.split(b"\x00"):
        # A piece longer than 254 bytes is sent as 0xFF blocks (254 bytes, no implied zero).
        while len(piece) >= 254:
            out.append(0xFF)
            out += piece[:254]
            piece = piece[254:]
        out.append(len(piece) + 1)
        out += piece
    return bytes(out)


class CobsError(ValueError):
    pass


def cobs_decode(data: bytes) -> bytes:
    """Inverse of `cobs_encode`; `data` holds no 0x00. Raises CobsError."""
    out = bytearray()
    index = 0
    end = len(data)
    while index < end:
        code = data[index]
        stop = index + code
        if code == 0 or stop > end:
            raise CobsError(f"code byte {code} at {index} points past the end ({end} bytes)")
        out += data[index + 1 : stop]
        index = stop
        if code != 0xFF and index < end:
            out.append(0)
    return bytes(out)


def encode_frame(message: bytes) -> bytes:
    """One message, ready for the wire (CRC, COBS, delimiter)."""
    if len(message) > MAX_MESSAGE:
        raise ValueError(f"message of {len(message)} bytes; at most {MAX_MESSAGE}")
    return cobs_encode(message + crc16(message).to_bytes(2, "big")) + b"\x00"


class FrameError(ValueError):
    """Why `decode_frame` refused one delimited frame: `reason` is a `FrameCounters` field name."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def decode_frame(encoded: bytes) -> bytes:
    """The message in one frame (without its 0x00); raises FrameError."""
    if len(encoded) > MAX_ENCODED:
        raise FrameError("oversize", f"{len(encoded)} bytes before the delimiter; at most {MAX_ENCODED}")
    try:
        raw = cobs_decode(encoded)
    except CobsError as error:
        raise FrameError("cobs_error", str(error)) from error
    if len(raw) < MIN_FRAME:
        raise FrameError("short", f"{len(raw)} bytes after COBS; at least {MIN_FRAME}")
    if crc16(raw) != 0:  # the CRC over a message and its own CRC (high byte first) is 0
        raise FrameError("crc_error", f"CRC of {raw.hex()} does not match")
    return raw[:-2]


@dataclass
class FrameCounters:
    frames_ok: int = 0
    oversize: int = 0
    cobs_error: int = 0
    short: int = 0
    crc_error: int = 0

    @property
    def framing_errors(self) -> int:
        return self.oversize + self.cobs_error + self.short


@dataclass
class FrameDecoder:
    """Feed it bytes as they arrive; it returns the good messages and counts the rest.

    Its buffer never holds more than MAX_ENCODED bytes: a run without a delimiter is
    counted once as `oversize` and skipped up to the next 0x00.
    """

    counters: FrameCounters = field(default_factory=FrameCounters)
    _pending: bytearray = field(default_factory=bytearray)
    _skipping: bool = False

    def feed(self, data: bytes) -> list[bytes]:
        messages: list[bytes] = []
        pieces = data.split(b"\x00")
        last = pieces.pop()  # after the last delimiter: the start of the next frame
        for piece in pieces:
            if self._skipping:
                self._skipping = False
                self._pending.clear()
                continue
            if self._pending:
                self._pending += piece
                encoded = bytes(self._pending)
                self._pending.clear()
            else:
                encoded = piece
            if not encoded:
                continue
            try:
                messages.append(decode_frame(encoded))
            except FrameError as error:
                setattr(self.counters, error.reason, getattr(self.counters, error.reason) + 1)
                continue
            self.counters.frames_ok += 1
        if not self._skipping:
            self._pending += last
            if len(self._pending) > MAX_ENCODED:
                self.counters.oversize += 1
                self._skipping = True
                self._pending.clear()
        return messages

"""Messages of the node protocol (PROTOCOL.md sections 2-3): a 5-byte header and a body,
each message type a frozen dataclass with its body layout as a `struct` format.

    header:  version u8 | type u8 | flags u8 (bit 0 RESPONSE) | seq u16      little-endian

`decode_message(data)` returns `(Header, body message)` or raises `MessageError` whose
`reason` is `bad_version`, `unknown_type` or `bad_length`; `encode_message` is its inverse.
"""

import enum
import struct
from dataclasses import dataclass
from typing import ClassVar, get_args

from firmware_bridge.framing import HEADER_BYTES, MAX_MESSAGE

PROTOCOL_VERSION = 1
FLAG_RESPONSE = 0x01
MAX_CHUNK = 128
MAX_CHANNELS = 16
MAX_STR = 32

_HEADER = struct.Struct("<BBBH")


class MessageType(enum.IntEnum):
    IDENTIFY = 0x01
    POLL = 0x02
    CONFIG_GET = 0x03
    CONFIG_SET = 0x04
    TIME_SYNC = 0x05
    UPDATE_BEGIN = 0x06
    UPDATE_CHUNK = 0x07
    UPDATE_COMMIT = 0x08
    UPDATE_CONFIRM = 0x09
    HELLO = 0x41
    READINGS = 0x42
    CONFIG_VALUE = 0x43
    TIME_ACK = 0x44
    UPDATE_STATUS = 0x45
    ERROR = 0x46
    HEARTBEAT = 0x47


class ImageState(enum.IntEnum):
    CONFIRMED = 0
    TRIAL = 1


class BootReason(enum.IntEnum):
    POWER_ON = 0
    RESET = 1
    UPDATE = 2
    ROLLBACK = 3


class UpdateState(enum.IntEnum):
    IDLE = 0
    RECEIVING = 1
    VERIFIED = 2
    TRIAL = 3
    CONFIRMED = 4


class UpdateResult(enum.IntEnum):
    OK = 0
    HASH_MISMATCH = 1
    BAD_OFFSET = 2
    TOO_LARGE = 3
    NO_UPDATE = 4
    INCOMPLETE = 5
    FLASH_ERROR = 6
    IN_TRIAL = 7


class ErrorCode(enum.IntEnum):
    UNKNOWN_TYPE = 1
    BAD_LENGTH = 2
    BAD_VERSION = 3
    UNKNOWN_KEY = 4
    BAD_VALUE = 5
    READ_ONLY = 6
    SENSOR_FAULT = 7


class ConfigKey(enum.IntEnum):
    REPORT_INTERVAL_S = 1
    HEARTBEAT_S = 2
    LEVEL_OFFSET_MM = 3
    TRIAL_TIMEOUT_S = 4
    CHANNEL_COUNT = 5


class ReadingStatus(enum.IntFlag):
    SENSOR_FAULT = 0x01
    OUT_OF_RANGE = 0x02
    NOT_CALIBRATED = 0x04


class MessageError(ValueError):
    """A frame with a good CRC whose content is not a message of this protocol."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class Header:
    type: MessageType
    seq: int
    flags: int = 0
    version: int = PROTOCOL_VERSION

    @property
    def is_response(self) -> bool:
        return bool(self.flags & FLAG_RESPONSE)


class _Fixed:
    """A message whose body is one struct, fields in declaration order."""

    TYPE: ClassVar[MessageType]
    LAYOUT: ClassVar[struct.Struct]

    def body(self) -> bytes:
        return self.LAYOUT.pack(*self.__dict__.values())

    @classmethod
    def from_body(cls, body: bytes) -> "Message":
        if len(body) != cls.LAYOUT.size:
            raise MessageError("bad_length", f"{cls.TYPE.name} body of {len(body)} bytes; it is {cls.LAYOUT.size}")
        return cls(*cls.LAYOUT.unpack(body))  # type: ignore[return-value]


@dataclass(frozen=True)
class Identify(_Fixed):
    TYPE = MessageType.IDENTIFY
    LAYOUT = struct.Struct("<")


@dataclass(frozen=True)
class Poll(_Fixed):
    TYPE = MessageType.POLL
    LAYOUT = struct.Struct("<")


@dataclass(frozen=True)
class ConfigGet(_Fixed):
    TYPE = MessageType.CONFIG_GET
    LAYOUT = struct.Struct("<B")
    key: int


@dataclass(frozen=True)
class ConfigSet(_Fixed):
    TYPE = MessageType.CONFIG_SET
    LAYOUT = struct.Struct("<Bi")
    key: int
    value: int


@dataclass(frozen=True)
class TimeSync(_Fixed):
    TYPE = MessageType.TIME_SYNC
    LAYOUT = struct.Struct("<Q")
    unix_ms: int


@dataclass(frozen=True)
class UpdateBegin(_Fixed):
    TYPE = MessageType.UPDATE_BEGIN
    LAYOUT = struct.Struct("<I32sBBB")
    size: int
    sha256: bytes
    major: int
    minor: int
    patch: int


@dataclass(frozen=True)
class UpdateChunk:
    TYPE: ClassVar[MessageType] = MessageType.UPDATE_CHUNK
    offset: int
    data: bytes

    def body(self) -> bytes:
        if not 1 <= len(self.data) <= MAX_CHUNK:
            raise ValueError(f"a chunk holds 1..{MAX_CHUNK} bytes, not {len(self.data)}")
        return struct.pack("<I", self.offset) + self.data

    @classmethod
    def from_body(cls, body: bytes) -> "UpdateChunk":
        if not 5 <= len(body) <= 4 + MAX_CHUNK:
            raise MessageError("bad_length", f"UPDATE_CHUNK body of {len(body)} bytes; it is 5..{4 + MAX_CHUNK}")
        return cls(struct.unpack_from("<I", body)[0], body[4:])


@dataclass(frozen=True)
class UpdateCommit(_Fixed):
    TYPE = MessageType.UPDATE_COMMIT
    LAYOUT = struct.Struct("<")


@dataclass(frozen=True)
class UpdateConfirm(_Fixed):
    TYPE = MessageType.UPDATE_CONFIRM
    LAYOUT = struct.Struct("<")


def _pack_str(text: str) -> bytes:
    raw = text.encode()
    if len(raw) > MAX_STR:
        raise ValueError(f"{text!r} is {len(raw)} bytes of UTF-8; at most {MAX_STR}")
    return bytes([len(raw)]) + raw


def _unpack_str(body: bytes, at: int, what: str) -> tuple[str, int]:
    if at >= len(body):
        raise MessageError("bad_length", f"HELLO ends before its {what}")
    length = body[at]
    end = at + 1 + length
    if length > MAX_STR or end > len(body):
        raise MessageError("bad_length", f"HELLO {what} of {length} bytes does not fit the body")
    try:
        return body[at + 1 : end].decode(), end
    except UnicodeDecodeError as error:
        raise MessageError("bad_length", f"HELLO {what} is not UTF-8") from error


@dataclass(frozen=True)
class Hello:
    TYPE: ClassVar[MessageType] = MessageType.HELLO
    _HEAD: ClassVar[struct.Struct] = struct.Struct("<BBBBBB")
    protocol_version: int
    firmware: tuple[int, int, int]
    image_state: ImageState
    boot_reason: BootReason
    model: str
    serial: str

    @property
    def firmware_text(self) -> str:
        return ".".join(map(str, self.firmware))

    def body(self) -> bytes:
        head = self._HEAD.pack(self.protocol_version, *self.firmware, self.image_state, self.boot_reason)
        return head + _pack_str(self.model) + _pack_str(self.serial)

    @classmethod
    def from_body(cls, body: bytes) -> "Hello":
        if len(body) < cls._HEAD.size:
            raise MessageError("bad_length", f"HELLO body of {len(body)} bytes")
        version, major, minor, patch, state, reason = cls._HEAD.unpack_from(body)
        model, at = _unpack_str(body, cls._HEAD.size, "model")
        serial, at = _unpack_str(body, at, "serial")
        if at != len(body):
            raise MessageError("bad_length", f"HELLO has {len(body) - at} bytes after its serial")
        try:
            return cls(version, (major, minor, patch), ImageState(state), BootReason(reason), model, serial)
        except ValueError as error:
            raise MessageError("bad_length", f"HELLO: {error}") from error


@dataclass(frozen=True)
class Reading:
    channel: int
    raw: int
    scale: int
    status: ReadingStatus

    @property
    def value(self) -> float | None:
        """`raw × 10^scale`, or None when the sensor reports a fault."""
        if self.status & ReadingStatus.SENSOR_FAULT:
            return None
        return decimal_value(self.raw, self.scale)


def decimal_value(raw: int, scale: int) -> float:
    """`raw × 10^scale` as the nearest float (1234, -3 -> 1.234, not 1.2340000000000002)."""
    return raw / 10**-scale if scale < 0 else float(raw * 10**scale)


_READING = struct.Struct("<BibB")


@dataclass(frozen=True)
class Readings:
    TYPE: ClassVar[MessageType] = MessageType.READINGS
    _HEAD: ClassVar[struct.Struct] = struct.Struct("<QBB")
    time_ms: int
    time_synced: bool
    readings: tuple[Reading, ...]

    def body(self) -> bytes:
        if len(self.readings) > MAX_CHANNELS:
            raise ValueError(f"{len(self.readings)} readings; at most {MAX_CHANNELS}")
        head = self._HEAD.pack(self.time_ms, int(self.time_synced), len(self.readings))
        return head + b"".join(_READING.pack(r.channel, r.raw, r.scale, r.status) for r in self.readings)

    @classmethod
    def from_body(cls, body: bytes) -> "Readings":
        if len(body) < cls._HEAD.size:
            raise MessageError("bad_length", f"READINGS body of {len(body)} bytes")
        time_ms, synced, count = cls._HEAD.unpack_from(body)
        if count > MAX_CHANNELS or len(body) != cls._HEAD.size + count * _READING.size:
            raise MessageError("bad_length", f"READINGS of {count} readings in a body of {len(body)} bytes")
        readings = tuple(
            Reading(channel, raw, scale, ReadingStatus(status))
            for channel, raw, scale, status in _READING.iter_unpack(body[cls._HEAD.size :])
        )
        return cls(time_ms, bool(synced), readings)


@dataclass(frozen=True)
class ConfigValue(_Fixed):
    TYPE = MessageType.CONFIG_VALUE
    LAYOUT = struct.Struct("<Bi")
    key: int
    value: int


@dataclass(frozen=True)
class TimeAck(_Fixed):
    TYPE = MessageType.TIME_ACK
    LAYOUT = struct.Struct("<QB")
    previous_ms: int
    was_synced: int


@dataclass(frozen=True)
class UpdateStatus(_Fixed):
    TYPE = MessageType.UPDATE_STATUS
    LAYOUT = struct.Struct("<BBII")
    state: int
    result: int
    next_offset: int
    size: int


@dataclass(frozen=True)
class Error(_Fixed):
    TYPE = MessageType.ERROR
    LAYOUT = struct.Struct("<BBH")
    code: int
    about_type: int
    detail: int


@dataclass(frozen=True)
class Heartbeat(_Fixed):
    TYPE = MessageType.HEARTBEAT
    LAYOUT = struct.Struct("<IIHHHB")
    uptime_s: int
    frames_ok: int
    crc_errors: int
    framing_errors: int
    bad_messages: int
    image_state: int


Message = (
    Identify
    | Poll
    | ConfigGet
    | ConfigSet
    | TimeSync
    | UpdateBegin
    | UpdateChunk
    | UpdateCommit
    | UpdateConfirm
    | Hello
    | Readings
    | ConfigValue
    | TimeAck
    | UpdateStatus
    | Error
    | Heartbeat
)

MESSAGE_CLASSES: dict[MessageType, type[Message]] = {cls.TYPE: cls for cls in get_args(Message)}


def encode_message(message: Message, seq: int, flags: int = 0) -> bytes:
    data = _HEADER.pack(PROTOCOL_VERSION, message.TYPE, flags, seq & 0xFFFF) + message.body()
    if len(data) > MAX_MESSAGE:
        raise ValueError(f"{message.TYPE.name} of {len(data)} bytes; at most {MAX_MESSAGE}")
    return data


def decode_message(data: bytes) -> tuple[Header, Message]:
    if len(data) < HEADER_BYTES:
        raise MessageError("bad_length", f"{len(data)} bytes; a header is {HEADER_BYTES}")
    version, kind, flags, seq = _HEADER.unpack_from(data)
    if version != PROTOCOL_VERSION:
        raise MessageError("bad_version", f"protocol version {version}; this host speaks {PROTOCOL_VERSION}")
    try:
        message_type = MessageType(kind)
    except ValueError as error:
        raise MessageError("unknown_type", f"message type 0x{kind:02x}") from error
    message = MESSAGE_CLASSES[message_type].from_body(data[HEADER_BYTES:])
    return Header(message_type, seq, flags, version), message

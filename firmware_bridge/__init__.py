"""Microcontroller sensor nodes on a serial line: the protocol (PROTOCOL.md), its host side
(frames, messages, the link, firmware update) and, in `c/`, the reference node."""

from firmware_bridge.framing import FrameCounters, FrameDecoder, FrameError, crc16, decode_frame, encode_frame
from firmware_bridge.link import LinkCounters, LinkError, NodeLink, NodeRefused, NodeTimeout
from firmware_bridge.messages import (
    BootReason,
    ConfigKey,
    ErrorCode,
    Header,
    Hello,
    ImageState,
    Message,
    MessageError,
    MessageType,
    Reading,
    Readings,
    ReadingStatus,
    UpdateResult,
    UpdateState,
    decode_message,
    encode_message,
)
from firmware_bridge.update import UpdateFailed, UpdateOutcome, UpdateRolledBack, update_firmware

__all__ = [
    "BootReason",
    "ConfigKey",
    "ErrorCode",
    "FrameCounters",
    "FrameDecoder",
    "FrameError",
    "Header",
    "Hello",
    "ImageState",
    "LinkCounters",
    "LinkError",
    "Message",
    "MessageError",
    "MessageType",
    "NodeLink",
    "NodeRefused",
    "NodeTimeout",
    "Reading",
    "ReadingStatus",
    "Readings",
    "UpdateFailed",
    "UpdateOutcome",
    "UpdateResult",
    "UpdateRolledBack",
    "UpdateState",
    "crc16",
    "decode_frame",
    "decode_message",
    "encode_frame",
    "encode_message",
    "update_firmware",
]

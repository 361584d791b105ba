"""JSON codec for the contract's messages.

    encode_*(message) -> bytes        compact UTF-8 JSON
    decode_*(bytes)   -> message      or ContractError(reason)

How input breaks, and what the decoder says: not UTF-8 or not JSON
("not json: ..."), too large ("payload of N bytes exceeds ..."), wrong shape
or values ("invalid <path>: <why>"), unknown contract version. The decoder
never raises anything but ContractError.
"""

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from wire_contract.payload import BatchAck, GatewayStatus, TelemetryBatch, WarningMessage

MAX_PAYLOAD_BYTES = 1_048_576

_M = TypeVar("_M", bound=BaseModel)


class ContractError(ValueError):
    """A payload that does not follow the contract, with the reason why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _reason(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        path = ".".join(str(p) for p in item["loc"]) or "<root>"
        parts.append(f"invalid {path}: {item['msg']}")
    return "; ".join(parts)


def _decode(model: type[_M], data: bytes) -> _M:
    if len(data) > MAX_PAYLOAD_BYTES:
        raise ContractError(f"payload of {len(data)} bytes exceeds {MAX_PAYLOAD_BYTES} bytes")
    try:
        # strict: a number must be a JSON number, not "1.5" or true (no silent coercion on the wire)
        return model.model_validate_json(data, strict=True)
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise ContractError(f"not json: {error.errors()[0]['msg']}") from None
        raise ContractError(_reason(error)) from None


def encode_telemetry(batch: TelemetryBatch) -> bytes:
    return batch.model_dump_json().encode()


def decode_telemetry(data: bytes) -> TelemetryBatch:
    return _decode(TelemetryBatch, data)


def encode_warning(warning: WarningMessage) -> bytes:
    return warning.model_dump_json().encode()


def decode_warning(data: bytes) -> WarningMessage:
    return _decode(WarningMessage, data)


def encode_status(status: GatewayStatus) -> bytes:
    return status.model_dump_json().encode()


def decode_status(data: bytes) -> GatewayStatus:
    return _decode(GatewayStatus, data)


def encode_ack(ack: BatchAck) -> bytes:
    return ack.model_dump_json().encode()


def decode_ack(data: bytes) -> BatchAck:
    return _decode(BatchAck, data)

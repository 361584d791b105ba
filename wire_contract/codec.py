"""JSON codec for the contract's messages.

    encode_*(message) -> bytes        compact UTF-8 JSON
    decode_*(bytes)   -> message      or ContractError(reason)
    decode_telemetry also reads the packed form (`wire_contract.packed`)

How input breaks, and what the decoder says: not UTF-8 or not JSON
("not json: ..."), too large ("payload of N bytes exceeds ..."), wrong shape
or values ("invalid <path>: <why>"), unknown contract version. The decoder
never raises anything but ContractError.
"""

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from wire_contract.errors import ContractError, validation_reason
from wire_contract.packed import PayloadForm, form_of, unpack_telemetry
from wire_contract.payload import BatchAck, GatewayStatus, TelemetryBatch, WarningMessage

MAX_PAYLOAD_BYTES = 1_048_576

_M = TypeVar("_M", bound=BaseModel)


def _decode(model: type[_M], data: bytes) -> _M:
    if len(data) > MAX_PAYLOAD_BYTES:
        raise ContractError(f"payload of {len(data)} bytes exceeds {MAX_PAYLOAD_BYTES} bytes")
    try:
        # strict: a number must be a JSON number, not "1.5" or true (no silent coercion on the wire)
        return model.model_validate_json(data, strict=True)
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise ContractError(f"not json: {error.errors()[0]['msg']}") from None
        raise ContractError(validation_reason(error)) from None


def encode_telemetry(batch: TelemetryBatch) -> bytes:
    return batch.model_dump_json().encode()


def decode_telemetry(data: bytes, content_type: str | None = None) -> TelemetryBatch:
    """Either form of a batch (`wire_contract.packed`): JSON, or packed as the content type or first byte says."""
    return decode_telemetry_form(data, content_type)[0]


def decode_telemetry_form(data: bytes, content_type: str | None = None) -> tuple[TelemetryBatch, PayloadForm]:
    """The batch and the form it came in (ingest counts each)."""
    if len(data) > MAX_PAYLOAD_BYTES:
        raise ContractError(f"payload of {len(data)} bytes exceeds {MAX_PAYLOAD_BYTES} bytes")
    form = form_of(data, content_type)
    if form is PayloadForm.packed:
        return unpack_telemetry(data), form
    return _decode(TelemetryBatch, data), form


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

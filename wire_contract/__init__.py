"""The wire contract between Floodwatch gateways and the centre.

Both sides import this package and nothing else defines topics or payloads:
`topics` holds the topic layout, `payload` the typed messages, `codec` turns
them into bytes and back, refusing malformed input with a reason.
"""

from wire_contract.codec import (
    decode_ack,
    decode_status,
    decode_telemetry,
    decode_telemetry_form,
    decode_warning,
    encode_ack,
    encode_status,
    encode_telemetry,
    encode_warning,
)
from wire_contract.errors import ContractError
from wire_contract.packed import CONTENT_TYPES, PayloadForm, pack_telemetry
from wire_contract.payload import (
    CONTRACT_VERSION,
    QUANTITY_UNITS,
    BatchAck,
    DeviceStatus,
    GatewayStatus,
    Quality,
    Reading,
    TaskStatus,
    TelemetryBatch,
    WarningMessage,
)
from wire_contract.reasons import MODBUS_EXCEPTIONS, FailureReason, modbus_exception_reason, modbus_exception_words
from wire_contract.topics import (
    DEAD_LETTER_TOPIC,
    STATUS_SUBSCRIPTION,
    TELEMETRY_SUBSCRIPTION,
    WARNINGS_TOPIC,
    ack_topic,
    gateway_from_topic,
    status_topic,
    telemetry_topic,
)

__all__ = [
    "CONTENT_TYPES",
    "CONTRACT_VERSION",
    "DEAD_LETTER_TOPIC",
    "MODBUS_EXCEPTIONS",
    "QUANTITY_UNITS",
    "STATUS_SUBSCRIPTION",
    "TELEMETRY_SUBSCRIPTION",
    "WARNINGS_TOPIC",
    "BatchAck",
    "ContractError",
    "DeviceStatus",
    "FailureReason",
    "GatewayStatus",
    "PayloadForm",
    "Quality",
    "Reading",
    "TaskStatus",
    "TelemetryBatch",
    "WarningMessage",
    "ack_topic",
    "decode_ack",
    "decode_status",
    "decode_telemetry",
    "decode_telemetry_form",
    "decode_warning",
    "encode_ack",
    "encode_status",
    "encode_telemetry",
    "encode_warning",
    "gateway_from_topic",
    "modbus_exception_reason",
    "modbus_exception_words",
    "pack_telemetry",
    "status_topic",
    "telemetry_topic",
]

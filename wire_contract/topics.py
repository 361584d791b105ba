"""MQTT topic layout, version 1.

floodwatch/v1/<gateway>/telemetry   gateway -> centre, QoS 1, TelemetryBatch
floodwatch/v1/<gateway>/status      gateway -> centre, retained, online/offline
floodwatch/v1/<gateway>/ack         centre -> gateway, QoS 1, BatchAck: these batches are stored
floodwatch/v1/warnings              centre -> everyone, QoS 1, WarningMessage
floodwatch/v1/deadletter            centre, refused messages with their reason
"""

import re

PREFIX = "floodwatch/v1"
TELEMETRY_SUBSCRIPTION = f"{PREFIX}/+/telemetry"
STATUS_SUBSCRIPTION = f"{PREFIX}/+/status"
WARNINGS_TOPIC = f"{PREFIX}/warnings"
DEAD_LETTER_TOPIC = f"{PREFIX}/deadletter"

# A gateway id is one topic level: no wildcards, separators or spaces.
GATEWAY_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_GATEWAY_ID = re.compile(GATEWAY_ID_PATTERN)
_TELEMETRY = re.compile(rf"^{PREFIX}/([^/]+)/telemetry$")


def _checked(gateway: str) -> str:
    if not _GATEWAY_ID.match(gateway):
        raise ValueError(f"gateway id {gateway!r} must match {GATEWAY_ID_PATTERN}")
    return gateway


def telemetry_topic(gateway: str) -> str:
    return f"{PREFIX}/{_checked(gateway)}/telemetry"


def status_topic(gateway: str) -> str:
    return f"{PREFIX}/{_checked(gateway)}/status"


def ack_topic(gateway: str) -> str:
    return f"{PREFIX}/{_checked(gateway)}/ack"


def gateway_from_topic(topic: str) -> str | None:
    """The gateway id a telemetry topic names, or None if it is not one."""
    match = _TELEMETRY.match(topic)
    return match.group(1) if match else None

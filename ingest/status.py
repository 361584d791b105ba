"""Gateways' status heartbeats into InfluxDB: the `gateway_status` measurement.

    measurement  gateway_status
    tag          gateway
    fields       online (bool), and from a heartbeat: uptime_s, buffer_depth,
                 oldest_unsent_age_s, device_errors (sum over devices), dropped_readings
                 (sum over priorities), clock_synced, cpu_temp_c, load_1m, disk_free_mb
                 (oldest_unsent_age_s is 0 when nothing waits)
    time         the heartbeat's ts_ms; the last will (`offline`, no time) at its arrival

The gateway publishes its status retained on `floodwatch/v1/<gateway>/status` and the
broker publishes `offline` as its last will. A second consumer of its own
(`<client_id>-status`, never shared: a heartbeat is one point per gateway and time, so
two ingest workers writing it store it once) acknowledges a message once its point is
written. A payload that is not a GatewayStatus, or names another gateway than its
topic, is dead-lettered (`contract`, `topic_mismatch`) and acknowledged; an empty one (a
retained status cleared by hand) is acknowledged and ignored.
"""

import re
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from centre.influx import InfluxV1
from centre.line_protocol import FieldValue, Point, encode_points
from centre.mqtt_consumer import BatchConsumer
from ingest.config import IngestConfig
from ingest.dead_letters import DeadLetters
from wire_contract import ContractError, GatewayStatus, decode_status
from wire_contract.topics import PREFIX

STATUS_SUBSCRIPTION = f"{PREFIX}/+/status"
_STATUS_TOPIC = re.compile(rf"^{PREFIX}/([^/]+)/status$")
MEASUREMENT = "gateway_status"


def status_point(status: GatewayStatus, received_ms: int) -> Point:
    fields: dict[str, FieldValue] = {"online": status.state == "online"}
    optional: dict[str, float | int | bool | None] = {
        "uptime_s": status.uptime_s,
        "buffer_depth": status.buffer_depth,
        "oldest_unsent_age_s": status.oldest_unsent_age_s,
        "clock_synced": status.clock_synced,
        "cpu_temp_c": status.cpu_temp_c,
        "load_1m": status.load_1m,
        "disk_free_mb": status.disk_free_mb,
    }
    if status.buffer_depth == 0 and status.oldest_unsent_age_s is None:
        optional["oldest_unsent_age_s"] = 0.0  # nothing waits: age 0, so last() does not show an old backlog
    fields |= {key: value for key, value in optional.items() if value is not None}
    if status.uptime_s is not None:  # a heartbeat: the counters, even when all are zero
        fields["device_errors"] = sum(status.device_errors.values())
        fields["dropped_readings"] = sum(status.dropped_readings.values())
    return Point(MEASUREMENT, {"gateway": status.gateway}, fields, status.ts_ms or received_ms)


class StatusRecorder:
    def __init__(self, config: IngestConfig, influx: InfluxV1, ready: Callable[[], None], dead: DeadLetters) -> None:
        self.influx = influx
        self.ready = ready
        self.dead_letters = dead
        self.recorded = 0
        self.consumer = BatchConsumer(
            config.broker.host,
            config.broker.port,
            f"{config.broker.client_id[:57]}-status",
            STATUS_SUBSCRIPTION,
            self.handle,
            config.max_batch_messages,
            config.flush_ms,
            backoff_max_s=config.backoff_max_ms / 1000,
            keepalive_s=config.broker.keepalive_s,
            login=config.broker.login(),
        )

    def handle(self, messages: list[mqtt.MQTTMessage]) -> None:
        self.ready()
        received_ms = time.time_ns() // 1_000_000
        points, refused = [], []
        for message in messages:
            payload = bytes(message.payload)
            if not payload:  # a retained status cleared by hand: nothing to record
                continue
            match = _STATUS_TOPIC.match(message.topic)
            try:
                status = decode_status(payload)
            except ContractError as error:
                refused.append(("contract", error.reason, message.topic, payload))
                continue
            if match is None or match.group(1) != status.gateway:
                reason = f"status of gateway {status.gateway!r} on topic {message.topic!r}"
                refused.append(("topic_mismatch", reason, message.topic, payload))
                continue
            points.append(status_point(status, received_ms))
        if points:
            self.influx.write_lines(encode_points(points))  # InfluxUnavailable: the consumer retries
            self.recorded += len(points)
        for kind, reason, topic, payload in refused:
            self.dead_letters.add(kind, reason, topic, payload)

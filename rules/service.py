"""The live rule service: telemetry from MQTT -> LevelEvaluator -> warnings on MQTT and in InfluxDB.

A telemetry message is acknowledged only after its warnings are published (QoS 1,
PUBACK received) and written to InfluxDB, so a crash repeats work rather than
losing a warning. Messages that break the contract are left to ingest, which
dead-letters them; here they are counted and logged.

Level state lives in memory: after a restart every sensor starts at level 0 and
the next reading re-establishes its level (with a fresh warning).
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

from ingest.consumer import BatchConsumer
from ingest.influx import InfluxV1
from ingest.line_protocol import FieldValue, Point
from rules.engine import LevelEvaluator
from rules.levels import SHIPPED_ALARM_LEVELS, SHIPPED_RULES, load_alarm_levels, load_rules
from wire_contract import (
    TELEMETRY_SUBSCRIPTION,
    WARNINGS_TOPIC,
    ContractError,
    WarningMessage,
    decode_telemetry,
    encode_warning,
)

log = logging.getLogger(__name__)
PUBLISH_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RulesServiceConfig:
    mqtt_host: str
    mqtt_port: int
    influx_url: str
    influx_database: str = "floodwatch"
    influx_token: str | None = None
    client_id: str = "floodwatch-rules-1"
    levels_path: Path = SHIPPED_ALARM_LEVELS
    rules_path: Path = SHIPPED_RULES


def warning_point(warning: WarningMessage) -> Point:
    tags = {"station": warning.station, "sensor": warning.sensor, "rule": warning.rule}
    fields: dict[str, FieldValue] = {
        "level": warning.level,
        "previous_level": warning.previous_level,
        "value": warning.value,
        "warning_id": warning.warning_id,
    }
    return Point("warning", tags, fields, warning.ts_ms)


class RulesService:
    def __init__(self, config: RulesServiceConfig) -> None:
        levels = load_alarm_levels(config.levels_path)
        self.evaluator = LevelEvaluator(load_rules(config.rules_path, levels), levels)
        self.influx = InfluxV1(config.influx_url, config.influx_database, config.influx_token)
        self.consumer = BatchConsumer(
            config.mqtt_host, config.mqtt_port, config.client_id, TELEMETRY_SUBSCRIPTION, self.handle
        )
        self.warnings_sent = 0
        self.skipped_messages = 0

    def start(self) -> "RulesService":
        self.consumer.start()
        return self

    def stop(self) -> None:
        self.consumer.stop()
        self.influx.close()

    def handle(self, messages: list[mqtt.MQTTMessage]) -> None:
        """Evaluate, then deliver; if delivery fails, roll the levels back so the retry fires again."""
        before = self.evaluator.snapshot()
        try:
            self._evaluate_and_deliver(messages)
        except Exception:
            self.evaluator.restore(before)
            raise

    def _evaluate_and_deliver(self, messages: list[mqtt.MQTTMessage]) -> None:
        warnings = []
        for message in messages:
            try:
                batch = decode_telemetry(bytes(message.payload))
            except ContractError as error:
                self.skipped_messages += 1
                log.info(
                    "telemetry_skipped",
                    extra={"event": "telemetry_skipped", "topic": message.topic, "reason": error.reason},
                )
                continue
            warnings += self.evaluator.evaluate(batch)
        if not warnings:
            return
        self.influx.write([warning_point(w) for w in warnings])
        for warning in warnings:
            info = self.consumer.client.publish(WARNINGS_TOPIC, encode_warning(warning), qos=1)
            info.wait_for_publish(PUBLISH_TIMEOUT_S)
            if not info.is_published():
                raise TimeoutError(f"warning {warning.warning_id} not acknowledged by the broker")
            self.warnings_sent += 1
            log.info(
                "warning",
                extra={
                    "event": "warning",
                    "station": warning.station,
                    "level": warning.level,
                    "previous_level": warning.previous_level,
                    "value": warning.value,
                    "warning_id": warning.warning_id,
                },
            )

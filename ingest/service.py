"""MQTT telemetry -> validation -> InfluxDB, acknowledged only once written."""

import logging

import paho.mqtt.client as mqtt

from ingest.config import IngestConfig
from ingest.consumer import BatchConsumer
from ingest.dead_letters import DeadLetters
from ingest.influx import InfluxRejected, InfluxV1
from ingest.line_protocol import Point
from ingest.points import batch_points
from wire_contract import TELEMETRY_SUBSCRIPTION, ContractError, decode_telemetry, gateway_from_topic

log = logging.getLogger(__name__)


class IngestService:
    def __init__(self, config: IngestConfig) -> None:
        self.config = config
        self.influx = InfluxV1(
            config.influx.url, config.influx.database, config.influx.token, config.influx.timeout_ms / 1000
        )
        group = config.broker.shared_group
        subscription = f"$share/{group}/{TELEMETRY_SUBSCRIPTION}" if group else TELEMETRY_SUBSCRIPTION
        self.consumer = BatchConsumer(
            config.broker.host,
            config.broker.port,
            config.broker.client_id,
            subscription,
            self.handle,
            config.max_batch_messages,
            config.flush_ms,
        )
        self.dead_letters = DeadLetters(config.dead_letter_file, self.consumer.client)
        self.points_written = 0

    def start(self) -> "IngestService":
        if self.config.influx.create_database:
            self.influx.create_database()
        self.consumer.start()
        return self

    def stop(self) -> None:
        self.consumer.stop()
        self.influx.close()

    def handle(self, messages: list[mqtt.MQTTMessage]) -> None:
        accepted = [(m, points) for m in messages if (points := self._points_of(m)) is not None]
        all_points = [p for _, points in accepted for p in points]
        try:
            self.influx.write(all_points)
        except InfluxRejected:
            # One bad message must not block the others: find it by writing one by one.
            self._write_each(accepted)
            return
        self.points_written += len(all_points)

    def _points_of(self, message: mqtt.MQTTMessage) -> list[Point] | None:
        topic, payload = message.topic, bytes(message.payload)
        try:
            batch = decode_telemetry(payload)
        except ContractError as error:
            self.dead_letters.add("contract", error.reason, topic, payload)
            return None
        if gateway_from_topic(topic) != batch.gateway:
            reason = f"payload gateway {batch.gateway!r} does not match topic {topic!r}"
            self.dead_letters.add("topic_mismatch", reason, topic, payload)
            return None
        return batch_points(batch)

    def _write_each(self, accepted: list[tuple[mqtt.MQTTMessage, list[Point]]]) -> None:
        for message, points in accepted:
            try:
                self.influx.write(points)
                self.points_written += len(points)
            except InfluxRejected as error:
                self.dead_letters.add("influx_rejected", str(error), message.topic, bytes(message.payload))

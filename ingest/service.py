"""MQTT telemetry -> validation -> InfluxDB, acknowledged only once written.

One batch of messages goes through `handle`: every message is validated
(`validation.py`), the accepted points of all of them are written in one
request, and only then are refusals dead-lettered and sequence numbers
tracked, so a batch retried while InfluxDB is down is neither dead-lettered
nor counted twice. If InfluxDB refuses the write as a whole (a type conflict in
one point), the messages are written one by one and only the culprit is
dead-lettered.

Then each gateway hears which of its batches are stored (`BatchAck` on its own
`ack` topic, QoS 1): only then does it delete them from its disk. A repeat of a
batch (same seq, resent after a timeout or a broker crash) is written again,
which InfluxDB makes idempotent (same series and time), and confirmed again.
"""

import logging
import threading
import time

import paho.mqtt.client as mqtt

from centre.influx import InfluxRejected, InfluxUnavailable
from centre.mqtt_consumer import BatchConsumer
from ingest.config import IngestConfig
from ingest.confirmations import Confirmations
from ingest.dead_letters import DeadLetters
from ingest.metrics import IngestMetrics, MetricsServer, health_report
from ingest.sequences import GatewaySequence, SequenceTracker
from ingest.status import StatusRecorder
from ingest.storage import apply_storage_layout
from ingest.validation import Checked, Validator
from wire_contract import TELEMETRY_SUBSCRIPTION

log = logging.getLogger(__name__)


class IngestService:
    def __init__(self, config: IngestConfig) -> None:
        self.config = config
        self.influx = config.influx.client()
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
            max_inflight_messages=config.max_inflight_messages,
            workers=config.writers,
            backoff_max_s=config.backoff_max_ms / 1000,
            max_queued_messages=config.max_queued_messages,
            max_queued_bytes=int(config.max_queued_mb * 1024 * 1024),
            keepalive_s=config.broker.keepalive_s,
            login=config.broker.login(),
        )
        gateways = frozenset(config.validation.gateways) if config.validation.gateways is not None else None
        self.validator = Validator(gateways, config.validation.max_future_s, config.validation.max_age_days)
        self.dead_letters = DeadLetters(
            config.dead_letter_file, self.consumer.publish, config.dead_letter_max_payload_kb * 1024
        )
        self.status = StatusRecorder(config, self.influx, self._set_up_database, self.dead_letters)
        self.sequences = SequenceTracker()
        self.metrics = IngestMetrics()
        self.metrics_server: MetricsServer | None = None
        if config.metrics is not None:
            self.metrics_server = MetricsServer(config.metrics.host, config.metrics.port, self.metrics, self.health)
        self.points_written = 0
        self.readings_refused = 0
        self.messages_by_form: dict[str, int] = {}  # telemetry decoded per payload form (json, packed)
        self.confirmations = Confirmations(self.consumer.send, config.ack_interval_ms / 1000)
        self._lock = threading.Lock()
        self._setup_lock = threading.Lock()
        self._database_ready = False
        self.metrics.watch(self)

    def start(self) -> "IngestService":
        """Connect and consume; an InfluxDB that is not up yet is set up before the first write."""
        try:
            self._set_up_database()
        except InfluxUnavailable as error:
            log.warning(
                "influx_unavailable_at_start", extra={"event": "influx_unavailable_at_start", "reason": str(error)}
            )
        if self.metrics_server is not None:
            self.metrics_server.start()
        self.confirmations.start()
        self.consumer.start()
        self.status.consumer.start()
        return self

    def stop(self) -> None:
        self.status.consumer.stop()
        self.consumer.stop()
        self.confirmations.stop()
        if self.metrics_server is not None:
            self.metrics_server.stop()
        self.influx.close()

    def _set_up_database(self) -> None:
        with self._setup_lock:
            if self._database_ready:
                return
            if self.config.influx.create_database:
                self.influx.create_database()
                if self.config.storage.manage:
                    apply_storage_layout(self.influx, self.config.storage)
            self._database_ready = True

    def failing_s(self) -> float:
        since = self.consumer.failing_since
        return 0.0 if since is None else time.monotonic() - since

    def health(self) -> dict[str, object]:
        after = self.config.metrics.unhealthy_after_s if self.config.metrics else 60.0
        consumer = self.consumer
        return health_report(
            self.failing_s(), consumer.stalled_s(), after, consumer.connected.is_set(), consumer.held_messages
        )

    def sequences_snapshot(self) -> dict[str, GatewaySequence]:
        with self._lock:
            return dict(self.sequences.gateways)

    def handle(self, messages: list[mqtt.MQTTMessage]) -> None:
        self._set_up_database()
        now_ms = time.time_ns() // 1_000_000
        check = self.validator.check
        checked = [check(m.topic, bytes(m.payload), now_ms) for m in messages]
        lines = [line for c in checked for line in c.lines]
        started = time.perf_counter()
        try:
            self._write(lines)  # InfluxUnavailable propagates: the consumer retries the batch
        except InfluxRejected:
            # One bad point must not block the others: find it by writing message by message.
            self._write_each(checked)
        else:
            self.metrics.write_seconds.observe(time.perf_counter() - started)
            self.metrics.batch_points.observe(len(lines))
            with self._lock:
                self.points_written += len(lines)
        self.metrics.batch_messages.observe(len(messages))
        self._settle(checked)
        self._confirm(checked)

    def _write(self, lines: list[str]) -> None:
        if lines:
            self.influx.write_lines("\n".join(lines).encode())

    def _write_each(self, checked: list[Checked]) -> None:
        for message in checked:
            try:
                self._write(message.lines)
            except InfluxRejected as error:
                self.dead_letters.add("influx_rejected", str(error), message.topic, message.payload)
                continue
            with self._lock:
                self.points_written += len(message.lines)

    def _settle(self, checked: list[Checked]) -> None:
        """After the write: dead letters, refused readings and sequence numbers, once per message."""
        now_s = time.time()
        for message in checked:
            for refusal in message.refusals:
                self.dead_letters.add(refusal.kind, refusal.reason, message.topic, message.payload)
            with self._lock:
                if message.form is not None:
                    self.messages_by_form[message.form.value] = self.messages_by_form.get(message.form.value, 0) + 1
                self.readings_refused += message.readings - len(message.lines) if message.gateway else 0
                if message.gateway is not None and message.seq is not None:
                    self.sequences.observe(message.gateway, message.seq, now_s)

    def _confirm(self, checked: list[Checked]) -> None:
        """Each gateway will hear that these batches are stored (or dead-lettered with their payload)."""
        for message in checked:
            if message.gateway is not None and message.seq is not None:
                self.confirmations.stored(message.gateway, message.seq)

"""The live rule service: telemetry from MQTT -> RuleBookEvaluator -> warnings on MQTT and in InfluxDB.

Event time: rules judge readings by their `ts_ms`, never by when they arrived; the late
and out-of-order policy is stated in `rules.evaluator`. Staleness rules are judged by
a tick every `tick_s` seconds against the wall clock (silence has no event time).

A telemetry message is acknowledged only after the evaluator's new state and the
warnings it decided are committed to SQLite (`rules.store`), and those warnings are
published (QoS 1, PUBACK received) and written to InfluxDB. A restarted service loads
the state, delivers what the outbox still holds, and goes on: no transition is sent
twice under two ids, and none is lost. Every warning carries the transition's stable
id (`rule:sensor:ts_ms:from->to`) so receivers can drop a repeat.

Messages that break the contract are left to ingest, which dead-letters them; here
they are counted and logged.
"""

import gc
import logging
import sqlite3
import threading
import time

import paho.mqtt.client as mqtt

from centre.line_protocol import FieldValue, Point
from centre.mqtt_consumer import BatchConsumer
from rules.evaluator import RuleBookEvaluator
from rules.levels import load_alarm_levels
from rules.network import load_network
from rules.rulebook import load_rulebook
from rules.runner import Transition
from rules.service_config import RulesServiceConfig
from rules.store import StateStore
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


def warning_point(warning: WarningMessage) -> Point:
    tags = {"station": warning.station, "sensor": warning.sensor, "rule": warning.rule}
    fields: dict[str, FieldValue] = {
        "level": warning.level,
        "previous_level": warning.previous_level,
        "value": warning.value,
        "warning_id": warning.warning_id,
        "kind": warning.kind,
        "data_warning": warning.data_warning,
    }
    return Point("warning", tags, fields, warning.ts_ms)


class RulesService:
    def __init__(self, config: RulesServiceConfig) -> None:
        self.config = config
        levels = load_alarm_levels(config.levels_path)
        self._network = load_network(config.network_path)
        self._book = load_rulebook(config.rules_path, levels, self._network)  # a forecast rule reads the network
        self._levels = levels
        self._watch_from_ms = int(time.time() * 1000)  # staleness: a sensor never heard from counts from here
        self.store = StateStore(config.state_path)
        self.evaluator = self._committed_evaluator()
        influx = config.influx
        self.influx = influx.client()
        broker = config.broker
        self.consumer = BatchConsumer(
            broker.host,
            broker.port,
            broker.client_id,
            TELEMETRY_SUBSCRIPTION,
            self.handle,
            config.max_batch_messages,
            config.batch_window_ms,
            keepalive_s=broker.keepalive_s,
            login=broker.login(),
        )
        self.warnings_sent = 0
        self.skipped_messages = 0
        self._lock = threading.Lock()  # the consumer's worker and the ticker share the evaluator
        self._stopping = threading.Event()
        self._ticker = threading.Thread(target=self._tick_loop, name=f"{broker.client_id}-tick", daemon=True)

    def start(self) -> "RulesService":
        """Connect, then deliver what the outbox still holds from before a restart."""
        # The rule book and the evaluator live as long as the service: frozen, they are out of
        # the collector's sight, so the full collections that each batch's readings set off
        # do not walk them (95 ms each at 22,500 rules, bench/rules_live.py).
        gc.freeze()
        self.consumer.start()
        if not self.consumer.connected.wait(PUBLISH_TIMEOUT_S):
            raise TimeoutError(f"no MQTT connection to {self.config.broker.host}:{self.config.broker.port}")
        with self._lock:
            try:
                self._deliver(self.store.pending())
            except (OSError, RuntimeError) as error:  # InfluxError, TimeoutError: kept, retried with the next batch
                log.warning("outbox_delivery_failed", extra={"event": "outbox_delivery_failed", "error": str(error)})
        if self.config.tick_s > 0:
            self._ticker.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._ticker.is_alive():
            self._ticker.join()
        self.consumer.stop()
        self.influx.close()
        self.store.close()

    def handle(self, messages: list[mqtt.MQTTMessage]) -> None:
        """Evaluate and commit (state + outbox), then deliver; a failed delivery is retried from the outbox."""
        with self._lock:
            transitions = []
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
                transitions += self.evaluator.evaluate(batch)
            self._commit_and_deliver(transitions)

    def tick(self, now_ms: int | None = None) -> None:
        """Judge silence now (the ticker calls this every `tick_s`)."""
        with self._lock:
            self._commit_and_deliver(self.evaluator.tick(now_ms if now_ms is not None else int(time.time() * 1000)))

    def _tick_loop(self) -> None:
        while not self._stopping.wait(self.config.tick_s):
            try:
                self.tick()
            except (OSError, RuntimeError) as error:  # InfluxError, TimeoutError: kept in the outbox, retried
                log.warning("outbox_delivery_failed", extra={"event": "outbox_delivery_failed", "error": str(error)})

    def _committed_evaluator(self) -> RuleBookEvaluator:
        """An evaluator in the state last committed to the store (fresh if nothing was)."""
        evaluator = RuleBookEvaluator(
            self._book, self._levels, watch_from_ms=self._watch_from_ms, network=self._network
        )
        saved = self.store.load()
        if saved is not None:
            evaluator.load(saved)
        return evaluator

    def _commit_and_deliver(self, transitions: list[Transition]) -> None:
        warnings = [self.evaluator.to_warning(t) for t in transitions]
        changes = self.evaluator.take_changes()
        if warnings or (self.store.path is not None and changes):
            try:
                self.store.commit(changes, warnings)
            except sqlite3.Error:
                # The evaluator has moved past readings whose state and warnings were not
                # saved: back to the committed state, so the consumer's retry of the same
                # (unacknowledged) messages decides them again instead of finding them late.
                self.evaluator = self._committed_evaluator()
                raise
        self._deliver(self.store.pending())

    def _deliver(self, warnings: list[WarningMessage]) -> None:
        if not warnings:
            return
        self.influx.write([warning_point(w) for w in warnings])
        for warning in warnings:
            if not self.consumer.publish(WARNINGS_TOPIC, encode_warning(warning)).wait(PUBLISH_TIMEOUT_S):
                raise TimeoutError(f"warning {warning.warning_id} not acknowledged by the broker")
            self.store.mark_sent([warning.warning_id])
            self.warnings_sent += 1
            log.info(
                "warning",
                extra={
                    "event": "warning",
                    "station": warning.station,
                    "rule": warning.rule,
                    "kind": warning.kind,
                    # not "level": log tools read that key as the record's own log level
                    "severity": warning.level,
                    "previous_severity": warning.previous_level,
                    "value": warning.value,
                    "warning_id": warning.warning_id,
                },
            )

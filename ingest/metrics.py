"""Prometheus metrics and the health endpoint of one ingest process.

    GET /metrics   Prometheus text format (prometheus-client), from a registry of
                   this service's own (no global state: two services, two registries)
    GET /healthz   200 {"status": "ok", ...}; 503 {"status": "unhealthy", "reasons": [...]}
                   while the broker connection is down, or once messages have waited
                   unacknowledged `unhealthy_after_s` with no batch handled

Counters that the consumer and service keep as plain integers are read at
scrape time by a collector; the histograms are observed as batches are written.
"""

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from ingest.service import IngestService

BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.batch_messages = Histogram(
            "floodwatch_ingest_batch_messages",
            "MQTT messages per written batch",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_points = Histogram(
            "floodwatch_ingest_batch_points",
            "Points per write to InfluxDB",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.write_seconds = Histogram(
            "floodwatch_ingest_write_seconds",
            "Duration of successful writes to InfluxDB",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def watch(self, service: "IngestService") -> None:
        self.registry.register(_ServiceCollector(service))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _ServiceCollector(Collector):
    def __init__(self, service: "IngestService") -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        consumer, service = self.service.consumer, self.service
        prefix = "floodwatch_ingest_"
        for name, doc, value in (
            ("messages_received", "Telemetry messages received from the broker", consumer.received_messages),
            ("messages_handled", "Messages handled and acknowledged", consumer.handled_messages),
            ("redeliveries", "Messages the broker sent again (DUP flag)", consumer.redelivered_messages),
            ("write_failures", "Failed attempts to write a batch (retried)", consumer.failed_attempts),
            ("points_written", "Points InfluxDB accepted", service.points_written),
            ("readings_refused", "Readings refused by validation", service.readings_refused),
        ):
            yield CounterMetricFamily(prefix + name, doc, value=value)
        forms = CounterMetricFamily(prefix + "messages_by_form", "Telemetry decoded, by payload form", labels=["form"])
        for form, count in sorted(dict(service.messages_by_form).items()):
            forms.add_metric([form], count)
        yield forms
        dead = CounterMetricFamily(prefix + "dead_letters", "Dead letters by reason", labels=["reason"])
        for kind, count in sorted(service.dead_letters.counts.items()):
            dead.add_metric([kind], count)
        yield dead
        yield GaugeMetricFamily(prefix + "queued_messages", "Received, not yet handled", value=consumer.queued_messages)
        yield GaugeMetricFamily(
            prefix + "held_messages", "Received, not yet acknowledged (bounded)", value=consumer.held_messages
        )
        yield GaugeMetricFamily(prefix + "held_bytes", "Payload bytes of the held messages", value=consumer.held_bytes)
        yield CounterMetricFamily(
            prefix + "read_pauses", "Times reading from the broker stopped at the bound", value=consumer.paused_reads
        )
        yield GaugeMetricFamily(prefix + "mqtt_connected", "1 when connected", value=int(consumer.connected.is_set()))
        failing = service.failing_s()
        yield GaugeMetricFamily(prefix + "failing_seconds", "How long writes have been failing", value=failing)
        yield from self._gateways()

    def _gateways(self) -> Iterator[Metric]:
        prefix = "floodwatch_ingest_gateway_"
        last_seen = GaugeMetricFamily(prefix + "last_seen_seconds", "Unix time of the last batch", labels=["gateway"])
        batches = CounterMetricFamily(prefix + "batches", "Batches stored per gateway", labels=["gateway"])
        gaps = CounterMetricFamily(prefix + "sequence_gaps", "Sequence numbers skipped", labels=["gateway"])
        missing = GaugeMetricFamily(prefix + "sequence_missing", "Skipped and still missing", labels=["gateway"])
        late = CounterMetricFamily(prefix + "sequence_late", "Batches that filled a gap", labels=["gateway"])
        replays = CounterMetricFamily(prefix + "sequence_replays", "Batches seen before", labels=["gateway"])
        restarts = CounterMetricFamily(prefix + "restarts", "Sequence restarted at 0", labels=["gateway"])
        confirmed = CounterMetricFamily(
            prefix + "batches_confirmed", "Batches confirmed stored to the gateway (BatchAck)", labels=["gateway"]
        )
        for gateway, count in sorted(self.service.confirmations.sent_snapshot().items()):
            confirmed.add_metric([gateway], count)
        yield confirmed
        for gateway, state in sorted(self.service.sequences_snapshot().items()):
            last_seen.add_metric([gateway], state.last_seen_s)
            batches.add_metric([gateway], state.batches)
            gaps.add_metric([gateway], state.gaps)
            missing.add_metric([gateway], len(state.missing))
            late.add_metric([gateway], state.late)
            replays.add_metric([gateway], state.replays)
            restarts.add_metric([gateway], state.restarts)
        yield from (last_seen, batches, gaps, missing, late, replays, restarts)


class MetricsServer:
    """/metrics and /healthz over HTTP in a background thread; port 0 picks a free port."""

    def __init__(self, host: str, port: int, metrics: IngestMetrics, health: Callable[[], dict[str, object]]) -> None:
        self._host, self._port = host, port
        self.metrics, self.health = metrics, health
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self._port

    def start(self) -> "MetricsServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._reply(200, CONTENT_TYPE_LATEST, owner.metrics.exposition())
                elif self.path == "/healthz":
                    report = owner.health()
                    status = 200 if report["status"] == "ok" else 503
                    self._reply(status, "application/json", json.dumps(report).encode())
                else:
                    self._reply(404, "text/plain", b"try /metrics or /healthz\n")

            def _reply(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((self._host, self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="ingest-metrics", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def health_report(
    failing_s: float, stalled_s: float, unhealthy_after_s: float, mqtt_connected: bool, held_messages: int
) -> dict[str, object]:
    reasons = []
    if not mqtt_connected:
        reasons.append("no connection to the MQTT broker")
    if stalled_s >= unhealthy_after_s:
        reasons.append(f"{held_messages} messages waiting {stalled_s:.0f} s with no batch stored")
    if failing_s >= unhealthy_after_s:
        reasons.append(f"writes to InfluxDB failing for {failing_s:.0f} s")
    return {
        "status": "unhealthy" if reasons else "ok",
        "reasons": reasons,
        "failing_for_s": round(failing_s, 1),
        "stalled_for_s": round(stalled_s, 1),
        "held_messages": held_messages,
        "mqtt_connected": mqtt_connected,
        "checked_at": time.time(),
    }

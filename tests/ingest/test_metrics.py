"""/metrics and /healthz scraped over real HTTP from a running ingest, with real peers."""

from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from devstack.centre_influx import ingest_influx
from devstack.services import InfluxDB, Mosquitto, free_port
from ingest import IngestConfig, IngestService
from wire_contract import encode_telemetry, pack_telemetry, telemetry_topic


def _scrape(service: IngestService) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    assert service.metrics_server is not None
    text = httpx.get(f"http://127.0.0.1:{service.metrics_server.port}/metrics", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _health(service: IngestService) -> tuple[int, dict[str, object]]:
    assert service.metrics_server is not None
    response = httpx.get(f"http://127.0.0.1:{service.metrics_server.port}/healthz", timeout=5)
    return response.status_code, response.json()


def _config(mosquitto: Mosquitto, influx: dict[str, Any], name: str, tmp_path: Path, **extra: object) -> IngestConfig:
    return IngestConfig.model_validate(
        {
            "broker": mosquitto.broker_config("ingest", f"ingest-{name}"),
            "influx": influx | {"timeout_ms": 1000},
            "metrics": {"port": 0, "unhealthy_after_s": 1.0},
            "dead_letter_file": str(tmp_path / "dl.jsonl"),
            **extra,
        }
    )


def test_metrics_count_what_happened(
    mosquitto: Mosquitto, influxdb: InfluxDB, unique_name: str, tmp_path: Path, publisher, gateway_load, wait_for
) -> None:  # type: ignore[no-untyped-def]
    influx = ingest_influx(influxdb, unique_name.replace("-", "_"))
    service = IngestService(_config(mosquitto, influx, unique_name, tmp_path)).start()
    try:
        assert service.consumer.connected.wait(10)
        load = gateway_load(gateways=2, batches=3, readings=5)
        # gateway 0 sends 0, 2, 1 (a gap filled late) and 2 again; gateway 1 sends 0 then 2 (one missing)
        sends = [(0, 0), (0, 2), (0, 1), (0, 2), (1, 0), (1, 2)]
        for index, seq in sends:
            topic = telemetry_topic(load.gateway(index))
            encode = pack_telemetry if index == 1 else encode_telemetry  # gateway 1 sends the packed form
            publisher.publish(topic, encode(load.batch(index, seq)), qos=1).wait_for_publish(5)
        publisher.publish(telemetry_topic(load.gateway(0)), b"{not json", qos=1).wait_for_publish(5)
        wait_for(lambda: service.consumer.handled_messages == 7, 15, "all handled")
        metrics = _scrape(service)
        g0, g1 = (("gateway", load.gateway(0)),), (("gateway", load.gateway(1)),)
        assert metrics[("floodwatch_ingest_messages_received_total", ())] == 7
        assert metrics[("floodwatch_ingest_points_written_total", ())] == 6 * 5
        assert metrics[("floodwatch_ingest_dead_letters_total", (("reason", "contract"),))] == 1
        assert metrics[("floodwatch_ingest_messages_by_form_total", (("form", "json"),))] == 4
        assert metrics[("floodwatch_ingest_messages_by_form_total", (("form", "packed"),))] == 2
        assert metrics[("floodwatch_ingest_batch_messages_count", ())] >= 1
        assert metrics[("floodwatch_ingest_batch_messages_sum", ())] == 7
        assert metrics[("floodwatch_ingest_batch_points_sum", ())] == 30
        assert metrics[("floodwatch_ingest_write_seconds_count", ())] >= 1
        assert metrics[("floodwatch_ingest_gateway_sequence_gaps_total", g0)] == 1
        assert metrics[("floodwatch_ingest_gateway_sequence_late_total", g0)] == 1
        assert metrics[("floodwatch_ingest_gateway_sequence_replays_total", g0)] == 1
        assert metrics[("floodwatch_ingest_gateway_sequence_missing", g0)] == 0
        assert metrics[("floodwatch_ingest_gateway_sequence_gaps_total", g1)] == 1
        assert metrics[("floodwatch_ingest_gateway_sequence_missing", g1)] == 1
        assert metrics[("floodwatch_ingest_gateway_last_seen_seconds", g1)] > 1.7e9
        assert metrics[("floodwatch_ingest_redeliveries_total", ())] == 0
        assert metrics[("floodwatch_ingest_mqtt_connected", ())] == 1
        status, report = _health(service)
        assert (status, report["status"], report["mqtt_connected"]) == (200, "ok", True)
    finally:
        service.stop()


def test_health_turns_unhealthy_while_writes_fail_and_recovers(
    mosquitto: Mosquitto, unique_name: str, tmp_path: Path, publisher, gateway_load, wait_for
) -> None:  # type: ignore[no-untyped-def]
    influx_port = free_port()  # nothing listens there yet: InfluxDB is down when ingest starts
    # Open on purpose: ingest is to create the database itself once InfluxDB is up, which no
    # account but an admin may do with authentication on (and the accounts do not exist yet).
    section = {"url": f"http://127.0.0.1:{influx_port}", "database": unique_name.replace("-", "_")}
    config = _config(mosquitto, section, unique_name, tmp_path, backoff_max_ms=500)
    service = IngestService(config).start()
    influx = InfluxDB(tmp_path / "influx", port=influx_port, auth=False)
    try:
        assert service.consumer.connected.wait(10)
        load = gateway_load(gateways=1, batches=1, readings=3)
        publisher.publish(telemetry_topic(load.gateway(0)), encode_telemetry(load.batch(0, 0)), qos=1)
        wait_for(lambda: service.consumer.failed_attempts >= 1, 10, "a failed write")
        assert _health(service)[0] == 200  # failing, but not yet for unhealthy_after_s
        wait_for(lambda: _health(service)[0] == 503, 10, "unhealthy")
        report = _health(service)[1]
        assert report["status"] == "unhealthy" and float(report["stalled_for_s"]) >= 1.0  # type: ignore[arg-type]
        assert _scrape(service)[("floodwatch_ingest_write_failures_total", ())] >= 1
        influx.start()  # InfluxDB comes up: ingest creates the database and writes by itself
        wait_for(lambda: service.points_written == 3, 30, "the held batch written")
        assert _health(service)[0] == 200
        assert _health(service)[1]["failing_for_s"] == 0
        assert not service.dead_letters.counts
    finally:
        service.stop()
        influx.stop()

"""Delivery under faults, on the real Mosquitto and InfluxDB: InfluxDB killed and
restarted under load, the ingest process killed -9 under load. After each, every
published reading is in InfluxDB exactly once (count and sum of values)."""

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from centre.influx import InfluxV1
from devstack.centre_influx import ingest_influx
from devstack.services import InfluxDB, Mosquitto, free_port
from ingest import IngestConfig, IngestService


def test_influxdb_killed_and_restarted_under_load(
    mosquitto: Mosquitto, own_influxdb: InfluxDB, unique_name: str, tmp_path: Path, gateway_load, stored, wait_for
) -> None:  # type: ignore[no-untyped-def]
    config = IngestConfig.model_validate(
        {
            "broker": mosquitto.broker_config("ingest", f"ingest-{unique_name}"),
            "influx": ingest_influx(own_influxdb, "floodwatch") | {"timeout_ms": 2000},
            "backoff_max_ms": 1000,
            "writers": 2,  # two batches in flight when InfluxDB dies
            "dead_letter_file": str(tmp_path / "dl.jsonl"),
        }
    )
    service = IngestService(config).start()
    try:
        assert service.consumer.connected.wait(10)
        load = gateway_load(gateways=4, batches=60, readings=20, batches_per_s=80).start()  # ~3 s of load
        wait_for(lambda: service.points_written > 0, what="first points")
        own_influxdb.kill()
        failed = service.consumer.failed_attempts
        wait_for(lambda: service.consumer.failed_attempts > failed, what="a write to the dead InfluxDB to fail")
        written_while_down = service.points_written
        failed = service.consumer.failed_attempts
        wait_for(lambda: service.consumer.failed_attempts >= failed + 2, what="two more attempts to fail")
        assert service.points_written == written_while_down  # nothing claimed written while it was dead
        own_influxdb.start()  # same port, same data directory
        load.join()
        wait_for(lambda: stored(service.influx) == (load.total_readings, pytest.approx(load.total_value)), 60)
        assert service.consumer.failed_attempts > 0  # the fault really hit a write
        assert written_while_down < load.total_readings  # ... and it hit under load
        assert service.consumer.failing_since is None
        assert not service.dead_letters.counts
        time.sleep(0.5)  # nothing more arrives: every reading once
        assert stored(service.influx) == (load.total_readings, pytest.approx(load.total_value))
    finally:
        service.stop()


def _ingest_command() -> list[str]:
    script = Path(sys.executable).parent / "floodwatch-ingest"
    return [str(script)] if script.exists() else [shutil.which("floodwatch-ingest") or "floodwatch-ingest"]


def _healthz(port: int) -> dict[str, object] | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()  # type: ignore[no-any-return]
    except httpx.HTTPError:
        return None


def _scrape(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    return {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples if not s.labels}


def test_ingest_killed_9_under_load_and_restarted(
    mosquitto: Mosquitto,
    influxdb: InfluxDB,
    unique_name: str,
    tmp_path: Path,
    gateway_load,
    stored: Callable[[InfluxV1], tuple[int, float]],
    wait_for,
) -> None:  # type: ignore[no-untyped-def]
    metrics_port = free_port()
    database = unique_name.replace("-", "_")
    config = tmp_path / "ingest.yaml"
    config.write_text(
        f"broker: {json.dumps(mosquitto.broker_config('ingest', f'ingest-{unique_name}'))}\n"
        f"influx: {json.dumps(ingest_influx(influxdb, database))}\n"
        f"metrics: {{port: {metrics_port}}}\n"
        f"dead_letter_file: {tmp_path / 'dl.jsonl'}\n"
    )
    log = (tmp_path / "ingest.log").open("ab")

    def launch() -> subprocess.Popen[bytes]:
        process = subprocess.Popen([*_ingest_command(), "run", "--config", str(config)], stdout=log, stderr=log)
        wait_for(lambda: (_healthz(metrics_port) or {}).get("mqtt_connected") is True, 30, "ingest to connect")
        return process

    influx = influxdb.client("reader", database)
    process = launch()
    try:
        load = gateway_load(gateways=4, batches=75, readings=20, batches_per_s=100).start()  # ~3 s of load
        wait_for(lambda: stored(influx)[0] >= 1000, what="ingest to be under load")
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        at_kill = stored(influx)[0]
        more = min(load.published + 20, load.gateways * load.batches)
        wait_for(lambda: load.published >= more, what="the gateways to go on publishing into the queue")
        process = launch()
        load.join()
        wait_for(lambda: stored(influx) == (load.total_readings, pytest.approx(load.total_value)), 60)
        assert at_kill < load.total_readings
        # What the killed process had received but not acknowledged came again.
        assert _scrape(metrics_port)["floodwatch_ingest_redeliveries_total"] > 0
        time.sleep(0.5)
        assert stored(influx) == (load.total_readings, pytest.approx(load.total_value))
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        influx.close()
        log.close()

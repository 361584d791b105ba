"""Two ingest workers on one MQTT 5 shared subscription, against the real Mosquitto:
every reading stored exactly once, and both workers did part of the work."""

from pathlib import Path

import pytest

from devstack.services import InfluxDB, Mosquitto
from ingest import IngestConfig, IngestService


def test_two_workers_share_the_load(
    mosquitto: Mosquitto, influxdb: InfluxDB, unique_name: str, tmp_path: Path, gateway_load, stored, wait_for
) -> None:  # type: ignore[no-untyped-def]
    def worker(n: int) -> IngestService:
        config = IngestConfig.model_validate(
            {
                "broker": {
                    "port": mosquitto.port,
                    "client_id": f"ingest-{unique_name}-{n}",
                    "shared_group": unique_name,
                },
                "influx": {"url": influxdb.url, "database": unique_name.replace("-", "_")},
                "max_batch_messages": 20,
                "dead_letter_file": str(tmp_path / f"dl-{n}.jsonl"),
            }
        )
        return IngestService(config).start()

    workers = [worker(1), worker(2)]
    try:
        for service in workers:
            assert service.consumer.connected.wait(10)
            assert service.consumer.subscription == f"$share/{unique_name}/floodwatch/v1/+/telemetry"
        load = gateway_load(gateways=8, batches=40, readings=10, batches_per_s=400).start()
        load.join()
        influx = workers[0].influx
        wait_for(lambda: sum(s.consumer.handled_messages for s in workers) == 8 * 40, 30, "all messages handled")
        assert stored(influx) == (load.total_readings, pytest.approx(load.total_value))
        handled = [s.consumer.handled_messages for s in workers]
        assert all(n > 0 for n in handled), handled
        assert sum(s.points_written for s in workers) == load.total_readings  # no message went to both
    finally:
        for service in workers:
            service.stop()

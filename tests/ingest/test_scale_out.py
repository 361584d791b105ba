"""Two ingest workers on one shared subscription, against the real Mosquitto:
every reading stored exactly once, and both workers did part of the work."""

from pathlib import Path

import pytest

from devstack.buffered_gateway import BufferedGateway
from devstack.centre_influx import ingest_influx
from devstack.services import InfluxDB, Mosquitto
from ingest import IngestConfig, IngestService


def test_two_workers_share_the_load(
    mosquitto: Mosquitto, influxdb: InfluxDB, unique_name: str, tmp_path: Path, gateway_load, stored, wait_for
) -> None:  # type: ignore[no-untyped-def]
    def worker(n: int) -> IngestService:
        config = IngestConfig.model_validate(
            {
                "broker": mosquitto.broker_config("ingest", f"ingest-{unique_name}-{n}")
                | {"shared_group": unique_name},
                "influx": ingest_influx(influxdb, unique_name.replace("-", "_")),
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


def test_a_gateway_hears_confirmations_from_whichever_worker_stored_its_batch(
    mosquitto: Mosquitto, influxdb: InfluxDB, unique_name: str, tmp_path: Path, wait_for
) -> None:  # type: ignore[no-untyped-def]
    workers = [
        IngestService(
            IngestConfig.model_validate(
                {
                    "broker": mosquitto.broker_config("ingest", f"ingest-{unique_name}-{n}") | {"shared_group": "g"},
                    "influx": ingest_influx(influxdb, unique_name.replace("-", "_")),
                    "max_batch_messages": 5,
                    "dead_letter_file": str(tmp_path / f"dl-{n}.jsonl"),
                }
            )
        ).start()
        for n in (1, 2)
    ]
    gateway = BufferedGateway(unique_name, mosquitto, tmp_path / "g.sqlite", readings_per_tick=5, tick_s=0.01)
    try:
        for service in workers:
            assert service.consumer.connected.wait(10)
        gateway.start()
        wait_for(lambda: gateway.produced >= 2000, 30, "2,000 readings produced")
        gateway.stop_feeding()
        wait_for(lambda: gateway.depth == 0, 30, "every batch confirmed")
        confirmed = [service.confirmations.sent.get(unique_name, 0) for service in workers]
        assert all(n > 0 for n in confirmed), confirmed  # both workers stored and confirmed batches
        assert sum(s.points_written for s in workers) >= gateway.produced
        series = workers[0].influx.query(f"SELECT count(value) FROM water_level WHERE sensor = '{unique_name}.level'")
        assert int(series[0]["values"][0][1]) == gateway.produced
    finally:
        gateway.close()
        for service in workers:
            service.stop()

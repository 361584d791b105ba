"""Ingest's memory stays bounded under a 100,000-message backlog, whatever the broker sends.

The broker here lets 20,000 messages be in flight to ingest, ten times ingest's bound,
and ingest announces a Receive Maximum of 65,535: the bound must hold whatever the
broker sends (Mosquitto 2.0.11 does not always keep to the Receive Maximum while it
drains a queue). InfluxDB hangs
(SIGSTOP) while the backlog arrives, so nothing is acknowledged. The bound held is
`max_queued_messages` (or `max_queued_mb`), plus the one message whose read crossed it.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.bulk_publish import bulk_publish
from devstack.centre_influx import ingest_influx
from devstack.services import InfluxDB, Mosquitto
from ingest import IngestConfig, IngestService
from wire_contract import Quality, Reading, TelemetryBatch, encode_telemetry, telemetry_topic

BACKLOG = 100_000
BOUND = 2_000
T0_MS = 1_600_000_000_000


@pytest.fixture
def flooding_broker(private_broker) -> Mosquitto:  # type: ignore[no-untyped-def]
    return private_broker(max_inflight_messages=20_000)  # type: ignore[no-any-return]  # ten times ingest's bound


def _payloads(gateway: str) -> Iterator[bytes]:
    for seq in range(BACKLOG):
        reading = Reading(
            sensor=f"{gateway}.level",
            station=gateway,
            quantity="water_level",
            value=seq % 1000 / 100,
            unit="m",
            ts_ms=T0_MS + seq,
            quality=Quality.good,
        )
        yield encode_telemetry(TelemetryBatch(gateway=gateway, seq=seq, readings=(reading,)))


def _publish_backlog(broker: Mosquitto, gateway: str) -> None:
    topic, login = telemetry_topic(gateway), broker.login("harness")
    assert bulk_publish(broker.port, f"backlog-{gateway}", topic, _payloads(gateway), login=login) == BACKLOG


@pytest.mark.timeout(240)
def test_a_100000_message_backlog_is_held_to_the_bound(
    flooding_broker: Mosquitto, own_influxdb: InfluxDB, unique_name: str, tmp_path: Path, wait_for
) -> None:  # type: ignore[no-untyped-def]
    config = IngestConfig.model_validate(
        {
            "broker": flooding_broker.broker_config("ingest", f"ingest-{unique_name}"),
            "influx": ingest_influx(own_influxdb, "floodwatch") | {"timeout_ms": 1000},
            "max_queued_messages": BOUND,
            "max_batch_messages": 500,
            # Receive Maximum far above the bound: the bound must hold whatever the broker sends.
            "max_inflight_messages": 65_535,
            "backoff_max_ms": 500,
            "dead_letter_file": str(tmp_path / "dl.jsonl"),
        }
    )
    ingest = IngestService(config).start()
    assert ingest.consumer.connected.wait(10)
    ingest.stop()  # its persistent session now collects the backlog in the broker
    gateway = f"gw-{unique_name}"
    _publish_backlog(flooding_broker, gateway)
    own_influxdb.pause()
    ingest = IngestService(config).start()
    try:
        consumer = ingest.consumer
        wait_for(
            lambda: consumer.paused_reads >= 1 and consumer.held_messages >= BOUND, 60, "reads paused at the bound"
        )
        wait_for(lambda: consumer.failed_attempts >= 2, 30, "writes failing on the hung InfluxDB")
        assert BOUND <= consumer.peak_held_messages <= BOUND + 1, consumer.peak_held_messages
        own_influxdb.resume()
        wait_for(lambda: ingest.points_written == BACKLOG, 180, "the whole backlog stored")
        series = ingest.influx.query(f"SELECT count(value) FROM water_level WHERE sensor = '{gateway}.level'")
        assert int(series[0]["values"][0][1]) == BACKLOG
        assert consumer.peak_held_messages <= BOUND + 1, consumer.peak_held_messages
        assert not ingest.dead_letters.counts
    finally:
        ingest.stop()

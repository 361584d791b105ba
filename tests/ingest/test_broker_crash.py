"""`kill -9` of the real Mosquitto while a backlog waits, three times in a row: every
reading the gateways produced is stored exactly once.

The backlog is what the broker had acknowledged (PUBACK) and held only in memory until
its next autosave. Before end-to-end acknowledgement the gateways deleted those
readings on the PUBACK, and a crash lost them (622 and 536 readings in the issue's
runs). Now a gateway deletes a batch only on ingest's `BatchAck`, and resends the rest.

The gateways are the edge agent's own buffer and publisher (`devstack.buffered_gateway`),
fed numbered readings, so the count is exact: no allowance, no poll in flight.
"""

from collections.abc import Callable
from pathlib import Path

import pytest

from devstack.buffered_gateway import BufferedGateway
from devstack.centre_influx import ingest_influx
from devstack.services import InfluxDB, Mosquitto
from ingest import IngestConfig, IngestService

CRASHES = 3
BACKLOG_READINGS = 400  # published (PUBACKed) and not stored, per crash


@pytest.fixture
def crash_broker(private_broker) -> Mosquitto:  # type: ignore[no-untyped-def]
    return private_broker()  # type: ignore[no-any-return]


def _ingest(broker: Mosquitto, influx: InfluxDB, name: str, tmp_path: Path) -> IngestService:
    config = IngestConfig.model_validate(
        {
            "broker": broker.broker_config("ingest", f"ingest-{name}"),
            "influx": ingest_influx(influx, name.replace("-", "_")) | {"timeout_ms": 1000},
            "backoff_max_ms": 500,
            "dead_letter_file": str(tmp_path / "dl.jsonl"),
        }
    )
    return IngestService(config).start()


def _gateways(broker: Mosquitto, name: str, tmp_path: Path) -> list[BufferedGateway]:
    return [BufferedGateway(f"{name}-g{i}", broker, tmp_path / f"g{i}.sqlite").start() for i in range(2)]


def _stored(ingest: IngestService, gateway: BufferedGateway) -> tuple[int, float]:
    query = f"SELECT count(value), sum(value) FROM water_level WHERE sensor = '{gateway.gateway}.level'"
    series = ingest.influx.query(query)
    return (int(series[0]["values"][0][1]), float(series[0]["values"][0][2])) if series else (0, 0.0)


def _published(gateways: list[BufferedGateway]) -> int:
    return sum(g.publisher.published_readings for g in gateways)


def _crash_with_backlog(
    broker: Mosquitto, gateways: list[BufferedGateway], ingest: IngestService, wait_for: Callable[..., None]
) -> int:
    """Wait until the broker holds a fresh backlog, kill -9 it, restart it.

    Returns the backlog at the kill: readings the broker acknowledged (PUBACK) that are not stored."""
    mark = _published(gateways)
    wait_for(lambda: _published(gateways) >= mark + BACKLOG_READINGS, 30, "a backlog in the broker")
    backlog = _published(gateways) - ingest.points_written
    broker.kill()
    broker.start()  # same port, same persistence directory
    return backlog


def _drain_and_check(ingest: IngestService, gateways: list[BufferedGateway], wait_for: Callable[..., None]) -> None:
    for gateway in gateways:
        gateway.stop_feeding()
    wait_for(lambda: all(g.depth == 0 for g in gateways), 90, "every gateway's disk empty (all confirmed)")
    for gateway in gateways:
        expected = (gateway.produced, pytest.approx(sum(gateway.value(n) for n in range(gateway.produced))))
        assert _stored(ingest, gateway) == expected
    assert not ingest.dead_letters.counts


@pytest.mark.timeout(240)
def test_broker_killed_9_while_influxdb_hangs(
    crash_broker: Mosquitto, own_influxdb: InfluxDB, unique_name: str, tmp_path: Path, wait_for
) -> None:  # type: ignore[no-untyped-def]
    ingest = _ingest(crash_broker, own_influxdb, unique_name, tmp_path)
    gateways = _gateways(crash_broker, unique_name, tmp_path)
    try:
        wait_for(lambda: ingest.points_written > 0, 30, "first points")
        own_influxdb.pause()  # hung: ingest's writes time out, nothing is confirmed
        wait_for(lambda: ingest.consumer.failed_attempts > 0, 30, "a write to the hung InfluxDB to time out")
        backlogs = [_crash_with_backlog(crash_broker, gateways, ingest, wait_for) for _ in range(CRASHES)]
        assert min(backlogs) >= BACKLOG_READINGS  # each crash hit readings the broker had acknowledged
        own_influxdb.resume()
        _drain_and_check(ingest, gateways, wait_for)
    finally:
        for gateway in gateways:
            gateway.close()
        ingest.stop()


@pytest.mark.timeout(240)
def test_broker_killed_9_while_ingest_is_stopped(
    crash_broker: Mosquitto, influxdb: InfluxDB, unique_name: str, tmp_path: Path, wait_for
) -> None:  # type: ignore[no-untyped-def]
    name = unique_name
    ingest = _ingest(crash_broker, influxdb, name, tmp_path)
    gateways = _gateways(crash_broker, unique_name, tmp_path)
    try:
        wait_for(lambda: ingest.points_written > 0, 30, "first points")
        ingest.stop()  # the backlog now waits in the broker, in ingest's persistent session
        backlogs = [_crash_with_backlog(crash_broker, gateways, ingest, wait_for) for _ in range(CRASHES)]
        assert min(backlogs) >= BACKLOG_READINGS
        ingest = _ingest(crash_broker, influxdb, name, tmp_path)
        _drain_and_check(ingest, gateways, wait_for)
    finally:
        for gateway in gateways:
            gateway.close()
        ingest.stop()

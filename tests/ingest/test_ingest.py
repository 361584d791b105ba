"""Ingest against the real Mosquitto and InfluxDB: stored once, bad input dead-lettered, never stopped."""

import json
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from devstack.centre_influx import ingest_influx
from devstack.services import InfluxDB, Mosquitto
from ingest import IngestConfig, IngestService
from wire_contract import FailureReason, Quality, Reading, TelemetryBatch, encode_telemetry, telemetry_topic

T0 = 1_602_000_000_000


def _batch(
    gateway: str, seq: int, values: list[float | None], sensor: str = "le_thuy.level", t0: int = T0
) -> TelemetryBatch:
    readings = tuple(
        Reading(
            sensor=sensor,
            station="le_thuy",
            quantity="water_level",
            value=value,
            unit="m",
            ts_ms=t0 + 1000 * (seq * 100 + i),
            quality=Quality.good if value is not None else Quality.read_failure,
            reason=None if value is not None else FailureReason.server_device_busy,
        )
        for i, value in enumerate(values)
    )
    return TelemetryBatch(gateway=gateway, seq=seq, readings=readings)


def _send(client: mqtt.Client, topic: str, payload: bytes) -> None:
    client.publish(topic, payload, qos=1).wait_for_publish(10)


def _wait_for(condition, timeout_s: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _count(service: IngestService) -> int:
    series = service.influx.query("SELECT count(quality) FROM water_level")
    return int(series[0]["values"][0][1]) if series else 0


def test_readings_are_stored_with_tags_and_quality(ingest: IngestService, publisher: mqtt.Client) -> None:
    _send(publisher, telemetry_topic("gw-a"), encode_telemetry(_batch("gw-a", 1, [1.25, None, 2.5])))
    _wait_for(lambda: ingest.points_written == 3)
    rows = ingest.influx.query("SELECT value, quality, reason, gateway, station, sensor FROM water_level ORDER BY time")
    assert [row[1:] for row in rows[0]["values"]] == [
        [1.25, "good", None, "gw-a", "le_thuy", "le_thuy.level"],
        [None, "read_failure", "server_device_busy", "gw-a", "le_thuy", "le_thuy.level"],
        [2.5, "good", None, "gw-a", "le_thuy", "le_thuy.level"],
    ]
    assert [row[0] for row in rows[0]["values"]] == [T0 + 100_000, T0 + 101_000, T0 + 102_000]


def test_a_resent_batch_does_not_duplicate(ingest: IngestService, publisher: mqtt.Client) -> None:
    payload = encode_telemetry(_batch("gw-b", 2, [1.0, 1.1]))
    for _ in range(3):
        _send(publisher, telemetry_topic("gw-b"), payload)
    _wait_for(lambda: ingest.consumer.handled_messages == 3)
    assert _count(ingest) == 2


def test_bad_messages_are_dead_lettered_and_ingest_goes_on(
    ingest: IngestService, publisher: mqtt.Client, dead_letters_seen: list[dict[str, str]]
) -> None:
    dead = dead_letters_seen
    _send(publisher, telemetry_topic("gw-c"), b"\xff not json")
    _send(publisher, telemetry_topic("gw-c"), json.dumps({"v": 1, "gateway": "gw-c", "seq": 1}).encode())
    _send(publisher, telemetry_topic("gw-spoof"), encode_telemetry(_batch("gw-c", 3, [9.0])))
    _send(publisher, telemetry_topic("gw-c"), encode_telemetry(_batch("gw-c", 4, [1.5])))
    _wait_for(lambda: ingest.consumer.handled_messages == 4 and len(dead) == 3)
    assert _count(ingest) == 1
    assert ingest.dead_letters.counts == {"contract": 2, "topic_mismatch": 1}
    assert [d["kind"] for d in dead] == ["contract", "contract", "topic_mismatch"]
    assert "not json" in dead[0]["reason"] and "readings: Field required" in dead[1]["reason"]
    lines = ingest.config.dead_letter_file.read_text().splitlines()
    assert [json.loads(line)["reason"] for line in lines] == [d["reason"] for d in dead]


def test_a_point_influx_refuses_is_dead_lettered_alone(ingest: IngestService, publisher: mqtt.Client) -> None:
    # InfluxDB fixes a field's type per measurement and shard (a week here): a month
    # earlier, 'value' is made a string, so a float reading for that week is refused.
    month_earlier = T0 - 30 * 86_400_000
    ingest.influx.write_lines(b'water_level,sensor=x value="text",quality="good" ' + str(month_earlier).encode())
    bad = _batch("gw-d", 1, [2.0], sensor="x", t0=month_earlier + 1000)
    _send(publisher, telemetry_topic("gw-d"), encode_telemetry(bad))
    _send(publisher, telemetry_topic("gw-d"), encode_telemetry(_batch("gw-d", 2, [3.0])))
    _wait_for(lambda: ingest.consumer.handled_messages == 2)
    assert ingest.dead_letters.counts == {"influx_rejected": 1}
    assert _count(ingest) == 2  # the pre-existing string point and the good reading


def test_readings_published_while_ingest_is_down_arrive_after_restart(
    mosquitto: Mosquitto, influxdb: InfluxDB, unique_name: str, tmp_path: Path, publisher: mqtt.Client
) -> None:
    config = IngestConfig.model_validate(
        {
            "broker": mosquitto.broker_config("ingest", f"ingest-{unique_name}"),
            "influx": ingest_influx(influxdb, unique_name.replace("-", "_")),
            "dead_letter_file": str(tmp_path / "dl.jsonl"),
        }
    )
    first = IngestService(config).start()
    assert first.consumer.connected.wait(10)
    first.stop()  # the persistent session stays on the broker
    for seq in range(50):
        _send(publisher, telemetry_topic("gw-e"), encode_telemetry(_batch("gw-e", seq, [1.0, 2.0])))
    second = IngestService(config).start()
    try:
        _wait_for(lambda: second.points_written == 100)
        assert _count(second) == 100
    finally:
        second.stop()

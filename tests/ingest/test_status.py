"""Gateway heartbeats stored as `gateway_status` points, against the real Mosquitto and InfluxDB."""

from collections.abc import Callable

import paho.mqtt.client as mqtt

from ingest import IngestService
from ingest.status import status_point
from wire_contract import GatewayStatus, encode_status, status_topic

T0 = 1_602_000_000_000


def _heartbeat(gateway: str, ts_ms: int, depth: int) -> GatewayStatus:
    return GatewayStatus(
        gateway=gateway,
        state="online",
        ts_ms=ts_ms,
        uptime_s=3600.0,
        cpu_temp_c=51.5,
        load_1m=0.4,
        disk_free_mb=12_000.0,
        buffer_depth=depth,
        oldest_unsent_age_s=42.0 if depth else None,
        dropped_readings={"5": 2, "9": 1},
        device_errors={"level": 3, "rain": 0},
        clock_synced=True,
    )


def test_heartbeats_and_the_last_will_become_points(
    ingest: IngestService, publisher: mqtt.Client, unique_name: str, wait_for: Callable[..., None]
) -> None:
    gateway = f"gw-{unique_name}"
    topic = status_topic(gateway)
    for i, depth in enumerate((120, 0)):
        publisher.publish(topic, encode_status(_heartbeat(gateway, T0 + i * 60_000, depth)), qos=1).wait_for_publish(5)
    publisher.publish(topic, encode_status(GatewayStatus(gateway=gateway, state="offline")), qos=1).wait_for_publish(5)
    query = f"SELECT * FROM gateway_status WHERE gateway = '{gateway}' ORDER BY time"
    # (other tests' retained statuses are recorded too: count this gateway's points only)
    wait_for(lambda: sum(len(x["values"]) for x in ingest.influx.query(query)) == 3, what="three statuses stored")
    series = ingest.influx.query(query)[0]
    found = [dict(zip(series["columns"], row, strict=True)) for row in series["values"]]
    assert [(r["time"], r["online"], r["buffer_depth"], r["oldest_unsent_age_s"]) for r in found[:2]] == [
        (T0, True, 120, 42.0),
        (T0 + 60_000, True, 0, 0.0),  # nothing waits: age 0
    ]
    assert (found[0]["device_errors"], found[0]["dropped_readings"], found[0]["clock_synced"]) == (3, 3, True)
    assert found[2]["online"] is False and found[2]["buffer_depth"] is None
    assert found[2]["time"] > T0 + 60_000  # the last will carries no time: stamped at arrival
    publisher.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)


def test_a_bad_or_spoofed_status_is_dead_lettered(
    ingest: IngestService,
    publisher: mqtt.Client,
    unique_name: str,
    dead_letters_seen: list[dict[str, str]],
    wait_for: Callable[..., None],
) -> None:
    gateway = f"gw-{unique_name}"
    publisher.publish(status_topic(gateway), b"{not json", qos=1).wait_for_publish(5)
    spoof = encode_status(_heartbeat(f"{gateway}-x", T0, 1))
    publisher.publish(status_topic(gateway), spoof, qos=1).wait_for_publish(5)
    publisher.publish(status_topic(gateway), b"", qos=1).wait_for_publish(5)
    wait_for(lambda: len(dead_letters_seen) == 2, what="two dead letters")
    assert [d["kind"] for d in dead_letters_seen] == ["contract", "topic_mismatch"]
    stored = ingest.influx.query(f"SELECT count(online) FROM gateway_status WHERE gateway =~ /^{gateway}/")
    assert stored == []  # (other tests' retained statuses may be recorded: this test's are not)


def test_status_point_of_an_old_gateway_without_heartbeat_fields() -> None:
    point = status_point(GatewayStatus(gateway="gw-old", state="online", ts_ms=T0), received_ms=T0 + 5)
    assert (point.measurement, dict(point.tags), dict(point.fields), point.ts_ms) == (
        "gateway_status",
        {"gateway": "gw-old"},
        {"online": True},
        T0,
    )

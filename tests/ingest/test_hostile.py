"""The corpus of malformed, oversized and spoofed-looking payloads through the real
Mosquitto into ingest and InfluxDB: each refusal dead-lettered once with its reason,
every acceptable reading stored once, and ingest still running afterwards."""

import base64
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.centre_influx import ingest_influx
from devstack.hostile_corpus import corpus_payload, load_corpus
from devstack.services import InfluxDB, Mosquitto
from ingest import IngestConfig, IngestService


@pytest.fixture
def guarded_ingest(
    mosquitto: Mosquitto, influxdb: InfluxDB, unique_name: str, tmp_path: Path
) -> Iterator[IngestService]:
    config = IngestConfig.model_validate(
        {
            "broker": mosquitto.broker_config("ingest", f"ingest-{unique_name}"),
            "influx": ingest_influx(influxdb, unique_name.replace("-", "_")),
            "validation": {"gateways": ["fz", "fz-2"], "max_age_days": 3650},
            "dead_letter_file": str(tmp_path / "deadletter.jsonl"),
        }
    )
    service = IngestService(config).start()
    assert service.consumer.connected.wait(10)
    yield service
    service.stop()


def test_the_corpus_through_the_real_broker(  # type: ignore[no-untyped-def]
    guarded_ingest: IngestService, mosquitto: Mosquitto, dead_letters_seen: list[dict[str, str]], wait_for
) -> None:
    corpus = load_corpus()
    dead = dead_letters_seen
    publisher = mosquitto.client("harness")
    publisher.connect("127.0.0.1", mosquitto.port)
    publisher.loop_start()
    try:
        for case in corpus:
            topic = f"floodwatch/v1/{case['topic_gateway']}/telemetry"
            publisher.publish(topic, corpus_payload(case), qos=1).wait_for_publish(10)
        expected_dead = Counter(kind for case in corpus for kind in case["expect"]["refused"])  # type: ignore[index]
        wait_for(lambda: guarded_ingest.consumer.handled_messages == len(corpus), 30, "every case handled")
        wait_for(lambda: len(dead) == expected_dead.total(), 10, "dead letters on MQTT")
    finally:
        publisher.loop_stop()
    assert guarded_ingest.dead_letters.counts == expected_dead
    assert Counter(d["kind"] for d in dead) == expected_dead
    by_name = {case["name"]: case for case in corpus}
    oversized = next(d for d in dead if "exceeds" in d["reason"])
    raw = corpus_payload(by_name["oversized"])  # larger than the dead letter keeps: its head, size and hash
    kept = guarded_ingest.config.dead_letter_max_payload_kb * 1024
    assert len(raw) > kept
    assert base64.b64decode(oversized["payload_b64"]) == raw[:kept]
    assert (oversized["payload_bytes"], oversized["payload_truncated"]) == (len(raw), True)
    assert oversized["payload_sha256"] == hashlib.sha256(raw).hexdigest()
    expected_points = sum(case["expect"]["points"] for case in corpus)  # type: ignore[index,misc]
    assert guarded_ingest.points_written == expected_points
    stored = sum(
        int(series["values"][0][1])
        for measurement in ("water_level", "rain")
        for series in guarded_ingest.influx.query(f'SELECT count("quality") FROM "{measurement}"')
    )
    assert stored == expected_points
    lines = guarded_ingest.config.dead_letter_file.read_text().splitlines()
    assert Counter(json.loads(line)["kind"] for line in lines) == expected_dead
    # Every stored batch of gateway "fz" came in order: no gaps, no replays (seq 8 and 9 are
    # the strict_* cases, refused by the contract, so never counted).
    state = guarded_ingest.sequences.gateways["fz"]
    assert (state.gaps, state.replays, state.highest) == (0, 0, 7)

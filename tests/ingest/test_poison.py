"""No single message stalls ingest, on the real Mosquitto (max_packet_size 2,000,000).

Before: a 1.5-2 MB payload was dead-lettered whole, in base64, which is larger than the
broker lets through; the broker dropped ingest's connection, the message came back
on every reconnect, and of 30,000 later readings 2,630 were stored, then none.
"""

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from devstack.centre_influx import ingest_influx
from devstack.services import InfluxDB, Mosquitto
from ingest import IngestConfig, IngestService
from wire_contract import encode_telemetry, telemetry_topic
from wire_contract.codec import MAX_PAYLOAD_BYTES

BROKER_MAX_PACKET = 2_000_000  # devstack.services.MOSQUITTO_CONF


def largest_payload(topic: str) -> int:
    """The largest QoS 1 payload Mosquitto takes: it refuses remaining length + 1 > max_packet_size."""
    return BROKER_MAX_PACKET - 1 - (2 + len(topic.encode()) + 2)


@pytest.fixture
def ingest(mosquitto: Mosquitto, influxdb: InfluxDB, unique_name: str, tmp_path: Path) -> Iterator[IngestService]:
    config = IngestConfig.model_validate(
        {
            "broker": mosquitto.broker_config("ingest", f"ingest-{unique_name}"),
            "influx": ingest_influx(influxdb, unique_name.replace("-", "_")),
            "metrics": {"port": 0},
            "dead_letter_file": str(tmp_path / "dl.jsonl"),
        }
    )
    service = IngestService(config).start()
    assert service.consumer.connected.wait(10)
    yield service
    service.stop()


_examples = itertools.count()


def _count(ingest: IngestService, sensor: str) -> int:
    series = ingest.influx.query(f"SELECT count(value) FROM water_level WHERE sensor = '{sensor}'")
    return int(series[0]["values"][0][1]) if series else 0


def _publish_junk(broker: Mosquitto, topic: str, size: int) -> bool:
    """Publish `size` bytes from a client of its own; True if the broker took it (PUBACK), False if it hung up."""
    done = threading.Event()
    client = broker.client("harness")
    client.on_disconnect = lambda *_: done.set()
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        info = client.publish(topic, b"{" * size, qos=1)
        while not done.is_set() and not info.is_published():
            done.wait(0.05)
        return info.is_published()
    finally:
        client.disconnect()  # before loop_stop: the network thread then ends at once, not after its 1 s select
        client.loop_stop()


def test_a_payload_near_the_broker_limit_is_one_dead_letter_and_ingest_carries_on(
    ingest: IngestService, mosquitto: Mosquitto, dead_letters_seen, gateway_load, stored, wait_for
) -> None:  # type: ignore[no-untyped-def]
    load = gateway_load(gateways=2, batches=30, readings=20, batches_per_s=400)
    assert _publish_junk(mosquitto, telemetry_topic(load.gateway(0)), 1_800_000)
    load.start().join()
    wait_for(lambda: stored(ingest.influx) == (load.total_readings, pytest.approx(load.total_value)), 30)
    wait_for(lambda: len(dead_letters_seen) == 1, 10, "the dead letter on MQTT")
    assert ingest.dead_letters.counts == {"contract": 1}
    letter = dead_letters_seen[0]
    assert letter["payload_bytes"] == 1_800_000 and letter["payload_truncated"] is True
    assert ingest.consumer.connected.is_set() and ingest.health()["status"] == "ok"


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(size=st.integers(0, BROKER_MAX_PACKET))
@example(size=0)
@example(size=MAX_PAYLOAD_BYTES)
@example(size=MAX_PAYLOAD_BYTES + 1)
@example(size=-1)  # the broker's limit exactly (see `largest_payload`)
@example(size=-2)  # one byte past it
def test_payload_sizes_up_to_the_broker_limit_and_one_past(
    ingest: IngestService, mosquitto: Mosquitto, gateway_load, stored, wait_for, size: int
) -> None:  # type: ignore[no-untyped-def]
    load = gateway_load(gateways=1, batches=1, readings=3)
    index = next(_examples)  # a gateway of this example's own, so its readings are new series
    topic = telemetry_topic(load.gateway(index))
    limit = largest_payload(topic)
    size = {-1: limit, -2: limit + 1}.get(size, min(size, limit))
    before, handled = ingest.dead_letters.counts.total(), ingest.consumer.handled_messages
    taken = _publish_junk(mosquitto, topic, size)
    assert taken == (size <= limit)  # the broker takes up to its limit and refuses one byte more
    publisher = mosquitto.client("harness")
    publisher.connect("127.0.0.1", mosquitto.port)
    publisher.loop_start()
    try:  # a good batch behind the junk: stored, so the junk did not stall anything
        batch = load.batch(index, 0)
        assert publisher.publish(topic, encode_telemetry(batch), qos=1).wait_for_publish(10) is None
        sensor = f"{load.gateway(index)}.level"
        # handled: stored, and the dead letters of its write settled (they are counted after the write)
        wait_for(lambda: _count(ingest, sensor) == 3 and ingest.consumer.handled_messages >= handled + 1 + taken, 20)
    finally:
        publisher.disconnect()
        publisher.loop_stop()
    assert ingest.dead_letters.counts.total() == before + taken
    assert ingest.consumer.connected.is_set()


def test_a_seq_past_int64_is_a_dead_letter_and_metrics_still_render(
    ingest: IngestService, mosquitto: Mosquitto, publisher, gateway_load, stored, wait_for
) -> None:  # type: ignore[no-untyped-def]
    load = gateway_load(gateways=1, batches=2, readings=3)
    topic = telemetry_topic(load.gateway(0))
    huge = encode_telemetry(load.batch(0, 0)).replace(b'"seq":0', b'"seq":' + str(10**400).encode())
    publisher.publish(topic, huge, qos=1).wait_for_publish(10)
    publisher.publish(topic, encode_telemetry(load.batch(0, 1)), qos=1).wait_for_publish(10)
    wait_for(lambda: ingest.consumer.handled_messages == 2, 20, "both handled")
    assert stored(ingest.influx)[0] == 3
    assert ingest.dead_letters.counts == {"contract": 1}
    assert b"floodwatch_ingest_gateway_batches_total" in ingest.metrics.exposition()

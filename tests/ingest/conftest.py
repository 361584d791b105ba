"""Simulated gateways for the ingest tests: numbered batches, QoS 1, to the real Mosquitto."""

import json
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from broker_access.directory import AccessDirectory
from centre.influx import InfluxV1
from devstack.centre_influx import ingest_influx
from devstack.services import InfluxDB, Mosquitto
from ingest import IngestConfig, IngestService
from wire_contract import DEAD_LETTER_TOPIC, Quality, Reading, TelemetryBatch, encode_telemetry, telemetry_topic


@dataclass
class GatewayLoad:
    """`gateways` gateways each publish `batches` batches of `readings` water levels, paced."""

    broker: Mosquitto
    name: str
    gateways: int = 4
    batches: int = 50
    readings: int = 20
    batches_per_s: float = 200.0
    t0_ms: int = field(default_factory=lambda: time.time_ns() // 1_000_000 - 3_600_000)
    published: int = 0
    _thread: threading.Thread | None = None

    def gateway(self, index: int) -> str:
        return f"{self.name}-g{index}"

    def value(self, index: int, seq: int, i: int) -> float:
        return round(index + 0.01 * i + 0.0001 * seq, 6)

    def batch(self, index: int, seq: int) -> TelemetryBatch:
        gateway = self.gateway(index)
        readings = tuple(
            Reading(
                sensor=f"{gateway}.level",
                station=f"{gateway}-st",
                quantity="water_level",
                value=self.value(index, seq, i),
                unit="m",
                ts_ms=self.t0_ms + 1000 * (seq * self.readings + i),
                quality=Quality.good,
            )
            for i in range(self.readings)
        )
        return TelemetryBatch(gateway=gateway, seq=seq, readings=readings)

    @property
    def total_readings(self) -> int:
        return self.gateways * self.batches * self.readings

    @property
    def total_value(self) -> float:
        return sum(
            self.value(g, s, i) for g in range(self.gateways) for s in range(self.batches) for i in range(self.readings)
        )

    def start(self) -> "GatewayLoad":
        self._thread = threading.Thread(target=self._publish, name=f"load-{self.name}", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout_s: float = 60) -> None:
        assert self._thread is not None
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the load did not finish publishing"

    def _publish(self) -> None:
        client = self.broker.client("harness", f"load-{self.name}")
        client.max_inflight_messages_set(200)
        client.connect("127.0.0.1", self.broker.port)
        client.loop_start()
        infos = []
        started = time.monotonic()
        for seq in range(self.batches):
            for index in range(self.gateways):
                payload = encode_telemetry(self.batch(index, seq))
                infos.append(client.publish(telemetry_topic(self.gateway(index)), payload, qos=1))
                self.published += 1
                ahead = self.published / self.batches_per_s - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        for info in infos:
            info.wait_for_publish(30)
        client.loop_stop()
        client.disconnect()


@pytest.fixture
def dead_letters_seen(mosquitto: Mosquitto) -> Iterator[list[dict[str, str]]]:
    """The dead letters a client subscribed to their MQTT topic receives (subscribed before the test runs)."""
    dead: list[dict[str, str]] = []
    subscribed = threading.Event()
    watcher = mosquitto.client("monitor")
    watcher.on_message = lambda _c, _u, m: dead.append(json.loads(m.payload))
    watcher.on_subscribe = lambda *_: subscribed.set()
    watcher.connect("127.0.0.1", mosquitto.port)
    watcher.subscribe(DEAD_LETTER_TOPIC, qos=1)
    watcher.loop_start()
    assert subscribed.wait(10), "no subscription to the dead-letter topic"
    yield dead
    watcher.loop_stop()
    watcher.disconnect()


@pytest.fixture
def gateway_load(mosquitto: Mosquitto, unique_name: str) -> Iterator[type[GatewayLoad]]:
    def make(**kwargs: object) -> GatewayLoad:
        return GatewayLoad(mosquitto, unique_name, **kwargs)  # type: ignore[arg-type]

    yield make  # type: ignore[misc]


def _stored(influx: InfluxV1, measurement: str = "water_level") -> tuple[int, float]:
    """(count, sum) of `value` in the raw measurement."""
    series = influx.query(f'SELECT count("value"), sum("value") FROM "{measurement}"')
    return (int(series[0]["values"][0][1]), float(series[0]["values"][0][2])) if series else (0, 0.0)


def _wait_for(condition, timeout_s: float = 30.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def ingest(mosquitto: Mosquitto, influxdb: InfluxDB, unique_name: str, tmp_path: Path) -> Iterator[IngestService]:
    config = IngestConfig.model_validate(
        {
            "broker": mosquitto.broker_config("ingest", f"ingest-{unique_name}"),
            "influx": ingest_influx(influxdb, unique_name.replace("-", "_")),
            "dead_letter_file": str(tmp_path / "deadletter.jsonl"),
        }
    )
    service = IngestService(config).start()
    assert service.consumer.connected.wait(10) and service.status.consumer.connected.wait(10)
    yield service
    service.stop()


@pytest.fixture
def stored() -> Callable[..., tuple[int, float]]:
    return _stored


@pytest.fixture
def wait_for() -> Callable[..., None]:
    return _wait_for


@pytest.fixture
def publisher(mosquitto: Mosquitto, unique_name: str) -> Iterator[mqtt.Client]:
    """A plain MQTT client for a test to publish with (QoS 1 via `.publish(...).wait_for_publish()`)."""
    client = mosquitto.client("harness", f"pub-{unique_name}")
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    yield client
    client.loop_stop()
    client.disconnect()


@pytest.fixture
def own_influxdb(tmp_path: Path) -> Iterator[InfluxDB]:
    """An InfluxDB of this test's own, since the test kills or hangs (SIGSTOP) it; with
    authentication, like the session's (`ingest_influx` prepares a database on it)."""
    server = InfluxDB(tmp_path / "influx", auth=True).start()
    yield server
    server.resume()
    server.stop()


@pytest.fixture
def private_broker(broker_access: AccessDirectory) -> Iterator[Callable[..., Mosquitto]]:
    """Start a Mosquitto of the test's own (it kills it, or configures it), in a world-writable
    directory, so Mosquitto can save its persistence whichever user it runs as."""
    started: list[tuple[Mosquitto, Path]] = []

    def start(**options: int) -> Mosquitto:
        root = Path(tempfile.mkdtemp(prefix="floodwatch-broker-"))
        (root / "mosquitto").mkdir()
        for folder in (root, root / "mosquitto"):
            folder.chmod(0o777)
        broker = Mosquitto(root, **options, access=broker_access).start()
        started.append((broker, root))
        return broker

    yield start
    for broker, root in started:
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)

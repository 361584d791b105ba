"""The IOC app's peers: PostgreSQL (besides SQLite), Mosquitto, InfluxDB, and the app served by uvicorn."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa

from centre.influx import InfluxV1
from devstack.centre_influx import service_influx
from devstack.services import InfluxDB, Mosquitto, PostgreSQL, free_port
from ioc import SAMPLE_CONFIG, IocConfig, load_config
from ioc.accounts import Role, add_user
from ioc.desk import Desk
from ioc.serve import AppThread
from wire_contract import WARNINGS_TOPIC, WarningMessage, encode_warning

PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def postgresql(services_dir: Path) -> Iterator[PostgreSQL]:
    server = PostgreSQL(services_dir).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, unique_name: str) -> str:
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ioc.sqlite'}"
    return fresh_postgresql_database(request.getfixturevalue("postgresql"), unique_name)


@pytest.fixture
def postgresql_url(postgresql: PostgreSQL, unique_name: str) -> str:
    return fresh_postgresql_database(postgresql, unique_name)


def fresh_postgresql_database(server: PostgreSQL, name: str) -> str:
    name = name.replace("-", "_")
    admin = sa.create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server.url.rsplit("/", 1)[0] + f"/{name}"


def ioc_config(
    database_url: str, mosquitto: Mosquitto | None, influxdb: InfluxDB | None, client_id: str, influx_db: str = "x"
) -> IocConfig:
    """The sample config the tests load, pointed at this run's peers."""
    sample = load_config(SAMPLE_CONFIG)
    return sample.model_copy(
        update={
            "database": sample.database.model_copy(update={"url": database_url}),
            "broker": type(sample.broker).model_validate(
                sample.broker.model_dump(exclude_none=True)
                | (mosquitto.broker_config("monitor", client_id) if mosquitto else {"port": 1, "client_id": client_id})
            ),
            # The reader's account, as in production: the app never writes to InfluxDB.
            "influx": type(sample.influx).model_validate(
                sample.influx.model_dump(exclude_none=True)
                | (
                    service_influx(influxdb, "reader", influx_db)
                    if influxdb
                    else {"url": "http://127.0.0.1:1", "database": influx_db, "username": None, "password": None}
                )
            ),
            "http": sample.http.model_copy(update={"port": free_port()}),
        }
    )


class LiveApp(AppThread):
    """The app served by uvicorn on a free loopback port, in a thread of the test process."""

    def add_user(self, username: str, role: Role) -> None:
        with self.desk.sessions.begin() as db:
            add_user(db, username, PASSWORD, role, actor="test")


@pytest.fixture
def live_app(
    tmp_path: Path, mosquitto: Mosquitto, influx_db: InfluxV1, influxdb: InfluxDB, unique_name: str
) -> Iterator[LiveApp]:
    config = ioc_config(
        f"sqlite:///{tmp_path / 'ioc.sqlite'}", mosquitto, influxdb, f"ioc-{unique_name}", influx_db.database
    )
    admin = influxdb.client("admin", influx_db.database)
    for rp in (config.influx.rollup_1h_rp, config.influx.rollup_1d_rp):  # as the administrator lays them out
        admin.execute(f'CREATE RETENTION POLICY "{rp}" ON "{influx_db.database}" DURATION INF REPLICATION 1')
    admin.close()
    app = LiveApp(Desk(config)).start()
    for consumer in (app.desk.feed.consumer, app.desk.gateways.consumer):
        assert consumer.connected.wait(10), "the IOC's feeds did not connect"
    yield app
    app.stop()


@pytest.fixture
def publish(mosquitto: Mosquitto) -> Iterator[Callable[[str, bytes, bool], None]]:
    """Publish on the real broker at QoS 1 and wait for its PUBACK."""
    client = mosquitto.client("harness", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()

    def send(topic: str, payload: bytes, retain: bool = False) -> None:
        info = client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)
        assert info.is_published()

    yield send
    client.loop_stop()
    client.disconnect()


def warning_message(
    station: str = "le_thuy", level: int = 1, previous: int = 0, ts_ms: int | None = None, rule: str = "le_thuy_level"
) -> WarningMessage:
    ts = ts_ms if ts_ms is not None else int(time.time() * 1000)
    return WarningMessage(
        warning_id=f"{rule}:{station}.level:{ts}:{previous}->{level}",
        rule=rule,
        station=station,
        sensor=f"{station}.level",
        level=level,
        previous_level=previous,
        value=1.0 + level * 0.6,
        ts_ms=ts,
        thresholds_m=(1.2, 2.2, 2.7),
        thresholds_source="test",
    )


def publish_warning(send: Callable[[str, bytes, bool], None], message: WarningMessage) -> None:
    send(WARNINGS_TOPIC, encode_warning(message), False)


def wait_for(condition: Callable[[], object], timeout_s: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def listen_for_change(client: httpx.Client, last_event_id: int | None = None) -> Callable[[], dict[str, Any]]:
    """Open the event stream (returns once it is open); the returned call waits for the first change pushed.

    With `last_event_id`, as a reconnecting page does: the stream first replays what came after it."""
    headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
    received: list[dict[str, Any]] = []
    opened = threading.Event()

    def listen() -> None:
        with client.stream("GET", "/api/events", timeout=20, headers=headers) as stream:
            opened.set()
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    received.append(json.loads(line[6:]))
                    return

    listener = threading.Thread(target=listen, name="sse-listener")
    listener.start()
    assert opened.wait(10), "the event stream did not open"

    def first_change() -> dict[str, Any]:
        listener.join(20)
        assert received, "no change was pushed"
        return received[0]

    return first_change

"""Real peers for the tests: Mosquitto and InfluxDB from the Debian packages,
started once per session on free loopback ports in a temporary directory."""

import itertools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from broker_access.directory import AccessDirectory
from broker_access.registry import Role, ServiceAccount
from centre.influx import InfluxV1
from devstack.c_node import CBuild, SimulatedNode, build_c_node
from devstack.serial_line import PtyPair
from devstack.services import InfluxDB, Mosquitto

# CI (`.ci/run` sets HYPOTHESIS_PROFILE=ci) draws the same examples every run: a new find there
# would refuse a landing for a bug the change did not make. `scripts/test` elsewhere keeps
# drawing new ones; what it finds is fixed and pinned with @example.
settings.register_profile("ci", derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def services_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def broker_access(services_dir: Path) -> AccessDirectory:
    """The test broker's access registry: a project CA, the centre's service accounts and a
    `harness` account for tests that play several parts; gateways are added as tests name them."""
    access = AccessDirectory(services_dir / "access")
    access.init(["127.0.0.1", "localhost"], extra_services=[ServiceAccount(name="harness", role=Role.HARNESS)])
    return access


@pytest.fixture(scope="session")
def mosquitto(services_dir: Path, broker_access: AccessDirectory) -> Iterator[Mosquitto]:
    """TLS, no anonymous clients, ACLs: connect with `mosquitto.client(account)`."""
    broker = Mosquitto(services_dir, access=broker_access).start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def influxdb(services_dir: Path) -> Iterator[InfluxDB]:
    """Authentication on, as in the demo and production: `admin` prepares each test's database
    (`devstack.centre_influx`), ingest and the rules write as `writer`, the IOC app, Grafana's
    queries and backtests read as `reader`. A test that needs an open InfluxDB starts its own."""
    server = InfluxDB(services_dir, auth=True).start()
    yield server
    server.stop()


_counter = itertools.count()


@pytest.fixture
def unique_name() -> str:
    """A fresh name per test for gateways, databases and client ids (no shared state)."""
    return f"t{next(_counter)}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def influx_db(influxdb: InfluxDB, unique_name: str) -> Iterator[InfluxV1]:
    """A fresh database the admin created and granted, and the writer's client on it (what
    ingest would store, a test stores this way)."""
    database = unique_name.replace("-", "_")
    influxdb.grant(database)
    client = influxdb.client("writer", database)
    yield client
    client.close()


@pytest.fixture(scope="session")
def c_build(tmp_path_factory: pytest.TempPathFactory) -> CBuild:
    """The firmware_bridge C reference node and codec driver, built once with AddressSanitizer
    and UBSan: a memory fault or undefined behaviour aborts the process, which the tests see."""
    return build_c_node(tmp_path_factory.mktemp("c-node"), sanitize=True)


@pytest.fixture
def node_line(c_build: CBuild, tmp_path: Path) -> Iterator[tuple[str, SimulatedNode]]:
    """A simulated node on a socat pty pair: (the host's end of the line, the node)."""
    with PtyPair(tmp_path, "node") as pair, SimulatedNode(c_build.node, pair.device_end, tmp_path) as node:
        yield pair.master_end, node

"""The InfluxDB of the dashboard tests: one database loaded once with the demo's replay."""

from collections.abc import Iterator
from datetime import datetime

import pytest

from centre.influx import InfluxV1
from devstack.replay_influx import ReplayLoad, load_replay
from devstack.services import InfluxDB

START = datetime.fromisoformat("2020-10-01T00:00:00+07:00")
END = datetime.fromisoformat("2020-11-01T00:00:00+07:00")


@pytest.fixture(scope="session")
def replayed(influxdb: InfluxDB) -> Iterator[tuple[InfluxV1, ReplayLoad]]:
    """Loaded by the administrator (it lays out the rollups); the panels' queries run as
    `reader`, the account Grafana's data source uses."""
    influxdb.grant("grafana_panels")
    admin = influxdb.client("admin", "grafana_panels")
    load = load_replay(admin, START, END)
    reader = influxdb.client("reader", "grafana_panels")
    yield reader, load
    reader.close()
    admin.execute('DROP DATABASE "grafana_panels"')
    admin.close()

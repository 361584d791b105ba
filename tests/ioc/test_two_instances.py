"""Two API instances behind one address, sharing one PostgreSQL database and the warnings
(a shared subscription): each transition is taken once, and a change made on one
instance reaches the pages of the other."""

from collections.abc import Callable, Iterator

import httpx
import pytest
import sqlalchemy as sa

from devstack.services import InfluxDB, Mosquitto
from ioc.accounts import Role
from ioc.desk import Desk
from ioc.schema import AuditEntry, WarningRecord
from tests.ioc.conftest import (
    PASSWORD,
    LiveApp,
    ioc_config,
    listen_for_change,
    publish_warning,
    wait_for,
    warning_message,
)


@pytest.fixture
def two_apps(
    postgresql_url: str, mosquitto: Mosquitto, influxdb: InfluxDB, unique_name: str
) -> Iterator[tuple[LiveApp, LiveApp]]:
    apps = []
    for n in (1, 2):
        config = ioc_config(postgresql_url, mosquitto, influxdb, f"ioc-{n}-{unique_name}")
        config = config.model_copy(update={"broker": config.broker.model_copy(update={"shared_group": unique_name})})
        apps.append(LiveApp(Desk(config)).start())
    for app in apps:
        assert app.desk.feed.consumer.connected.wait(10)
    yield apps[0], apps[1]
    for app in apps:
        app.stop()


def test_two_instances_share_the_feed_and_the_pushes(
    two_apps: tuple[LiveApp, LiveApp], publish: Callable[[str, bytes, bool], None]
) -> None:
    first, second = two_apps
    first.add_user("lan", Role.operator)
    messages = [warning_message(station=s, level=1, rule=f"r{n}") for n in range(10) for s in ("le_thuy", "kim_long")]
    for message in messages + messages[:5]:  # five repeats
        publish_warning(publish, message)

    def taken() -> int:
        return sum(app.desk.feed.outcomes.total() for app in two_apps)

    wait_for(lambda: taken() == len(messages) + 5, what="both instances to take every message")
    with first.desk.sessions() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(WarningRecord)) == len(messages)
        assert db.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.actor == "rules")) == 20
    assert first.desk.feed.outcomes["raised"] > 0 and second.desk.feed.outcomes["raised"] > 0  # both took a share

    operator = httpx.Client(base_url=first.url, timeout=10)
    assert operator.post("/api/login", json={"username": "lan", "password": PASSWORD}).status_code == 200
    viewer = httpx.Client(base_url=second.url, timeout=10)  # the same account, logged in on the other instance
    assert viewer.post("/api/login", json={"username": "lan", "password": PASSWORD}).status_code == 200
    with first.desk.sessions() as db:
        newest = db.scalar(sa.select(sa.func.max(AuditEntry.id)))
    # the other instance's hub has pushed what the feed did (it reads the shared trail every 0.5 s)
    wait_for(lambda: second.desk.hub.last_id == newest, what="the second instance's hub to catch up")
    first_change = listen_for_change(viewer)
    warning_id = operator.get("/api/warnings", params={"active": True}).json()["warnings"][0]["id"]
    assert operator.post(f"/api/warnings/{warning_id}/acknowledge", json={"note": "on it"}).status_code == 200
    change = first_change()
    assert (change["audit"]["actor"], change["audit"]["action"]) == ("lan", "acknowledged")
    assert change["warning"]["id"] == warning_id
    wait_for(
        lambda: any(w["acknowledged_by"] == "lan" for w in viewer.get("/api/warnings").json()["warnings"]),
        what="the other instance's list to show the acknowledgement",
    )

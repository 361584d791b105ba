"""Public alerts live in the desk's database: draft -> approved -> sent, each step audited.

An operator's approval on an instance that does not send leaves the alert resting `approved`
in the desk; the sending service of another instance on the same SQLite or PostgreSQL
database sends it (`sent`, in the feed); and a restarted IOC serves the same Atom feed and
the same CAP XML, byte for byte."""

from collections.abc import Callable, Iterator

import httpx
import pytest
from lxml import etree

from devstack.services import InfluxDB, Mosquitto
from ioc.accounts import Role
from ioc.desk import Desk
from public_alerts import validate_cap
from public_alerts.feed import ATOM_NS
from tests.ioc.conftest import LiveApp, ioc_config, publish_warning, wait_for, warning_message
from tests.ioc.test_api import Send, active_warnings, logged_in


def _entries(client: httpx.Client) -> list[str]:
    feed = etree.fromstring(client.get("/public/alerts.atom").content)
    return [str(i) for i in feed.xpath("//a:entry/a:id/text()", namespaces={"a": ATOM_NS})]


@pytest.fixture
def start_app(
    database_url: str, mosquitto: Mosquitto, influxdb: InfluxDB, unique_name: str
) -> Iterator[Callable[..., LiveApp]]:
    apps: list[LiveApp] = []

    def start(n: int, sends: bool = True) -> LiveApp:
        config = ioc_config(database_url, mosquitto, influxdb, f"ioc-{n}-{unique_name}")
        config = config.model_copy(update={"sender": config.sender.model_copy(update={"run": sends, "poll_s": 0.2})})
        app = LiveApp(Desk(config)).start()
        assert app.desk.feed.consumer.connected.wait(10), "the IOC's feed did not connect"
        apps.append(app)
        return app

    yield start
    for app in apps:
        if app.thread.is_alive():
            app.stop()


def test_draft_approved_sent_is_audited_and_the_feed_outlives_a_restart(
    start_app: Callable[..., LiveApp], publish: Send
) -> None:
    first = start_app(1, False)  # this instance's sending service is off
    operator = logged_in(first, "lan", Role.operator)
    viewer = logged_in(first, "hoa", Role.viewer)
    public = httpx.Client(base_url=first.url, timeout=10)
    bd3 = warning_message(level=3)
    publish_warning(publish, bd3)
    wait_for(lambda: viewer.get("/api/public/alerts?state=draft").json(), what="the draft")

    # draft: the operators see it, the public does not
    [draft] = viewer.get("/api/public/alerts?state=draft").json()
    assert draft["transition_id"] == bd3.warning_id and draft["level"] == 3
    assert draft["approved_by"] is None and draft["sent_ms"] is None and draft["msg_type"] is None
    assert _entries(public) == []
    assert public.get(f"/public/alerts/{draft['identifier']}.xml").status_code == 404
    [warning] = active_warnings(viewer)
    trail = [(e["actor"], e["action"]) for e in viewer.get(f"/api/warnings/{warning['id']}").json()["audit"]]
    assert ("system", "public_draft") in trail and ("lan", "approved") not in trail

    # approved: it rests in the desk, audited with who and when; nothing is sent yet
    assert viewer.post(f"/api/warnings/{warning['id']}/approve").status_code == 403
    done = operator.post(f"/api/warnings/{warning['id']}/approve")
    assert done.status_code == 200, done.text
    approved = done.json()
    assert (approved["identifier"], approved["state"], approved["approved_by"]) == (
        draft["identifier"],
        "approved",
        "lan",
    )
    assert approved["sent_ms"] is None and approved["msg_type"] is None and approved["url"] is None
    assert "cap_feed" in approved["channels"] and "sms_gateway" in approved["channels"]
    assert operator.post(f"/api/warnings/{warning['id']}/approve").json() == approved  # again: nothing changes
    assert viewer.get("/api/public/alerts?state=approved").json() == [approved]
    assert viewer.get("/api/public/alerts?state=draft").json() == []
    assert _entries(public) == []
    assert public.get(f"/public/alerts/{draft['identifier']}.xml").status_code == 404
    trail = [(e["actor"], e["action"]) for e in viewer.get(f"/api/warnings/{warning['id']}").json()["audit"]]
    assert ("lan", "approved") in trail and ("sender", "published") not in trail

    # the sending service (here another instance's, on the same database) sends it: `sent`, in the feed
    sending = start_app(3)
    wait_for(lambda: _entries(public) == [draft["identifier"]], what="the sent alert in the feed")
    [sent] = viewer.get("/api/public/alerts?state=sent").json()
    assert (sent["state"], sent["msg_type"], sent["approved_by"]) == ("sent", "Alert", "lan")
    assert sent["approved_ms"] == approved["approved_ms"] and sent["sent_ms"] >= sent["approved_ms"]
    assert sent["url"].endswith(f"/public/alerts/{draft['identifier']}.xml")
    assert viewer.get("/api/public/alerts?state=approved").json() == []
    audit = viewer.get(f"/api/warnings/{warning['id']}").json()["audit"]
    steps = [(e["actor"], e["action"]) for e in audit]
    assert (
        steps.index(("system", "public_draft"))
        < steps.index(("lan", "approved"))
        < steps.index(("sender", "published"))
    )
    published = next(e for e in audit if e["action"] == "published")
    assert published["detail"]["approved_by"] == "lan" and published["detail"]["msg_type"] == "Alert"
    assert all(e["at_ms"] > 0 for e in audit)
    sending.stop()

    # the fall to BĐ2 follows the public chain without a second approval: an Update
    publish_warning(publish, warning_message(level=2, previous=3, ts_ms=bd3.ts_ms + 1000))
    wait_for(lambda: _entries(public) not in ([], [draft["identifier"]]), what="the Update")
    identifiers = [a["identifier"] for a in viewer.get("/api/public/alerts?state=sent").json()]
    assert len(identifiers) == 2
    feed = public.get("/public/alerts.atom").content
    caps = {i: public.get(f"/public/alerts/{i}.xml").content for i in identifiers}
    first.stop()

    # a new instance on the same database: the same feed, the same CAP XML, still schema-valid
    second = start_app(2)
    again = httpx.Client(base_url=second.url, timeout=10)
    assert again.get("/public/alerts.atom").content == feed
    for identifier, xml in caps.items():
        served = again.get(f"/public/alerts/{identifier}.xml")
        assert served.status_code == 200 and served.content == xml
        validate_cap(served.content)
    assert b"<msgType>Update</msgType>" in caps[identifiers[0]]
    assert identifiers[1].encode() in caps[identifiers[0]]  # the Update references the Alert

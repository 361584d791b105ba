"""Draft -> approved -> sent in the IOC desk: a warning from the broker waits until an operator
publishes it, then its CAP alert is in the IOC app's Atom feed and at its own URL."""

import httpx
from lxml import etree

from ioc.accounts import Role
from public_alerts import validate_cap
from public_alerts.feed import ATOM_NS
from tests.ioc.conftest import LiveApp, publish_warning, wait_for, warning_message
from tests.ioc.test_api import Send, active_warnings, logged_in

NS = {"a": ATOM_NS}


def _entries(client: httpx.Client) -> list[str]:
    feed = etree.fromstring(client.get("/public/alerts.atom").content)
    return [str(i) for i in feed.xpath("//a:entry/a:id/text()", namespaces=NS)]


def test_an_operator_publishes_a_bd3_warning_and_the_public_feed_has_it(live_app: LiveApp, publish: Send) -> None:
    operator = logged_in(live_app, "lan", Role.operator)
    viewer = logged_in(live_app, "hoa", Role.viewer)
    public = httpx.Client(base_url=live_app.url, timeout=10)  # no login
    publish_warning(publish, warning_message(level=1))
    bd3 = warning_message(level=3, previous=1)
    publish_warning(publish, bd3)
    wait_for(lambda: [w["level"] for w in active_warnings(viewer)] == [3], what="the BĐ3 warning")
    [warning] = active_warnings(viewer)
    assert _entries(public) == []  # a draft until an operator approves it

    assert viewer.post(f"/api/warnings/{warning['id']}/publish").status_code == 403
    done = operator.post(f"/api/warnings/{warning['id']}/publish")
    assert done.status_code == 200, done.text
    alert = done.json()
    assert alert["msg_type"] == "Alert" and alert["url"].endswith(f"/public/alerts/{alert['identifier']}.xml")
    assert operator.post(f"/api/warnings/{warning['id']}/publish").json() == alert  # the same transition: same alert
    assert _entries(public) == [alert["identifier"]]
    cap = public.get(f"/public/alerts/{alert['identifier']}.xml")
    assert cap.headers["content-type"].startswith("application/cap+xml")
    validate_cap(cap.content)
    assert b"Ki\xe1\xba\xbfn Giang" in cap.content  # the river's name, in UTF-8
    detail = viewer.get(f"/api/warnings/{warning['id']}").json()
    assert ("lan", "published") in [(e["actor"], e["action"]) for e in detail["audit"]]

    # BĐ1 at another station: the policy keeps it from the public
    publish_warning(publish, warning_message(station="kim_long", level=1, rule="kim_long_level"))
    wait_for(lambda: len(active_warnings(viewer)) == 2, what="the Kim Long warning")
    kim_long = next(w for w in active_warnings(viewer) if w["station"] == "kim_long")
    refused = operator.post(f"/api/warnings/{kim_long['id']}/publish")
    assert refused.status_code == 409 and "does not make level level 1 at kim_long public" in refused.json()["detail"]

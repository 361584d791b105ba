"""Draft -> approved -> sent in the IOC desk: a warning from the broker waits until an operator
approves it, the app's sending service sends it, and its CAP alert is in the IOC app's Atom
feed and at its own URL; its webhooks are delivered signed."""

import time
from pathlib import Path

import httpx
import pytest
import yaml
from lxml import etree

from centre.influx import InfluxV1
from devstack.services import InfluxDB, Mosquitto
from devstack.webhook_receiver import WebhookReceiver
from ioc.accounts import Role
from ioc.desk import Desk
from public_alerts import validate_cap
from public_alerts.feed import ATOM_NS
from public_alerts.policy import SAMPLE_POLICY
from public_alerts.webhooks import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify_signature
from tests.ioc.conftest import LiveApp, ioc_config, publish_warning, wait_for, warning_message
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

    assert viewer.post(f"/api/warnings/{warning['id']}/approve").status_code == 403
    done = operator.post(f"/api/warnings/{warning['id']}/approve")
    assert done.status_code == 200, done.text
    alert = done.json()
    assert (alert["state"], alert["approved_by"]) == ("approved", "lan")
    wait_for(lambda: _entries(public) == [alert["identifier"]], what="the sending service to put it in the feed")
    again = operator.post(f"/api/warnings/{warning['id']}/approve").json()  # the same transition: the same alert
    assert (again["identifier"], again["state"], again["msg_type"]) == (alert["identifier"], "sent", "Alert")
    assert again["url"].endswith(f"/public/alerts/{alert['identifier']}.xml")
    cap = public.get(f"/public/alerts/{alert['identifier']}.xml")
    assert cap.headers["content-type"].startswith("application/cap+xml")
    validate_cap(cap.content)
    assert b"Ki\xe1\xba\xbfn Giang" in cap.content  # the river's name, in UTF-8
    detail = viewer.get(f"/api/warnings/{warning['id']}").json()
    steps = [(e["actor"], e["action"]) for e in detail["audit"]]
    assert steps.index(("lan", "approved")) < steps.index(("sender", "published"))

    # what the rules say next follows the published warning: BĐ2 is an Update, the all clear a Cancel
    publish_warning(publish, warning_message(level=2, previous=3, ts_ms=bd3.ts_ms + 1000))
    wait_for(lambda: len(_entries(public)) == 1 and _entries(public) != [alert["identifier"]], what="the Update")
    [update] = _entries(public)
    update_xml = public.get(f"/public/alerts/{update}.xml").content
    validate_cap(update_xml)
    assert b"<msgType>Update</msgType>" in update_xml and alert["identifier"].encode() in update_xml
    publish_warning(publish, warning_message(level=0, previous=2, ts_ms=bd3.ts_ms + 2000))
    wait_for(lambda: _entries(public) == [], what="the Cancel to take the alert off the feed")

    # BĐ1 at another station: the policy keeps it from the public
    publish_warning(publish, warning_message(station="kim_long", level=1, rule="kim_long_level"))
    wait_for(lambda: [w["station"] for w in active_warnings(viewer)] == ["kim_long"], what="the Kim Long warning")
    kim_long = next(w for w in active_warnings(viewer) if w["station"] == "kim_long")
    refused = operator.post(f"/api/warnings/{kim_long['id']}/approve")
    assert refused.status_code == 409 and "does not make level level 1 at kim_long public" in refused.json()["detail"]


def test_a_published_alert_reaches_the_webhook_signed_and_an_unkeyed_channel_is_a_dead_letter(
    tmp_path: Path,
    mosquitto: Mosquitto,
    influx_db: InfluxV1,
    influxdb: InfluxDB,
    unique_name: str,
    publish: Send,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with WebhookReceiver(fail_first=2) as receiver:
        policy = yaml.safe_load(SAMPLE_POLICY.read_text())
        hook = {"type": "webhook", "url": receiver.url, "first_retry_s": 0.05, "max_retry_s": 0.1}
        policy["channels"]["sms_gateway"] = hook | {"secret_env": "TEST_SMS_SECRET"}
        policy["channels"]["zalo_bridge"] = hook | {"secret_env": "TEST_ZALO_SECRET_UNSET"}
        policy["routes"].append({"channel": "zalo_bridge", "kinds": ["level"], "min_level": 2})
        (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy, allow_unicode=True))
        monkeypatch.setenv("TEST_SMS_SECRET", "s3cret")
        monkeypatch.delenv("TEST_ZALO_SECRET_UNSET", raising=False)
        config = ioc_config(
            f"sqlite:///{tmp_path / 'ioc.sqlite'}", mosquitto, influxdb, f"ioc-{unique_name}", influx_db.database
        ).model_copy(update={"public_policy": tmp_path / "policy.yaml"})
        app = LiveApp(Desk(config)).start()
        try:
            assert app.desk.feed.consumer.connected.wait(10)
            operator = logged_in(app, "lan", Role.operator)
            bd2 = warning_message(level=2)
            publish_warning(publish, bd2)
            wait_for(lambda: active_warnings(operator), what="the BĐ2 warning")
            [warning] = active_warnings(operator)
            assert operator.post(f"/api/warnings/{warning['id']}/approve").status_code == 200
            wait_for(lambda: receiver.accepted(), what="the webhook, after two failures")
            wait_for(lambda: len(operator.get("/api/public/deliveries").json()) == 2, what="both deliveries")
            dead = operator.get("/api/public/deliveries", params={"state": "dead"}).json()
        finally:
            app.stop()
    [accepted] = receiver.accepted()
    assert len(receiver.requests) == 3
    assert accepted.headers[IDEMPOTENCY_HEADER] == bd2.warning_id
    assert verify_signature(b"s3cret", accepted.body, accepted.headers[SIGNATURE_HEADER], now_s=time.time())
    assert [(d["channel"], d["idempotency_key"]) for d in dead] == [("zalo_bridge", bd2.warning_id)]
    assert "set TEST_ZALO_SECRET_UNSET" in dead[0]["last_error"]

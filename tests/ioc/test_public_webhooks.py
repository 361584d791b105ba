"""Webhooks from the running IOC app to a real local HTTP receiver, through the broker and the desk.

An approved alert's Updates and Cancels (what the rules say next, taken by the desk's feed)
go to the same webhook channels as the alert, each keyed by its own transition id, the
Cancel too though its own level routes nowhere. A warning routed to a webhook but not to the
feed is sent as a CAP alert outside the Atom feed: the webhook carries its URL, which the app
serves, schema-valid.
"""

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from lxml import etree

from devstack.services import Mosquitto
from devstack.webhook_receiver import WebhookReceiver
from ioc.accounts import Role
from ioc.desk import Desk
from public_alerts.cap_schema import validate_cap
from public_alerts.feed import ATOM_NS
from public_alerts.policy import SAMPLE_POLICY
from public_alerts.webhooks import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify_signature
from tests.ioc.conftest import PASSWORD, LiveApp, ioc_config, publish_warning, wait_for, warning_message

SECRET = "test-webhook-secret"


def _policy_file(tmp_path: Path, receiver_url: str, base_url: str, feed_min_level: int) -> Path:
    data: dict[str, Any] = yaml.safe_load(SAMPLE_POLICY.read_text())
    data["base_url"] = base_url
    data["channels"]["sms_gateway"].update(url=receiver_url, secret_env="TEST_SMS_SECRET", first_retry_s=0.05)
    data["routes"][0]["min_level"] = feed_min_level  # cap_feed; sms_gateway stays at BĐ2
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(fail_first=2) as receiver:  # down for a while, then recovers
        yield receiver


def _app(tmp_path: Path, mosquitto: Mosquitto, unique_name: str, receiver: WebhookReceiver, feed_min: int) -> LiveApp:
    config = ioc_config(f"sqlite:///{tmp_path / 'ioc.sqlite'}", mosquitto, None, f"ioc-{unique_name}")
    base_url = f"http://{config.http.host}:{config.http.port}"
    config = config.model_copy(update={"public_policy": _policy_file(tmp_path, receiver.url, base_url, feed_min)})
    app = LiveApp(Desk(config)).start()
    assert app.desk.feed.consumer.connected.wait(10), "the IOC's feed did not connect"
    app.add_user("lan", Role.operator)
    return app


def _login(app: LiveApp) -> httpx.Client:
    client = httpx.Client(base_url=app.url, timeout=10)
    client.post("/api/login", json={"username": "lan", "password": PASSWORD}).raise_for_status()
    return client


def _approve_when_drafted(client: httpx.Client, transition_id: str) -> None:
    def drafted() -> list[dict[str, Any]]:
        return [a for a in client.get("/api/public/alerts?state=draft").json() if a["transition_id"] == transition_id]

    wait_for(drafted, what="the draft")
    client.post(f"/api/warnings/{drafted()[0]['warning_id']}/approve").raise_for_status()


def _bodies(receiver: WebhookReceiver, count: int) -> list[dict[str, Any]]:
    wait_for(lambda: len(receiver.accepted()) >= count, what=f"{count} webhooks delivered")
    accepted = receiver.accepted()
    for request in receiver.requests:
        assert verify_signature(SECRET.encode(), request.body, request.headers[SIGNATURE_HEADER], now_s=time.time())
    bodies = [json.loads(r.body) for r in accepted]
    assert [r.headers[IDEMPOTENCY_HEADER] for r in accepted] == [b["idempotency_key"] for b in bodies]
    return bodies


def _feed_ids(client: httpx.Client) -> list[str]:
    feed = etree.fromstring(client.get("/public/alerts.atom").content)
    return [str(i) for i in feed.xpath("//a:entry/a:id/text()", namespaces={"a": ATOM_NS})]


def test_updates_and_the_cancel_of_an_approved_alert_reach_its_webhook(
    tmp_path: Path,
    mosquitto: Mosquitto,
    unique_name: str,
    receiver: WebhookReceiver,
    publish: Callable[[str, bytes, bool], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_SMS_SECRET", SECRET)
    app = _app(tmp_path, mosquitto, unique_name, receiver, feed_min=2)
    try:
        client = _login(app)
        t0 = int(time.time() * 1000)
        steps = [
            warning_message("kim_long", 3, 0, t0, rule="kim_long_level"),
            warning_message("kim_long", 1, 3, t0 + 1000, rule="kim_long_level"),  # falls below the webhook's BĐ2
            warning_message("kim_long", 0, 1, t0 + 2000, rule="kim_long_level"),  # clears from BĐ1: routes nowhere
        ]
        publish_warning(publish, steps[0])
        _approve_when_drafted(client, steps[0].warning_id)
        assert [b["msg_type"] for b in _bodies(receiver, 1)] == ["Alert"]
        for n, step in enumerate(steps[1:], start=2):  # the rules' next word: no second approval
            publish_warning(publish, step)
            _bodies(receiver, n)
        bodies = _bodies(receiver, 3)
        assert [(b["idempotency_key"], b["msg_type"], b["level"]) for b in bodies] == [
            (steps[0].warning_id, "Alert", 3),
            (steps[1].warning_id, "Update", 1),
            (steps[2].warning_id, "Cancel", 0),
        ]
        assert len(receiver.requests) == 2 + 3  # the two failures were retried, nothing sent twice
        assert _feed_ids(client) == []  # the Cancel took it off the feed

        def recorded() -> dict[tuple[str, str], str]:  # the log is written once each answer is in
            return {
                (d["channel"], d["idempotency_key"]): d["state"] for d in client.get("/api/public/deliveries").json()
            }

        delivered = {("sms_gateway", s.warning_id): "delivered" for s in steps}
        wait_for(lambda: recorded() == delivered, what="the deliveries recorded delivered")
    finally:
        app.stop()


def test_a_warning_routed_to_a_webhook_but_not_the_feed_sends_its_cap_url(
    tmp_path: Path,
    mosquitto: Mosquitto,
    unique_name: str,
    receiver: WebhookReceiver,
    publish: Callable[[str, bytes, bool], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_SMS_SECRET", SECRET)
    app = _app(tmp_path, mosquitto, unique_name, receiver, feed_min=3)  # BĐ2: the webhook only
    try:
        client = _login(app)
        t0 = int(time.time() * 1000)
        bd2 = warning_message("kim_long", 2, 0, t0, rule="kim_long_level")
        publish_warning(publish, bd2)
        _approve_when_drafted(client, bd2.warning_id)
        [body] = _bodies(receiver, 1)
        assert (body["idempotency_key"], body["msg_type"]) == (bd2.warning_id, "Alert")
        assert body["cap_url"] == f"{app.url}/public/alerts/{body['identifier']}.xml"
        xml = httpx.get(body["cap_url"])
        assert xml.status_code == 200 and xml.headers["content-type"] == "application/cap+xml"
        validate_cap(xml.content)
        assert etree.fromstring(xml.content).findtext("{*}identifier") == body["identifier"]
        [sent] = client.get("/api/public/alerts?state=sent").json()
        assert (sent["identifier"], sent["approved_by"]) == (body["identifier"], "lan")
        assert _feed_ids(client) == []  # not routed to the feed: not in it

        clear = warning_message("kim_long", 0, 2, t0 + 1000, rule="kim_long_level")
        publish_warning(publish, clear)
        bodies = _bodies(receiver, 2)
        assert (bodies[1]["idempotency_key"], bodies[1]["msg_type"]) == (clear.warning_id, "Cancel")
        assert _feed_ids(client) == []
    finally:
        app.stop()

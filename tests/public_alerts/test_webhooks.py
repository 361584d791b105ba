"""Webhooks against a real local HTTP receiver that fails for a while, then recovers."""

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine

from devstack.webhook_receiver import WebhookReceiver
from public_alerts import AlertBook, PublicPolicy
from public_alerts.delivery_log import DeliveryLog
from public_alerts.policy import SAMPLE_POLICY
from public_alerts.webhooks import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, WebhookSender, verify_signature
from tests.public_alerts.conftest import warning

T0_MS = 1_602_979_200_000
SECRET = b"test-secret-not-for-production"


def _policy(channels: dict[str, dict[str, Any]]) -> PublicPolicy:
    data = yaml.safe_load(SAMPLE_POLICY.read_text())
    data["channels"] = {"cap_feed": {"type": "feed"}, **channels}
    data["routes"] = [
        {"channel": "cap_feed", "kinds": ["level"], "min_level": 2},
        *({"channel": name, "kinds": ["level"], "min_level": 2} for name in channels),
    ]
    return PublicPolicy.model_validate(data)


def _hook(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "webhook",
        "url": url,
        "secret_env": "HOOK_SECRET",
        "first_retry_s": 0.01,
        "max_retry_s": 0.05,
        "max_per_minute": 6000,
    } | extra


def _log(tmp_path: Path) -> DeliveryLog:
    log = DeliveryLog(create_engine(f"sqlite:///{tmp_path / 'desk.db'}"))
    log.create_tables()
    return log


def test_a_receiver_down_for_a_while_gets_each_alert_once_signed_after_it_recovers(tmp_path: Path, names) -> None:  # type: ignore[no-untyped-def]
    with (
        WebhookReceiver(fail_first=5) as flaky,
        WebhookReceiver(fail_first=10**6) as dead,
        WebhookReceiver(fail_first=10**6, fail_status=400) as refusing,
    ):
        policy = _policy(
            {
                "sms": _hook(flaky.url, max_attempts=8),
                "zalo": _hook(dead.url, max_attempts=4),
                "app": _hook(refusing.url, max_attempts=4),
            }
        )
        book, log = AlertBook(policy, names), _log(tmp_path)
        alerts = [book.take(warning("le_thuy", 3, 2, T0_MS), T0_MS), book.take(warning("kim_long", 2, 1, T0_MS), T0_MS)]

        async def run() -> None:
            async with WebhookSender(policy, log, {"HOOK_SECRET": SECRET}) as sender:
                for alert in alerts:
                    assert alert is not None
                    assert sorted(await sender.deliver(alert)) == ["app", "sms", "zalo"]
                    assert await sender.deliver(alert) == []  # a repeated transition is not sent again
                await sender.drain()

        asyncio.run(run())

    accepted = flaky.accepted()
    assert len(flaky.requests) == 5 + 2 and len(accepted) == 2
    keys = sorted(r.headers[IDEMPOTENCY_HEADER] for r in accepted)
    assert keys == sorted(a.warning.warning_id for a in alerts if a is not None)
    for request in flaky.requests:
        assert verify_signature(SECRET, request.body, request.headers[SIGNATURE_HEADER], now_s=time.time())
        assert not verify_signature(b"other", request.body, request.headers[SIGNATURE_HEADER], now_s=time.time())
    body = json.loads(accepted[0].body)
    assert body["cap_url"].endswith(f"/public/alerts/{body['identifier']}.xml")
    # every retry of one delivery carries the same key
    by_key: dict[str, int] = {}
    for request in flaky.requests:
        by_key[request.headers[IDEMPOTENCY_HEADER]] = by_key.get(request.headers[IDEMPOTENCY_HEADER], 0) + 1
    assert sum(by_key.values()) == 7

    assert len(dead.requests) == 2 * 4  # max_attempts each, then dead
    assert len(refusing.requests) == 2  # a 400 is final: no retry
    states = {(r.channel, r.idempotency_key): (r.state, r.attempts) for r in log.records()}
    assert {k[0]: v for k, v in states.items() if k[0] != "sms"} == {"zalo": ("dead", 4), "app": ("dead", 1)}
    assert sorted(v[0] for k, v in states.items() if k[0] == "sms") == ["delivered", "delivered"]
    dead_letters = log.dead_letters()
    assert len(dead_letters) == 4
    assert all("HTTP 500" not in d.last_error for d in dead_letters)
    assert {d.last_error.split(":")[0] for d in dead_letters} == {"HTTP 503", "HTTP 400"}
    assert any("after 4 attempts" in d.last_error for d in dead_letters)


def test_a_channel_is_held_to_its_rate(tmp_path: Path, names) -> None:  # type: ignore[no-untyped-def]
    # 60 a minute: a burst of 6 (a tenth), then one a second.
    with WebhookReceiver() as receiver:
        policy = _policy({"sms": _hook(receiver.url, max_per_minute=60)})
        book, log = AlertBook(policy, names), _log(tmp_path)
        stations = ["le_thuy", "kim_long", "phu_oc"]
        alerts = [book.take(warning(s, 2 + i, 1 + i, T0_MS), T0_MS) for i in range(2) for s in stations]
        alerts += [book.take(warning("le_thuy", 2, 3, T0_MS + 1), T0_MS + 1)]

        async def run() -> None:
            async with WebhookSender(policy, log, {"HOOK_SECRET": SECRET}) as sender:
                for alert in alerts:
                    assert alert is not None
                    await sender.deliver(alert)
                await sender.drain()

        asyncio.run(run())
    arrivals = sorted(r.at_s for r in receiver.accepted())
    assert len(arrivals) == 7
    assert arrivals[6] - arrivals[0] >= 0.9  # the seventh waited for a token

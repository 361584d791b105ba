"""Nothing accepted is lost: a webhook delivery still retrying when its sender's process died is resumed.

A real local receiver (devstack/webhook_receiver.py) and the desk's own database (SQLite and
PostgreSQL). The first life of the sending service runs in its own process and is killed with
SIGKILL while the receiver is failing, its delivery `pending` mid-backoff: the same instance
restarted, or another instance once the dead one's lease lapsed, delivers it exactly once, with
the same idempotency key and the attempt count carried on. Of two instances looking at once, one
takes it; a live instance's delivery is not taken; one past its alert's expiry is a dead letter.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from devstack.webhook_receiver import WebhookReceiver
from ioc.database import migrate, open_engine, session_factory
from ioc.sender import AlertSender
from public_alerts import AlertBook, PublicPolicy, load_policy
from public_alerts.delivery_log import DeliveryLog, DeliveryRecord
from public_alerts.policy import SAMPLE_POLICY
from public_alerts.sirens import CommandLog
from public_alerts.stations import station_names
from public_alerts.tables import webhook_deliveries
from public_alerts.webhooks import IDEMPOTENCY_HEADER, WebhookSender
from rules.levels import SHIPPED_ALARM_LEVELS, load_alarm_levels
from tests.ioc.conftest import wait_for, warning_message
from tests.ioc.test_sender import _approve, _no_webhooks, _take
from tests.ioc.webhook_sender_life import SECRETS

REPO = Path(__file__).resolve().parents[2]
LEASE_MARGIN_S = 0.3


class Desk:
    """The desk's database with one approved warning sent (its webhook committed, not yet claimed)."""

    def __init__(self, url: str, policy_path: Path) -> None:
        self.url = url
        self.policy_path = policy_path
        self.policy = load_policy(policy_path)
        self.engine = open_engine(url)
        migrate(self.engine)
        self.sessions: sessionmaker[DbSession] = session_factory(self.engine)
        names = station_names(load_alarm_levels(SHIPPED_ALARM_LEVELS))
        self.book = AlertBook(self.policy, names, engine=self.engine)
        self.sirens = CommandLog(self.engine)
        self.log = DeliveryLog(self.engine)
        self.bd3 = warning_message(station="kim_long", level=3, previous=0, rule="kim_long_level")
        _take(self.sessions, self.book, self.bd3)
        _approve(self.sessions, self.book, "lan")
        [sent] = AlertSender(self.sessions, self.book, self.sirens, _no_webhooks, lambda: None).send_all()
        assert sent.webhooks

    def delivery(self) -> DeliveryRecord:
        [record] = self.log.records()
        return record

    def hooks(self, owner: str) -> WebhookSender:
        return WebhookSender(self.policy, self.log, SECRETS, owner=owner, lease_margin_s=LEASE_MARGIN_S)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(fail_first=10**6) as failing:  # down until the test says otherwise
        yield failing


@pytest.fixture
def desk(database_url: str, tmp_path: Path, receiver: WebhookReceiver) -> Iterator[Desk]:
    data = yaml.safe_load(SAMPLE_POLICY.read_text())
    data["channels"]["sms_gateway"].update(
        url=receiver.url, secret_env="TEST_SMS_SECRET", first_retry_s=0.2, max_retry_s=0.4, timeout_s=2,
        max_attempts=50,
    )  # fmt: skip
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(PublicPolicy.model_validate(data).model_dump(mode="json"), allow_unicode=True))
    made = Desk(database_url, path)
    yield made
    made.engine.dispose()


def _first_life_killed_mid_retry(desk: Desk, receiver: WebhookReceiver, owner: str) -> DeliveryRecord:
    """The sending service in its own process claims the delivery, fails twice, and is killed (SIGKILL)."""
    args = [desk.url, str(desk.policy_path), owner, str(LEASE_MARGIN_S)]
    life = subprocess.Popen([sys.executable, "-m", "tests.ioc.webhook_sender_life", *args], cwd=REPO)
    try:
        wait_for(lambda: desk.log.records() and desk.delivery().attempts >= 2, 30, "two failed attempts")
    finally:
        os.kill(life.pid, signal.SIGKILL)
        life.wait(10)
    dead = desk.delivery()
    assert (dead.state, dead.owner) == ("pending", owner)
    receiver.fail_first = len(receiver.requests)  # the receiver recovers: every request from now is accepted
    return dead


def _accepted_keys(receiver: WebhookReceiver) -> list[str]:
    return [r.headers[IDEMPOTENCY_HEADER] for r in receiver.accepted()]


def test_a_delivery_failing_when_the_process_died_is_delivered_once_after_a_restart(
    desk: Desk, receiver: WebhookReceiver
) -> None:
    dead = _first_life_killed_mid_retry(desk, receiver, "ioc-a")

    async def restart() -> None:  # the same instance (its name), as the IOC app starts its sender
        async with desk.hooks("ioc-a") as hooks:
            sender = AlertSender(desk.sessions, desk.book, desk.sirens, hooks.deliver_many, lambda: None, poll_s=60)
            sender.resume_deliveries = hooks.resume
            task = asyncio.create_task(sender.run())
            while desk.delivery().state != "delivered":
                await asyncio.sleep(0.02)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(asyncio.wait_for(restart(), 30))
    assert _accepted_keys(receiver) == [desk.bd3.warning_id]  # exactly once
    assert {r.headers[IDEMPOTENCY_HEADER] for r in receiver.requests} == {desk.bd3.warning_id}  # one key throughout
    delivered = desk.delivery()
    assert (delivered.attempts, delivered.owner) == (dead.attempts + 1, "ioc-a")  # the count carried on


def test_another_instance_takes_over_once_the_dead_ones_lease_lapsed_and_only_one_of_two(
    desk: Desk, receiver: WebhookReceiver
) -> None:
    dead = _first_life_killed_mid_retry(desk, receiver, "ioc-a")

    async def survivors() -> None:
        async with desk.hooks("ioc-b") as b, desk.hooks("ioc-c") as c:
            while desk.delivery().lease_until_ms >= time.time() * 1000:  # the dead holder's lease runs out
                assert await b.resume() == [] and await c.resume() == []  # not before: it may be alive
                await asyncio.sleep(0.05)
            taken = await asyncio.gather(b.resume(), c.resume())  # both look at once
            assert sorted(len(t) for t in taken) == [0, 1]
            await b.drain()
            await c.drain()

    asyncio.run(asyncio.wait_for(survivors(), 30))
    assert _accepted_keys(receiver) == [desk.bd3.warning_id]
    delivered = desk.delivery()
    assert delivered.state == "delivered" and delivered.attempts == dead.attempts + 1
    assert delivered.owner in ("ioc-b", "ioc-c")


def test_a_live_instances_delivery_is_not_taken_and_one_past_its_alerts_expiry_is_a_dead_letter(
    desk: Desk, receiver: WebhookReceiver
) -> None:
    async def two_instances() -> None:
        async with desk.hooks("ioc-a") as a, desk.hooks("ioc-b") as b:
            with desk.engine.connect() as connection:
                [alert] = desk.book.sent_since(0, connection)
            assert await a.deliver(alert) == ["sms_gateway"]
            while desk.delivery().attempts < 2:  # a is retrying against the failing receiver
                assert await b.resume() == []
                await asyncio.sleep(0.02)
            assert await b.resume() == [] and desk.delivery().owner == "ioc-a"

    asyncio.run(asyncio.wait_for(two_instances(), 30))
    # a stopped (released it); the alert expires before anyone resumes it
    with desk.engine.begin() as connection:
        connection.execute(webhook_deliveries.update().values(expires_ms=int(time.time() * 1000) - 1))
    requests = len(receiver.requests)
    receiver.fail_first = 0

    async def later() -> list[tuple[str, str]]:
        async with desk.hooks("ioc-b") as b:
            return await b.resume()

    assert asyncio.run(later()) == []
    record = desk.delivery()
    assert record.state == "dead" and "expired" in record.last_error
    assert len(receiver.requests) == requests  # nothing sent

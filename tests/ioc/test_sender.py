"""The sending service's steps on the desk's own database (SQLite and PostgreSQL), without the app.

Transitions are taken as the desk's feed takes them (`take_transition`, `on_transition`), an
operator approves (`publishing.approve`), and `AlertSender.send_all` sends: a second sender
whose list of approvals is out of date sends nothing twice; an approval whose warning cleared
before it was sent is withdrawn; a transition drafted while the approval waited follows it.
"""

import asyncio
import contextlib
from collections.abc import Iterator

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from devstack.webhook_receiver import WebhookReceiver
from ioc.database import migrate, open_engine, session_factory
from ioc.lifecycle import take_transition
from ioc.publishing import approve, on_transition, send_approved
from ioc.schema import AuditEntry, WarningRecord
from ioc.sender import AlertSender
from public_alerts import AlertBook, PublicPolicy, load_policy
from public_alerts.delivery_log import DeliveryLog
from public_alerts.policy import SAMPLE_POLICY
from public_alerts.sirens import CommandLog
from public_alerts.stations import station_names
from public_alerts.webhooks import IDEMPOTENCY_HEADER, WebhookSender
from rules.levels import SHIPPED_ALARM_LEVELS, load_alarm_levels
from tests.ioc.conftest import warning_message
from wire_contract import WarningMessage


@pytest.fixture
def desk_db(database_url: str) -> Iterator[tuple[sessionmaker[DbSession], AlertBook, CommandLog]]:
    engine = open_engine(database_url)
    migrate(engine)
    book = AlertBook(load_policy(SAMPLE_POLICY), station_names(load_alarm_levels(SHIPPED_ALARM_LEVELS)), engine=engine)
    yield session_factory(engine), book, CommandLog(engine)
    engine.dispose()


async def _no_webhooks(items: object) -> None:
    return None


def _take(sessions: sessionmaker[DbSession], book: AlertBook, message: WarningMessage) -> None:
    with sessions.begin() as db:
        take_transition(db, message)
    with sessions.begin() as db:
        on_transition(db, book, message)


def _approve(sessions: sessionmaker[DbSession], book: AlertBook, actor: str) -> int:
    with sessions.begin() as db:
        warning_id = db.scalars(select(WarningRecord.id)).one()
        approve(db, book, warning_id, actor)
    return int(warning_id)


def _actions(sessions: sessionmaker[DbSession], warning_id: int) -> list[tuple[str, str]]:
    with sessions() as db:
        entries = db.scalars(select(AuditEntry).where(AuditEntry.warning_id == warning_id).order_by(AuditEntry.id))
        return [(e.actor, e.action) for e in entries]


def test_a_sender_whose_list_is_out_of_date_sends_nothing_twice(
    desk_db: tuple[sessionmaker[DbSession], AlertBook, CommandLog],
) -> None:
    sessions, book, sirens = desk_db
    bd3 = warning_message(level=3, previous=2)
    _take(sessions, book, bd3)
    warning_id = _approve(sessions, book, "lan")
    with sessions() as db:
        seen_by_b = book.approved(db.connection())  # instance B lists the approvals ...
    assert [m.warning_id for m in seen_by_b] == [bd3.warning_id]
    [sent] = AlertSender(sessions, book, sirens, _no_webhooks, lambda: None).send_all()  # ... A sends first
    assert sent.alert is not None and sent.alert.msg_type == "Alert"
    with sessions.begin() as db:
        assert send_approved(db, book, sirens, seen_by_b[0]) is None  # B's send: nothing
    assert [r.state for r in book.records()] == ["sent"]
    assert _actions(sessions, warning_id).count(("sender", "published")) == 1
    assert [a.identifier for a in book.active()] == [sent.alert.identifier]


def test_an_approval_whose_warning_cleared_before_sending_is_withdrawn(
    desk_db: tuple[sessionmaker[DbSession], AlertBook, CommandLog],
) -> None:
    sessions, book, sirens = desk_db
    bd3 = warning_message(level=3, previous=2)
    _take(sessions, book, bd3)
    warning_id = _approve(sessions, book, "lan")
    _take(sessions, book, warning_message(level=0, previous=3, ts_ms=bd3.ts_ms + 1000))  # the all clear
    assert AlertSender(sessions, book, sirens, _no_webhooks, lambda: None).send_all() == []
    assert [r.state for r in book.records()] == ["withdrawn"]
    assert book.active() == []
    assert ("sender", "public_withdrawn") in _actions(sessions, warning_id)


def test_a_transition_drafted_while_the_approval_waited_follows_it_once_sent(
    desk_db: tuple[sessionmaker[DbSession], AlertBook, CommandLog],
) -> None:
    sessions, book, sirens = desk_db
    bd3 = warning_message(level=3, previous=2)
    _take(sessions, book, bd3)
    _approve(sessions, book, "lan")
    bd2 = warning_message(level=2, previous=3, ts_ms=bd3.ts_ms + 1000)
    _take(sessions, book, bd2)  # the river falls before the sender runs: a draft
    assert [(r.transition_id, r.state) for r in book.records()] == [
        (bd2.warning_id, "draft"),
        (bd3.warning_id, "approved"),
    ]
    [sent] = AlertSender(sessions, book, sirens, _no_webhooks, lambda: None).send_all()
    assert sent.alert is not None and [a.msg_type for a in sent.followed] == ["Update"]
    assert sent.followed[0].references == (sent.alert.reference,)
    # both go to the chain's webhook: the Update keyed by its own transition
    assert [(o.alert.warning.warning_id, o.channels) for o in sent.webhooks] == [
        (bd3.warning_id, ("sms_gateway",)),
        (bd2.warning_id, ("sms_gateway",)),
    ]
    assert [a.identifier for a in book.active()] == [sent.followed[0].identifier]


def test_webhooks_lost_between_the_commit_and_the_queue_go_out_at_the_next_start(
    desk_db: tuple[sessionmaker[DbSession], AlertBook, CommandLog],
) -> None:
    sessions, _, sirens = desk_db
    engine = sessions.kw["bind"]
    with WebhookReceiver() as receiver:
        data = yaml.safe_load(SAMPLE_POLICY.read_text())
        data["channels"]["sms_gateway"].update(url=receiver.url, secret_env="TEST_SMS_SECRET")
        policy = PublicPolicy.model_validate(data)
        book = AlertBook(policy, station_names(load_alarm_levels(SHIPPED_ALARM_LEVELS)), engine=engine)
        bd3 = warning_message(station="kim_long", level=3, previous=0, rule="kim_long_level")
        _take(sessions, book, bd3)
        _approve(sessions, book, "lan")
        # sent and committed, then the process dies before its webhooks were queued
        [sent] = AlertSender(sessions, book, sirens, _no_webhooks, lambda: None).send_all()
        assert sent.webhooks and receiver.requests == []

        async def start_twice() -> None:
            log = DeliveryLog(engine)
            for _ in range(2):  # the next start, and one after it
                async with WebhookSender(policy, log, {"TEST_SMS_SECRET": b"k"}) as hooks:
                    sender = AlertSender(sessions, book, sirens, hooks.deliver_many, lambda: None, poll_s=60)
                    task = asyncio.create_task(sender.run())
                    while [r.state for r in log.records()] != ["delivered"]:
                        await asyncio.sleep(0.01)
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

        asyncio.run(asyncio.wait_for(start_twice(), 20))
    assert [r.headers[IDEMPOTENCY_HEADER] for r in receiver.requests] == [bd3.warning_id]  # once

"""Public alerts in the desk: draft -> approved -> sent, each step in the warning's audit trail.

A transition with a route the policy gives an operator (the feed, a webhook, a siren) is a
draft (`public_alerts` table, state `draft`: in `GET /api/public/alerts`, not in the feed;
audited `public_draft` by `system`). An operator's `POST /api/warnings/{id}/approve` approves
the warning's current transition and nothing more: the row rests `approved` (who, when;
audited `approved` by the operator, with the channels it will go to). The sending service
(`ioc/sender.py`) takes each approved row (`send_approved`): the CAP alert (an Alert, or an
Update of the warning's open chain) goes into the feed and the row is `sent` (audited
`published` by `sender`, naming who approved it), the siren routes that needed the approval
are claimed for the dispatcher (audited `siren_commanded` by `sender`, with the command id;
`floodwatch-ioc sirens` sends them and audits the outcome), and the caller queues its
webhooks (`Outgoing`: the alert and its channels). A warning approved for sirens only (no feed
or webhook route) is sent without a CAP alert; one routed to a webhook but not the feed is a
CAP alert outside the feed, served at the URL the webhook carries.

Once a chain is public, what the rules say next follows it without a second approval
(`follow`: an Update, the all clear a Cancel; audited `public_follow` by `system`); drafts
recorded while an approval waited for the sender follow it as soon as it is sent. A follower
goes to the webhook channels of its chain (`AlertBook.webhook_channels`), keyed by its own
transition id.
"""

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from ioc.lifecycle import LifecycleError, audit, now_ms
from ioc.schema import Transition, WarningRecord
from public_alerts import AlertBook, PublicAlert
from public_alerts.alert_book import AlertRecord
from public_alerts.sirens import CommandLog, siren_command, siren_routes
from wire_contract import WarningMessage

SYSTEM_ACTOR = "system"
SENDER_ACTOR = "sender"


def warning_message(row: WarningRecord) -> WarningMessage:
    """The warning as the rules last said it (the transition the desk last took)."""
    return WarningMessage(
        warning_id=row.last_transition_id,
        rule=row.rule,
        station=row.station,
        sensor=row.sensor,
        level=row.level,
        previous_level=row.previous_level,
        value=row.value,
        ts_ms=row.updated_ms,
        thresholds_m=tuple(json.loads(row.thresholds)),
        thresholds_source=row.thresholds_source,
        kind=row.kind,
        data_warning=row.data_warning,
        unit=row.unit,
        detail=row.detail,
    )


def approve(db: DbSession, book: AlertBook, warning_id: int, actor: str) -> AlertRecord:
    """An operator approves the warning's current transition; it waits `approved` for the sender (the caller commits).

    Approving a transition already approved or sent changes nothing and returns its record.
    """
    row = db.get(WarningRecord, warning_id)
    if row is None:
        raise LifecycleError(warning_id, "no such warning", missing=True)
    if not row.active:
        raise LifecycleError(warning_id, f"is {row.state}: only an active warning is approved for the public")
    message = warning_message(row)
    outcome = book.approve(message, actor, now_ms(), db.connection())
    if outcome == "not_public":
        raise LifecycleError(
            warning_id, f"the public-alert policy does not make {row.kind} level {row.level} at {row.station} public"
        )
    if outcome == "approved":
        channels = list(book.channels(message))
        audit(db, actor, "approved", row.id, transition_id=message.warning_id, level=row.level, channels=channels)
    record = book.record(message.warning_id, db.connection())
    assert record is not None, "an approved transition has its row"
    return record


@dataclass(frozen=True)
class Outgoing:
    """A sent CAP alert and the webhook channels it goes to (queued once its transaction committed)."""

    alert: PublicAlert
    channels: tuple[str, ...]


@dataclass(frozen=True)
class Sent:
    """What sending one approved transition did: its CAP alert (None: sirens only), the siren commands claimed."""

    transition_id: str
    alert: PublicAlert | None
    followed: tuple[PublicAlert, ...]
    siren_commands: tuple[str, ...]
    webhooks: tuple[Outgoing, ...] = ()  # the alert's, then its followers'


def outgoing(db: DbSession, book: AlertBook, alert: PublicAlert) -> Outgoing:
    return Outgoing(alert, book.webhook_channels(alert, db.connection()))


def recent_outgoing(db: DbSession, book: AlertBook, since_ms: int) -> list[Outgoing]:
    """Every alert sent since `since_ms` with its webhook channels (offered again at start: a claim
    already made takes nothing, one lost between a commit and its queue is sent)."""
    return [outgoing(db, book, alert) for alert in book.sent_since(since_ms, db.connection())]


def send_approved(db: DbSession, book: AlertBook, sirens: CommandLog, message: WarningMessage) -> Sent | None:
    """Send one approved transition (the sending service; the caller commits). None if another sender took it."""
    warning_id = db.scalar(select(Transition.warning_id).where(Transition.transition_id == message.warning_id))
    record = book.record(message.warning_id, db.connection())
    approved_by = record.approved_by if record is not None else None
    row = db.get(WarningRecord, warning_id) if warning_id is not None else None
    if row is None or not row.active:  # cleared or resolved while the approval waited: nothing goes out
        if book.withdraw_approved(message, db.connection()):
            audit(db, SENDER_ACTOR, "public_withdrawn", warning_id, transition_id=message.warning_id,
                  approved_by=approved_by, reason="the warning is no longer active")  # fmt: skip
        return None
    sent_ms = now_ms()
    if book.makes_alert(message):
        alert = book.send(message, sent_ms, db.connection())
        if alert is None:
            return None
        audit(db, SENDER_ACTOR, "published", warning_id, identifier=alert.identifier, msg_type=alert.msg_type,
              level=message.level, approved_by=approved_by, in_feed=book.routed_to_feed(message))  # fmt: skip
    elif book.mark_sent_without_alert(message, sent_ms, db.connection()):
        alert = None
        audit(db, SENDER_ACTOR, "sent", warning_id, transition_id=message.warning_id, approved_by=approved_by)
    else:
        return None
    commanded = []
    for name, channel in siren_routes(book.policy, message, "operator"):
        command = siren_command(name, channel, message.warning_id, sent_ms)
        if sirens.claim(command, name, db.connection()):
            commanded.append(command.command_id)
            audit(db, SENDER_ACTOR, "siren_commanded", warning_id, command_id=command.command_id, channel=name,
                  approved_by=approved_by)  # fmt: skip
    followed = _follow_drafts(db, book, message, warning_id)
    webhooks = tuple(outgoing(db, book, a) for a in (alert, *followed) if a is not None)
    return Sent(message.warning_id, alert, followed, tuple(commanded), webhooks)


def _follow_drafts(
    db: DbSession, book: AlertBook, message: WarningMessage, warning_id: int | None
) -> tuple[PublicAlert, ...]:
    """Transitions drafted while the approval waited for the sender: now that the chain is public, they follow it."""
    followed = []
    for later in book.later_drafts(message, db.connection()):
        alert = book.follow(later, now_ms(), connection=db.connection())
        if alert is not None:
            followed.append(alert)
            audit(db, SYSTEM_ACTOR, "public_follow", warning_id, identifier=alert.identifier, msg_type=alert.msg_type)
    return tuple(followed)


def on_transition(db: DbSession, book: AlertBook, warning: WarningMessage) -> Outgoing | None:
    """A transition the desk took from the rules: follow a public chain (its alert and webhook channels,
    for the caller to queue once committed), or draft one for approval."""
    # the warning it moved (not one it arrived too late for): taken in this transaction, so no query
    taken = db.get(Transition, warning.warning_id)
    warning_id = taken.warning_id if taken is not None and taken.outcome != "out_of_order" else None
    alert = book.follow(warning, now_ms(), connection=db.connection())
    if alert is not None:
        audit(db, SYSTEM_ACTOR, "public_follow", warning_id, identifier=alert.identifier, msg_type=alert.msg_type)
        return outgoing(db, book, alert)
    if book.draft(warning, now_ms(), db.connection()):
        audit(db, SYSTEM_ACTOR, "public_draft", warning_id, transition_id=warning.warning_id, level=warning.level)
    return None

"""Public alerts in the desk: draft -> approved -> sent, each step in the warning's audit trail.

A transition the public-alert policy routes to citizens is a draft (`public_alerts` table,
state `draft`: in `GET /api/public/alerts`, not in the feed; audited `public_draft` by
`system`). An operator's `POST /api/warnings/{id}/publish` approves the warning's current
transition (audited `approved`: who, when) and sends it as a CAP alert (an Alert, or an
Update of the warning's open chain; audited `published`), in the same transaction. Once a
chain is public, what the rules say next follows it without a second approval (`follow`:
an Update, the all clear a Cancel; audited `public_follow` by `system`). Publishing the same
transition twice returns the alert already made.

Siren routes that need an operator follow the same steps: the approval claims each siren
command as `pending` in `siren_commands` (audited `siren_approved`: who, when, command id),
and `floodwatch-ioc sirens` sends it (its outcome is audited `siren_<outcome>` by `sirens`).
Only a warning the feed routes is approved: a siren-only operator route is not drafted.
"""

import json

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from ioc.lifecycle import LifecycleError, audit, now_ms
from ioc.schema import WarningRecord
from public_alerts import AlertBook, PublicAlert
from public_alerts.sirens import CommandLog, siren_command, siren_routes
from wire_contract import WarningMessage

SYSTEM_ACTOR = "system"


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


def publish(db: DbSession, book: AlertBook, sirens: CommandLog, warning_id: int, actor: str) -> PublicAlert:
    """An operator approves the warning's current transition: it is sent, its sirens commanded (the caller commits)."""
    row = db.get(WarningRecord, warning_id)
    if row is None:
        raise LifecycleError(warning_id, "no such warning", missing=True)
    if not row.active:
        raise LifecycleError(warning_id, f"is {row.state}: only an active warning is published")
    existing = book.get_by_transition(row.last_transition_id, db.connection())
    message = warning_message(row)
    alert = existing or book.take(message, now_ms(), approved_by=actor, connection=db.connection())
    if alert is None:
        raise LifecycleError(
            warning_id, f"the public-alert policy does not make {row.kind} level {row.level} at {row.station} public"
        )
    if existing is None:
        audit(db, actor, "approved", row.id, identifier=alert.identifier, transition_id=row.last_transition_id)
        audit(db, actor, "published", row.id, identifier=alert.identifier, msg_type=alert.msg_type, level=row.level)
        for name, channel in siren_routes(book.policy, message, "operator"):
            command = siren_command(name, channel, message.warning_id, now_ms())
            if sirens.claim(command, name, db.connection()):
                audit(db, actor, "siren_approved", row.id, command_id=command.command_id, channel=name)
    return alert


def on_transition(db: DbSession, book: AlertBook, warning: WarningMessage) -> PublicAlert | None:
    """A transition the desk took from the rules: follow a public chain, or draft one for approval."""
    row = db.scalars(select(WarningRecord).where(WarningRecord.last_transition_id == warning.warning_id)).first()
    warning_id = row.id if row is not None else None
    alert = book.follow(warning, now_ms(), connection=db.connection())
    if alert is not None:
        audit(db, SYSTEM_ACTOR, "public_follow", warning_id, identifier=alert.identifier, msg_type=alert.msg_type)
    elif book.draft(warning, now_ms(), db.connection()):
        audit(db, SYSTEM_ACTOR, "public_draft", warning_id, transition_id=warning.warning_id, level=warning.level)
    return alert

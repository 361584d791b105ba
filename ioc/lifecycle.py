"""A warning's life, and the audit entry of every change to it.

    rule raises (level > 0, none active for the rule and station)     -> raised
    rule raises the level                                             -> escalated (needs a new acknowledgement)
    rule lowers it, not to 0                                          -> de_escalated
    operator acknowledges (who, when, note)                           -> acknowledged
    rule clears it (level 0), or an operator resolves it              -> resolved   (no longer active)
    no news from the rules for `expire_after_h` (wall clock)          -> expired    (no longer active)

A silence (who, until when, why) mutes an active warning on the page until it ends; its
end is audited too. Every function here runs inside the caller's transaction and writes
its audit entry in it, so a change and its audit entry are committed together or not at
all. The feed's transitions are taken once each: the transition id is the key of
`transitions`, and a repeat changes nothing.
"""

import json
import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session as DbSession

from ioc.schema import AuditEntry, Transition, WarningRecord
from wire_contract import WarningMessage

RULES_ACTOR = "rules"  # the rule service, in the audit trail
SYSTEM_ACTOR = "system"  # expiry and the end of silences


class LifecycleError(ValueError):
    """An operator's action that cannot be done, with the reason (the API answers 404 or 409)."""

    def __init__(self, warning_id: int, reason: str, *, missing: bool = False) -> None:
        super().__init__(f"warning {warning_id}: {reason}")
        self.warning_id = warning_id
        self.reason = reason
        self.missing = missing


def now_ms() -> int:
    return int(time.time() * 1000)


def audit(db: DbSession, actor: str, action: str, warning_id: int | None, **detail: Any) -> AuditEntry:
    entry = AuditEntry(
        at_ms=now_ms(), actor=actor, action=action, warning_id=warning_id, detail=json.dumps(detail, ensure_ascii=False)
    )
    db.add(entry)
    return entry


def _active(db: DbSession, rule: str, station: str) -> WarningRecord | None:
    query = select(WarningRecord).where(
        WarningRecord.rule == rule, WarningRecord.station == station, WarningRecord.active.is_(True)
    )
    return db.scalars(query).first()


def _news(row: WarningRecord, message: WarningMessage) -> None:
    row.sensor = message.sensor
    row.value = message.value
    row.previous_level = row.level
    row.level = message.level
    row.updated_ms = message.ts_ms
    row.news_ms = now_ms()
    row.last_transition_id = message.warning_id
    row.thresholds = json.dumps(list(message.thresholds_m))
    row.detail = message.detail


def take_transition(db: DbSession, message: WarningMessage) -> str:
    """Apply one transition of the feed; returns what it did (`repeat` if its id was taken before)."""
    if db.get(Transition, message.warning_id) is not None:
        return "repeat"
    row = _active(db, message.rule, message.station)
    facts: dict[str, Any] = {"level": message.level, "previous_level": message.previous_level, "value": message.value}
    facts |= {"transition_id": message.warning_id, "ts_ms": message.ts_ms}
    if row is not None and message.ts_ms < row.updated_ms:
        outcome = "out_of_order"  # older than what the warning already shows: kept as seen, changes nothing
    elif message.level > 0 and row is None:
        row = WarningRecord(
            rule=message.rule,
            station=message.station,
            sensor=message.sensor,
            kind=message.kind,
            data_warning=message.data_warning,
            unit=message.unit,
            level=message.level,
            previous_level=message.previous_level,
            peak_level=message.level,
            value=message.value,
            thresholds=json.dumps(list(message.thresholds_m)),
            thresholds_source=message.thresholds_source,
            detail=message.detail,
            state="raised",
            active=True,
            raised_ms=message.ts_ms,
            updated_ms=message.ts_ms,
            news_ms=now_ms(),
            last_transition_id=message.warning_id,
        )
        db.add(row)
        db.flush()
        outcome = "raised"
    elif message.level > 0 and row is not None:
        if message.level > row.level:
            outcome = "escalated"
            row.acknowledged_by = row.acknowledged_ms = row.acknowledge_note = None
        elif message.level < row.level:
            outcome = "de_escalated"
        else:
            outcome = "updated"
        _news(row, message)
        row.peak_level = max(row.peak_level, message.level)
        if outcome != "updated":
            row.state = outcome
    elif row is not None:  # level 0: the rule's all clear
        _news(row, message)
        row.state, row.active = "resolved", False
        row.closed_by, row.closed_ms = RULES_ACTOR, now_ms()
        outcome = "resolved"
    else:
        outcome = "clear_without_warning"  # e.g. resolved by an operator before the river fell
    db.add(
        Transition(
            transition_id=message.warning_id,
            warning_id=row.id if row is not None else None,
            received_ms=now_ms(),
            outcome=outcome,
        )
    )
    if row is not None and outcome != "out_of_order":
        audit(db, RULES_ACTOR, outcome, row.id, **facts)
    return outcome


def _operable(db: DbSession, warning_id: int) -> WarningRecord:
    row = db.get(WarningRecord, warning_id, with_for_update=True)
    if row is None:
        raise LifecycleError(warning_id, "no such warning", missing=True)
    if not row.active:
        raise LifecycleError(warning_id, f"is {row.state}, no longer active")
    return row


def acknowledge(db: DbSession, warning_id: int, actor: str, note: str) -> WarningRecord:
    row = _operable(db, warning_id)
    if row.acknowledged_ms is not None:
        raise LifecycleError(warning_id, f"already acknowledged by {row.acknowledged_by} at level {row.level}")
    row.acknowledged_by, row.acknowledged_ms, row.acknowledge_note = actor, now_ms(), note
    row.state = "acknowledged"
    audit(db, actor, "acknowledged", row.id, level=row.level, note=note)
    return row


def silence(db: DbSession, warning_id: int, actor: str, reason: str, duration_s: float) -> WarningRecord:
    row = _operable(db, warning_id)
    row.silenced_by, row.silence_reason = actor, reason
    row.silenced_until_ms = now_ms() + int(duration_s * 1000)
    audit(db, actor, "silenced", row.id, until_ms=row.silenced_until_ms, reason=reason)
    return row


def resolve(db: DbSession, warning_id: int, actor: str, note: str) -> WarningRecord:
    row = _operable(db, warning_id)
    row.state, row.active = "resolved", False
    row.closed_by, row.closed_ms = actor, now_ms()
    audit(db, actor, "resolved", row.id, level=row.level, note=note)
    return row


def sweep(db: DbSession, at_ms: int, expire_after_ms: int) -> int:
    """Expire warnings with no news for `expire_after_ms`, end silences that have run out; the count of changes."""
    changes = 0
    stale = select(WarningRecord).where(WarningRecord.active.is_(True), WarningRecord.news_ms < at_ms - expire_after_ms)
    for row in db.scalars(stale):
        row.state, row.active = "expired", False
        row.closed_by, row.closed_ms = SYSTEM_ACTOR, at_ms
        audit(db, SYSTEM_ACTOR, "expired", row.id, level=row.level, last_news_ms=row.news_ms)
        changes += 1
    ended = select(WarningRecord.id).where(WarningRecord.silenced_until_ms < at_ms)
    for warning_id in db.scalars(ended).all():
        audit(db, SYSTEM_ACTOR, "silence_ended", warning_id)
        changes += 1
    db.execute(
        update(WarningRecord)
        .where(WarningRecord.silenced_until_ms < at_ms)
        .values(silenced_until_ms=None, silenced_by=None, silence_reason=None)
    )
    return changes

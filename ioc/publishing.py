"""An operator approves a warning for the public: draft -> approved -> sent as a CAP alert.

A warning the public-alert policy routes to citizens waits in the desk (the draft is the
warning itself) until an operator publishes it: then its current state becomes a CAP alert
in the feed (`public_alerts.AlertBook`: an Alert, or an Update of the warning's open chain),
and the audit trail says who published what. Publishing the same transition twice returns
the alert already made.
"""

import json

from sqlalchemy.orm import Session as DbSession

from ioc.lifecycle import LifecycleError, audit, now_ms
from ioc.schema import WarningRecord
from public_alerts import AlertBook, PublicAlert
from wire_contract import WarningMessage


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


def publish(db: DbSession, book: AlertBook, warning_id: int, actor: str) -> PublicAlert:
    row = db.get(WarningRecord, warning_id)
    if row is None:
        raise LifecycleError(warning_id, "no such warning", missing=True)
    if not row.active:
        raise LifecycleError(warning_id, f"is {row.state}: only an active warning is published")
    alert = book.take(warning_message(row), now_ms())
    if alert is None:
        raise LifecycleError(
            warning_id, f"the public-alert policy does not make {row.kind} level {row.level} at {row.station} public"
        )
    audit(db, actor, "published", row.id, identifier=alert.identifier, msg_type=alert.msg_type, level=row.level)
    return alert

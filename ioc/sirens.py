"""The desk's side of the sirens: run the automatic siren routes and tell the operators the outcome.

    floodwatch-ioc sirens --config ioc.yaml

`SirenService` (public_alerts.sirens) takes the rule service's warnings and commands the
gateways the policy names for automatic sirens; each command's outcome (done, refused,
failed, expired, or no_answer when the deadline passed) is recorded in `siren_commands`
and written to the warning's audit trail (`siren_done`, `siren_no_answer`, ...), which is
what the operators' page pushes: a siren that did not sound is in front of them at once.
"""

from collections.abc import Callable

from sqlalchemy import select

from ioc.desk import Desk
from ioc.lifecycle import audit
from ioc.schema import Transition
from public_alerts.sirens import CommandRecord, SirenDispatcher, SirenService

SIRENS_ACTOR = "sirens"


def tell_operators(desk: Desk) -> Callable[[CommandRecord], None]:
    """Write a command's outcome into the audit trail of the warning that ordered it."""

    def told(record: CommandRecord) -> None:
        with desk.sessions.begin() as db:
            warning_id = db.scalar(select(Transition.warning_id).where(Transition.transition_id == record.reason))
            audit(
                db,
                SIRENS_ACTOR,
                f"siren_{record.state}",
                warning_id,
                command_id=record.command_id,
                channel=record.channel,
                gateway=record.gateway,
                sends=record.sends,
                detail=record.detail,
            )
        desk.changed()

    return told


def siren_service(desk: Desk, *, resend_s: float = 2.0) -> SirenService:
    broker = desk.config.broker
    dispatcher = SirenDispatcher(
        broker.host,
        broker.port,
        f"{broker.client_id}-sirens",
        desk.policy,
        desk.siren_commands,
        on_outcome=tell_operators(desk),
        resend_s=resend_s,
        login=broker.login(),
    )
    return SirenService(
        broker.host, broker.port, f"{broker.client_id}-siren-warnings", dispatcher, login=broker.login()
    )

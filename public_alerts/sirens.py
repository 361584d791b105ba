"""The centre's side of the siren path: command a gateway, resend until the deadline, record the outcome.

    dispatcher = SirenDispatcher(broker, CommandLog(engine), on_outcome=tell_the_operator).start()
    dispatcher.sound(warning, now_ms)      # the automatic siren routes of the policy
    dispatcher.command(name, channel, reason, now_ms)
    CommandLog(engine).claim(siren_command(...), name, connection)   # the desk, on an operator's approval

A siren route that needs an operator is the desk's: once approved, the IOC's sending service
(ioc/sender.py, ioc/publishing.py) claims the command as `pending` in `siren_commands`, and the
dispatcher's resend loop (in `floodwatch-ioc sirens`, the only account that may command)
sends it within `resend_s`.

A command's id is derived from the transition id and the channel, so a repeated warning
(the rule service resends until the broker acknowledges) makes no second command. The
dispatcher publishes it on `floodwatch/v1/<gateway>/command` (QoS 1) and again every
`resend_s` until a `CommandResult` arrives or the deadline passes; the gateway executes a
repeated id once. A result is recorded (done, refused, failed, expired); a deadline passed
without one is recorded `no_answer`. Either way `on_outcome` is called once, which is how
the desk tells the operator (a failed siren is an operator's problem at once).
"""

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from centre.broker_login import BrokerLogin
from centre.mqtt_consumer import BatchConsumer
from public_alerts.policy import PublicPolicy, SirenChannel
from public_alerts.tables import siren_commands
from wire_contract import (
    COMMAND_RESULT_SUBSCRIPTION,
    WARNINGS_TOPIC,
    ContractError,
    DeviceCommand,
    WarningMessage,
    command_topic,
    decode_command_result,
    decode_warning,
    encode_command,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommandRecord:
    command_id: str
    channel: str
    gateway: str
    state: str
    sends: int
    value_read: int | None
    detail: str
    reason: str


def command_id_for(transition_id: str, channel: str) -> str:
    return "siren." + hashlib.sha256(f"{transition_id}|{channel}".encode()).hexdigest()[:32]


def siren_command(name: str, channel: SirenChannel, reason: str, now_ms: int) -> DeviceCommand:
    """The command that sounds `channel` for `reason` (a transition id); its id is derived from both."""
    return DeviceCommand(
        command_id=command_id_for(reason, name),
        gateway=channel.gateway,
        device=channel.device,
        register_name=channel.register_name,
        value=channel.on_value,
        issued_ms=now_ms,
        deadline_ms=now_ms + int(channel.deadline_s * 1000),
        reason=reason[:200],
    )


def siren_routes(policy: PublicPolicy, warning: WarningMessage, approval: str) -> list[tuple[str, SirenChannel]]:
    """The siren channels the policy routes this warning to with this approval (automatic | operator)."""
    found = []
    for route in policy.routes_for(warning.station, warning.kind, warning.level, data_warning=warning.data_warning):
        channel = policy.channels[route.channel]
        if route.approval == approval and isinstance(channel, SirenChannel):
            found.append((route.channel, channel))
    return found


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class CommandLog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, command: DeviceCommand, channel: str, connection: Connection | None = None) -> bool:
        """Record a command as pending (False if its id was claimed before); in `connection`'s transaction if given."""
        row = command.model_dump(exclude={"v"}) | {"channel": channel, "sends": 0, "state": "pending", "detail": ""}
        try:
            if connection is not None:
                with connection.begin_nested():
                    connection.execute(insert(siren_commands).values(**row))
            else:
                with self._engine.begin() as own:
                    own.execute(insert(siren_commands).values(**row))
        except IntegrityError:
            return False
        return True

    def sent(self, command_id: str) -> None:
        table = siren_commands
        with self._engine.begin() as connection:
            connection.execute(update(table).where(table.c.command_id == command_id).values(sends=table.c.sends + 1))

    def finish(self, command_id: str, state: str, detail: str, value_read: int | None = None) -> bool:
        """Record the outcome of a pending command; False if it was already finished (a repeated result)."""
        table = siren_commands
        with self._engine.begin() as connection:
            changed = connection.execute(
                update(table)
                .where(table.c.command_id == command_id, table.c.state == "pending")
                .values(state=state, detail=detail[:300], value_read=value_read, finished_ms=_now_ms())
            ).rowcount
        return bool(changed)

    def pending(self) -> list[DeviceCommand]:
        table = siren_commands
        with self._engine.connect() as connection:
            rows = connection.execute(select(table).where(table.c.state == "pending")).all()
        return [
            DeviceCommand(
                command_id=r.command_id,
                gateway=r.gateway,
                device=r.device,
                register_name=r.register_name,
                value=r.value,
                issued_ms=r.issued_ms,
                deadline_ms=r.deadline_ms,
                reason=r.reason,
            )
            for r in rows
        ]

    def record(self, command_id: str) -> CommandRecord | None:
        table = siren_commands
        with self._engine.connect() as connection:
            r = connection.execute(select(table).where(table.c.command_id == command_id)).one_or_none()
        if r is None:
            return None
        return CommandRecord(r.command_id, r.channel, r.gateway, r.state, r.sends, r.value_read, r.detail, r.reason)


class SirenDispatcher:
    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        policy: PublicPolicy,
        commands: CommandLog,
        *,
        on_outcome: Callable[[CommandRecord], None] = lambda record: None,
        resend_s: float = 2.0,
        login: BrokerLogin | None = None,
    ) -> None:
        self._policy = policy
        self._log = commands
        self._on_outcome = on_outcome
        self._resend_s = resend_s
        self._consumer = BatchConsumer(
            host, port, client_id, COMMAND_RESULT_SUBSCRIPTION, self._results, flush_ms=0, login=login
        )
        self._stopping = threading.Event()
        self._resender = threading.Thread(target=self._resend_loop, name=f"{client_id}-resend", daemon=True)

    @property
    def connected(self) -> threading.Event:
        return self._consumer.connected

    def start(self) -> "SirenDispatcher":
        self._consumer.start()
        self._resender.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._resender.join(timeout=5)
        self._consumer.stop()

    def sound(self, warning: WarningMessage, now_ms: int) -> list[str]:
        """Command every siren channel an automatic route gives this warning; the command ids issued."""
        issued: list[str] = []
        if warning.level < 3 or warning.level <= warning.previous_level:
            return issued  # sound on the way up to BĐ3, not on a falling BĐ3 repeat
        for name, channel in siren_routes(self._policy, warning, "automatic"):
            if self.command(name, channel, warning.warning_id, now_ms):
                issued.append(command_id_for(warning.warning_id, name))
        return issued

    def command(self, name: str, channel: SirenChannel, reason: str, now_ms: int) -> bool:
        """Issue one command (False if this reason already commanded this channel)."""
        command = siren_command(name, channel, reason, now_ms)
        if not self._log.claim(command, name):
            return False
        self._publish(command)
        return True

    def _publish(self, command: DeviceCommand) -> None:
        self._log.sent(command.command_id)
        self._consumer.publish(command_topic(command.gateway), encode_command(command))

    def _results(self, messages: list[mqtt.MQTTMessage]) -> None:
        for message in messages:
            try:
                result = decode_command_result(bytes(message.payload))
            except ContractError as error:
                log.warning("command result refused on %s: %s", message.topic, error.reason)
                continue
            if self._log.finish(result.command_id, result.outcome, result.detail, result.value_read):
                self._told(result.command_id)

    def _told(self, command_id: str) -> None:
        record = self._log.record(command_id)
        if record is not None:
            self._on_outcome(record)

    def _resend_loop(self) -> None:
        while not self._stopping.wait(self._resend_s):
            now_ms = _now_ms()
            for command in self._log.pending():
                if now_ms > command.deadline_ms:
                    detail = f"no result from gateway {command.gateway} by the deadline"
                    if self._log.finish(command.command_id, "no_answer", detail):
                        self._told(command.command_id)
                elif self._consumer.connected.is_set():
                    self._publish(command)


class SirenService:
    """Sirens that sound without waiting: warnings from the rule service -> `SirenDispatcher.sound`.

    Subscribes to `floodwatch/v1/warnings` (QoS 1, acknowledged once handled) and commands every
    siren channel the policy routes automatically; what needs an operator's approval the IOC's
    sending service claims once approved (ioc/sender.py) and the dispatcher's resend loop sends.
    """

    def __init__(
        self, host: str, port: int, client_id: str, dispatcher: SirenDispatcher, login: BrokerLogin | None = None
    ) -> None:
        self.dispatcher = dispatcher
        self.commanded: list[str] = []
        self._consumer = BatchConsumer(host, port, client_id, WARNINGS_TOPIC, self._warnings, flush_ms=0, login=login)

    @property
    def connected(self) -> threading.Event:
        return self._consumer.connected

    def start(self) -> "SirenService":
        self.dispatcher.start()
        self._consumer.start()
        return self

    def stop(self) -> None:
        self._consumer.stop()
        self.dispatcher.stop()

    def _warnings(self, messages: list[mqtt.MQTTMessage]) -> None:
        for message in messages:
            try:
                warning = decode_warning(bytes(message.payload))
            except ContractError as error:
                log.warning("warning refused on %s: %s", message.topic, error.reason)
                continue
            self.commanded += self.dispatcher.sound(warning, _now_ms())

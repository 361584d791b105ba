"""Each attack of issue 15 against the real broker in secure mode (TLS, passwords, ACLs from
the registry): it fails, and the legitimate traffic next to it goes through.

MQTT 5 clients, so the broker says why it refuses: a PUBACK or SUBACK with reason code 135
(not authorised) instead of MQTT 3.1.1's silent drop."""

import json
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.reasoncodes import ReasonCode
from typer.testing import CliRunner

from broker_access.admin import app as admin_app
from broker_access.certs import make_ca
from broker_access.directory import AccessDirectory
from centre.broker_login import BrokerLogin
from devstack.centre_influx import ingest_influx
from devstack.services import InfluxDB, Mosquitto
from ingest import IngestConfig, IngestService
from wire_contract import (
    DEAD_LETTER_TOPIC,
    WARNINGS_TOPIC,
    Quality,
    Reading,
    TelemetryBatch,
    ack_topic,
    encode_telemetry,
    telemetry_topic,
)
from wire_contract.commands import command_topic

NOT_AUTHORISED = 135  # reason codes below 128 are successes (16: accepted, no subscriber)
TIMEOUT_S = 10


class Session:
    """One MQTT 5 connection, with what the broker answered."""

    def __init__(self, client: mqtt.Client) -> None:
        self.client = client
        self.connack: ReasonCode | None = None
        self.connected = threading.Event()
        self.closed = threading.Event()
        self.disconnects = 0  # connections lost or closed by the broker (paho then reconnects)
        self.refused = threading.Event()  # a CONNACK refused the login (a reconnection, after a drop)
        self.messages: list[mqtt.MQTTMessage] = []
        self.got_message = threading.Condition()
        self.pubacks: dict[int, int] = {}
        self.subacks: dict[int, list[int]] = {}
        self.answered = threading.Condition()
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message

    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        if self.connected.is_set():  # paho reconnecting after the broker dropped us
            if reason.is_failure:
                self.refused.set()
            return
        self.connack = reason
        self.connected.set()

    def _on_disconnect(self, *_: object) -> None:
        self.disconnects += 1
        self.closed.set()

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, reason: ReasonCode, _p: object) -> None:
        with self.answered:
            self.pubacks[mid] = reason.value
            self.answered.notify_all()

    def _on_subscribe(self, _c: mqtt.Client, _u: object, mid: int, reasons: list[ReasonCode], _p: object) -> None:
        with self.answered:
            self.subacks[mid] = [r.value for r in reasons]
            self.answered.notify_all()

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with self.got_message:
            self.messages.append(message)
            self.got_message.notify_all()

    def publish(self, topic: str, payload: bytes | str) -> int:
        """The PUBACK's reason code (0: accepted, 135: not authorised)."""
        mid = self.client.publish(topic, payload, qos=1).mid
        with self.answered:
            assert self.answered.wait_for(lambda: mid in self.pubacks, TIMEOUT_S), f"no PUBACK for {topic}"
            return self.pubacks[mid]

    def subscribe(self, topic: str) -> int:
        _, mid = self.client.subscribe(topic, qos=1)
        with self.answered:
            assert self.answered.wait_for(lambda: mid in self.subacks, TIMEOUT_S), f"no SUBACK for {topic}"
            return self.subacks[mid][0]

    def wait_for_message(self, topic: str) -> list[str]:
        """Topics received until one on `topic` arrives (a marker sent after the attack)."""
        with self.got_message:
            assert self.got_message.wait_for(lambda: any(m.topic == topic for m in self.messages), TIMEOUT_S)
            return [m.topic for m in self.messages]


@pytest.fixture
def connect(mosquitto: Mosquitto) -> Iterator:  # type: ignore[type-arg]
    sessions: list[Session] = []

    def open_session(account: str, login: BrokerLogin | None = None) -> Session:
        if login is None:
            if account not in ("harness", "ingest", "rules", "warnings", "monitor"):
                mosquitto.ensure_account(account)
            login = mosquitto.login(account)
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"attack-{account}-{len(sessions)}", protocol=mqtt.MQTTv5
        )
        login.apply(client)
        session = Session(client)
        client.connect("127.0.0.1", mosquitto.port, keepalive=10)
        client.loop_start()
        sessions.append(session)
        assert session.connected.wait(TIMEOUT_S), f"no CONNACK for {account}"
        return session

    yield open_session
    for session in sessions:
        session.client.disconnect()
        session.client.loop_stop()


def batch(gateway: str, seq: int = 1) -> bytes:
    reading = Reading(
        sensor="wl-1",
        station="le-thuy",
        quantity="water_level",
        value=1.5,
        unit="m",
        ts_ms=1_700_000_000_000,
        quality=Quality.good,
        clock_synced=True,
    )
    return encode_telemetry(TelemetryBatch(gateway=gateway, seq=seq, readings=[reading]))


def test_gateway_a_publishing_as_b_is_refused(connect, unique_name: str) -> None:  # type: ignore[no-untyped-def]
    a, b = f"{unique_name}-a", f"{unique_name}-b"
    watcher = connect("monitor")
    assert watcher.subscribe("floodwatch/v1/#") == 1
    gateway_a = connect(a)
    assert gateway_a.publish(telemetry_topic(b), batch(b)) == NOT_AUTHORISED
    assert gateway_a.publish(f"floodwatch/v1/{b}/status", b"{}") == NOT_AUTHORISED
    assert gateway_a.publish(telemetry_topic(a), batch(a)) < NOT_AUTHORISED  # its own topic: accepted
    # Same publisher, so the marker arrives after anything sent before it: nothing for B did.
    seen = watcher.wait_for_message(telemetry_topic(a))
    assert [t for t in seen if unique_name in t] == [telemetry_topic(a)]  # others' retained status aside


def test_a_payload_naming_another_gateway_is_dead_lettered(  # type: ignore[no-untyped-def]
    connect, mosquitto: Mosquitto, influxdb: InfluxDB, unique_name: str, tmp_path: Path
) -> None:
    a, b = f"{unique_name}-a", f"{unique_name}-b"
    config = IngestConfig.model_validate(
        {
            "broker": mosquitto.broker_config("ingest", f"ingest-{unique_name}"),
            "influx": ingest_influx(influxdb, unique_name.replace("-", "_")),
            "validation": {"max_age_days": 36500},
            "dead_letter_file": str(tmp_path / "deadletter.jsonl"),
        }
    )
    service = IngestService(config).start()
    try:
        assert service.consumer.connected.wait(TIMEOUT_S)
        watcher = connect("monitor")
        assert watcher.subscribe(DEAD_LETTER_TOPIC) == 1
        gateway_a = connect(a)
        assert gateway_a.publish(telemetry_topic(a), batch(b)) < NOT_AUTHORISED  # its topic, B's name inside
        watcher.wait_for_message(DEAD_LETTER_TOPIC)
        letter = json.loads(watcher.messages[0].payload)
        assert letter["kind"] == "topic_mismatch" and b in letter["reason"], letter
        # the dead letter goes out while the batch is handled; the count follows when it is done
        deadline = time.monotonic() + TIMEOUT_S
        while service.consumer.handled_messages < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert service.consumer.handled_messages == 1
    finally:
        service.stop()


@pytest.mark.parametrize("account", ["gateway", "ingest"])
def test_forged_warnings_and_commands_are_refused(connect, unique_name: str, account: str) -> None:  # type: ignore[no-untyped-def]
    victim = f"{unique_name}-v"
    name = f"{unique_name}-g" if account == "gateway" else account
    forger = connect(name)
    victim_session = connect(victim)
    assert victim_session.subscribe(command_topic(victim)) == 1
    warning = b'{"level": 3}'
    assert forger.publish(WARNINGS_TOPIC, warning) == NOT_AUTHORISED
    assert forger.publish(command_topic(victim), b'{"siren": "on"}') == NOT_AUTHORISED
    if account == "gateway":
        assert forger.publish(command_topic(name), b'{"siren": "on"}') == NOT_AUTHORISED  # not even its own
    # The accounts allowed to do it can: the rule service warns, the warning service commands.
    assert connect("rules").publish(WARNINGS_TOPIC, warning) < NOT_AUTHORISED
    assert connect("warnings").publish(command_topic(victim), b'{"siren": "off"}') < NOT_AUTHORISED
    victim_session.wait_for_message(command_topic(victim))
    assert [m.payload for m in victim_session.messages] == [b'{"siren": "off"}']


def test_one_gateway_cannot_read_anothers_commands_or_acks(connect, unique_name: str) -> None:  # type: ignore[no-untyped-def]
    a, b = f"{unique_name}-a", f"{unique_name}-b"
    gateway_a, gateway_b = connect(a), connect(b)
    assert gateway_a.subscribe(command_topic(a)) == 1
    assert gateway_a.subscribe(ack_topic(a)) == 1
    # Mosquitto 2.0 grants these subscriptions and checks `read` at each delivery instead.
    for pattern in (command_topic(a), ack_topic(a), "floodwatch/v1/+/command", "floodwatch/v1/#"):
        gateway_b.subscribe(pattern)
    assert connect("warnings").publish(command_topic(a), b"for a") < NOT_AUTHORISED
    assert connect("ingest").publish(ack_topic(a), b"ack for a") < NOT_AUTHORISED
    assert gateway_a.wait_for_message(ack_topic(a)) == [command_topic(a), ack_topic(a)]
    # The broker queued whatever it would deliver to B before those PUBACKs; the marker after.
    assert connect("warnings").publish(command_topic(b), b"for b") < NOT_AUTHORISED
    assert set(gateway_b.wait_for_message(command_topic(b))) == {command_topic(b)}  # one per matching subscription


def test_no_anonymous_no_plain_tcp_no_foreign_ca(connect, mosquitto: Mosquitto, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca = mosquitto.login("monitor").ca_file
    anonymous = connect("anonymous", BrokerLogin(ca_file=ca))
    assert anonymous.connack is not None and anonymous.connack.is_failure
    wrong_password = connect("monitor", BrokerLogin(ca_file=ca, username="monitor", password="guess"))
    assert wrong_password.connack is not None and wrong_password.connack.is_failure
    # A broker whose certificate another CA signed (a man in the middle) is refused by the client.
    other_ca, _ = make_ca(tmp_path / "other")
    stranger = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="mitm-check")
    BrokerLogin(ca_file=other_ca, username="monitor", password="x").apply(stranger)
    with pytest.raises(ssl.SSLCertVerificationError):
        stranger.connect("127.0.0.1", mosquitto.port)
    # Plain MQTT to the TLS listener: the broker never answers CONNECT.
    plain = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="plain-check")
    session = Session(plain)
    plain.connect("127.0.0.1", mosquitto.port, keepalive=5)
    plain.loop_start()
    assert session.closed.wait(TIMEOUT_S) and not session.connected.is_set()
    plain.loop_stop()


def test_old_password_after_rotation_and_revoked_gateway_cannot_connect(  # type: ignore[no-untyped-def]
    connect, mosquitto: Mosquitto, broker_access: AccessDirectory, unique_name: str
) -> None:
    rotated, revoked, bystander = f"{unique_name}-r", f"{unique_name}-x", f"{unique_name}-k"
    for account in (rotated, revoked, bystander):
        mosquitto.ensure_account(account)
    old, revoked_login = mosquitto.login(rotated), mosquitto.login(revoked)
    staying = connect(bystander)
    broker_access.rotate(rotated)
    broker_access.revoke(revoked)
    mosquitto.reload()
    new = mosquitto.login(rotated)
    assert new.password != old.password
    mosquitto.wait_for_login(rotated)  # the reload is done when the new password works
    assert connect(rotated, new).connack == 0
    refused_old = connect(rotated, old)
    assert refused_old.connack is not None and refused_old.connack.is_failure
    refused_revoked = connect(revoked, revoked_login)
    assert refused_revoked.connack is not None and refused_revoked.connack.is_failure
    # The reload dropped nobody else: the bystander's connection still publishes.
    assert not staying.closed.is_set()
    assert staying.publish(telemetry_topic(bystander), batch(bystander)) < NOT_AUTHORISED


def _admin(*args: str) -> None:
    result = CliRunner().invoke(admin_app, list(args))
    assert result.exit_code == 0, result.output


def test_a_connected_gateway_is_dropped_when_revoked_or_rotated_and_nobody_else(  # type: ignore[no-untyped-def]
    connect, mosquitto: Mosquitto, broker_access: AccessDirectory, unique_name: str
) -> None:
    """Mosquitto 2.0 rechecks every connected client against the reloaded password file at
    SIGHUP (`mosquitto_security_apply`): a gateway revoked, or still on its old password after a
    rotation, loses its open connection then and there, and cannot log in again."""
    revoked, rotated = f"{unique_name}-x", f"{unique_name}-r"
    bystanders = [f"{unique_name}-k{n}" for n in range(3)]
    watcher = connect("monitor")
    assert watcher.subscribe("floodwatch/v1/#") == 1
    sessions = {name: connect(name) for name in (revoked, rotated, *bystanders)}
    for name, session in sessions.items():
        assert session.publish(telemetry_topic(name), batch(name, 1)) < NOT_AUTHORISED  # all in, all publishing
    access, pid = str(broker_access.root), str(mosquitto.pid_path)
    _admin("revoke", access, revoked, "--reload", pid)
    _admin("rotate", access, rotated, "--reload", pid)
    for name in (revoked, rotated):
        assert sessions[name].closed.wait(TIMEOUT_S), f"{name} still connected after the reload"
        assert sessions[name].refused.wait(TIMEOUT_S), f"{name}: no refused reconnection"  # paho retries, in vain
        sessions[name].client.publish(telemetry_topic(name), batch(name, 2), qos=1)  # held: never sent
    mosquitto.wait_for_login(rotated)  # its new password works (the file the gateway rereads)
    for name in bystanders:
        assert sessions[name].publish(telemetry_topic(name), batch(name, 2)) < NOT_AUTHORISED
        assert sessions[name].disconnects == 0, f"{name} was dropped by the reload"
    marker = telemetry_topic(bystanders[-1])
    with watcher.got_message:
        assert watcher.got_message.wait_for(lambda: [m.topic for m in watcher.messages].count(marker) == 2, TIMEOUT_S)
        received = [(m.topic, json.loads(m.payload)["seq"]) for m in watcher.messages if unique_name in m.topic]
    # Every first batch, the bystanders' second ones; nothing the dropped two tried afterwards.
    expected = [(telemetry_topic(n), 1) for n in sessions] + [(telemetry_topic(n), 2) for n in bystanders]
    assert sorted(received) == sorted(expected)

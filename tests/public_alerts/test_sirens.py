"""The siren path over a real Mosquitto, the gateway's own Modbus writes and a simulated relay module.

The centre's SirenDispatcher (paho, SQLite record) commands; the gateway is the real edge
Agent, whose publisher takes the command and whose CommandExecutor writes through the
device's poller and `write_value` (a coil: function 5 with FF00, read back with function 1;
writable registers only) over Modbus TCP to a pymodbus server serving the Waveshare
`waveshare_modbus_rtu_relay_d` profile, which keeps what is written, as the board does.
"""

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine

from devstack.replay_data import Series
from devstack.services import Mosquitto
from devstack.station_sim import ReplayClock, StationSimulator
from edge_agent.agent import Agent
from edge_agent.commands import CommandExecutor
from edge_agent.config import GatewayConfig
from hardware_specs import load_profiles
from public_alerts import PublicPolicy
from public_alerts.policy import SAMPLE_POLICY, SirenChannel
from public_alerts.sirens import CommandLog, CommandRecord, SirenDispatcher, command_id_for
from public_alerts.tables import metadata
from tests.public_alerts.conftest import warning
from wire_contract import DeviceCommand, command_topic, encode_command

PROFILES = load_profiles()


def _policy(gateway: str, deadline_s: float) -> PublicPolicy:
    data: dict[str, Any] = yaml.safe_load(SAMPLE_POLICY.read_text())
    data["channels"]["le_thuy_sirens"].update(gateway=gateway, deadline_s=deadline_s)
    return PublicPolicy.model_validate(data)


def _wait(condition: Callable[[], object], timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


async def _await(condition: Callable[[], object], timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _dispatcher(
    mosquitto: Mosquitto, name: str, policy: PublicPolicy, tmp_path: Path
) -> tuple[SirenDispatcher, CommandLog, list[CommandRecord]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'desk.db'}")
    metadata.create_all(engine)
    commands, told = CommandLog(engine), []
    lock = threading.Lock()

    def tell(record: CommandRecord) -> None:
        with lock:
            told.append(record)

    dispatcher = SirenDispatcher(
        "127.0.0.1", mosquitto.port, f"{name}-centre", policy, commands, on_outcome=tell, resend_s=0.2,
        login=mosquitto.login("warnings"),  # the account that alone may command gateways
    )  # fmt: skip
    return dispatcher.start(), commands, told


def test_le_thuy_at_bd3_sets_the_siren_relay_and_a_repeat_runs_once(
    mosquitto: Mosquitto, unique_name: str, tmp_path: Path
) -> None:
    gateway = f"gw-{unique_name}"
    policy = _policy(gateway, deadline_s=30)
    dispatcher, commands, told = _dispatcher(mosquitto, unique_name, policy, tmp_path)

    async def run() -> None:
        relay = await StationSimulator(
            PROFILES["waveshare_modbus_rtu_relay_d"], Series("x", (0.0,), (0.0,)), ReplayClock(0, 1), 0
        ).start()
        device = {"name": "siren_relay", "profile": "waveshare_modbus_rtu_relay_d", "station": "le_thuy",
                  "timeout_ms": 500, "poll_s": 0.5, "transport": {"host": "127.0.0.1", "port": relay.port},
                  "sensors": {"relay_1": "le_thuy.siren_1"}}  # fmt: skip
        config = GatewayConfig.model_validate(
            {"gateway_id": gateway, "mqtt": mosquitto.gateway_mqtt(gateway),
             "buffer": {"path": str(tmp_path / "b.sqlite")}, "devices": [device]}
        )  # fmt: skip
        agent, stop = Agent(config, PROFILES), asyncio.Event()
        running = asyncio.create_task(agent.run(stop, flush_timeout_s=1.0))  # no ingest here to confirm
        try:
            await asyncio.to_thread(_wait, dispatcher.connected.is_set)
            # the gateway may subscribe after the first command is out: the dispatcher resends
            bd3 = warning("le_thuy", 3, 2, _now_ms())
            command_id = command_id_for(bd3.warning_id, "le_thuy_sirens")
            started = time.monotonic()
            # the rule service resends a warning until acknowledged: the repeat commands nothing
            assert dispatcher.sound(bd3, _now_ms()) == [command_id]
            assert dispatcher.sound(bd3, _now_ms()) == []
            await _await(lambda: told)
            assert time.monotonic() - started < 5  # "within a few seconds"
            assert relay.written_coils == {0: 1} and relay.written == {}  # relay 1's coil on, nothing else touched
            # the same command id again on the wire (a resend the result crossed): executed once
            record = commands.record(command_id)
            assert record is not None
            await asyncio.to_thread(_publish, mosquitto, command_topic(gateway), _same_command(record, gateway))
            await _await(lambda: agent.commands.repeats >= 1)
            assert relay.written_coils == {0: 1} and agent.commands.executed == 1
            # a digital input (the siren's current sensor) cannot be written: the gateway refuses
            channel = SirenChannel(type="siren", gateway=gateway, device="siren_relay", register_name="input_1")
            assert dispatcher.command("operator_test", channel, "desk:test-input", _now_ms())
            await _await(lambda: len(told) == 2)
        finally:
            stop.set()
            await running
            await relay.stop()

    try:
        asyncio.run(run())
    finally:
        dispatcher.stop()
    done, refused = told
    assert (done.state, done.value_read, done.channel) == ("done", 1, "le_thuy_sirens")
    assert refused.state == "refused" and "does not mark 'input_1' writable" in refused.detail


def _publish(mosquitto: Mosquitto, topic: str, payload: bytes) -> None:
    """As the warning service (the one account allowed to command a gateway)."""
    client = mosquitto.client("warnings")
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def _same_command(record: CommandRecord, gateway: str) -> bytes:
    now = _now_ms()
    return encode_command(
        DeviceCommand(
            command_id=record.command_id,
            gateway=gateway,
            device="siren_relay",
            register_name="relay_1",
            value=1,
            issued_ms=now,
            deadline_ms=now + 30_000,
            reason=record.reason,
        )
    )


def test_a_gateway_offline_past_the_deadline_is_recorded_failed_and_the_operator_told(
    mosquitto: Mosquitto, unique_name: str, tmp_path: Path
) -> None:
    gateway = f"gw-{unique_name}"
    policy = _policy(gateway, deadline_s=1.0)
    dispatcher, commands, told = _dispatcher(mosquitto, unique_name, policy, tmp_path)
    try:
        _wait(dispatcher.connected.is_set)
        bd3 = warning("le_thuy", 3, 2, _now_ms())
        [command_id] = dispatcher.sound(bd3, _now_ms())
        _wait(lambda: told)
    finally:
        dispatcher.stop()
    [record] = told
    assert record.command_id == command_id and record.state == "no_answer"
    assert f"no result from gateway {gateway}" in record.detail
    assert record.sends >= 2  # sent, then resent every 0.2 s until the 1 s deadline
    stored = commands.record(command_id)
    assert stored is not None and stored.state == "no_answer"


@pytest.mark.parametrize("late_ms", [1, 60_000])
def test_a_command_past_its_deadline_is_not_executed(late_ms: int) -> None:
    class Never:
        async def write(self, device: str, register_name: str, value: int) -> int:
            raise AssertionError("an expired command must not be written")

    executor = CommandExecutor("gw-1", Never())
    now = _now_ms()
    command = DeviceCommand(
        command_id="c1",
        gateway="gw-1",
        device="siren_relay",
        register_name="relay_1",
        value=1,
        issued_ms=now - 120_000,
        deadline_ms=now - late_ms,
    )
    result = asyncio.run(executor.handle(encode_command(command), now))
    assert result is not None and result.outcome == "expired" and executor.executed == 0

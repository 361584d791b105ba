"""The siren path over a real Mosquitto and a real pymodbus relay simulator.

The centre's SirenDispatcher (paho, SQLite record) commands; the gateway's CommandExecutor
(aiomqtt) executes. The register writer here is the test's own: a pymodbus client writing
one holding register of the simulated relay module and reading it back, refusing registers
outside its writable set. It stands in for the gateway's profile-driven writes
(edge_agent.writes, issue 10) until they are on main.
"""

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import yaml
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from sqlalchemy import create_engine

from devstack.services import Mosquitto, free_port
from devstack.station_sim import stop_server
from edge_agent.commands import CommandExecutor, CommandFailed, CommandRefused
from public_alerts import PublicPolicy
from public_alerts.policy import SAMPLE_POLICY, SirenChannel
from public_alerts.sirens import CommandLog, CommandRecord, SirenDispatcher, command_id_for
from public_alerts.tables import metadata
from tests.public_alerts.conftest import warning
from wire_contract import DeviceCommand, command_topic, encode_command

RELAY_REGISTERS = {"relay_1": 0, "relay_2": 1, "input_1": 8}
WRITABLE = {"relay_1", "relay_2"}


class RelayWriter:
    def __init__(self, client: AsyncModbusTcpClient, device: str) -> None:
        self._client = client
        self._device = device
        self.writes = 0

    async def write(self, device: str, register_name: str, value: int) -> int:
        if device != self._device or register_name not in RELAY_REGISTERS:
            raise CommandRefused(f"no register {register_name!r} on device {device!r}")
        if register_name not in WRITABLE:
            raise CommandRefused(f"register {register_name!r} of {device!r} is not writable")
        address = RELAY_REGISTERS[register_name]
        self.writes += 1
        written = await self._client.write_register(address, value, device_id=1)
        read = await self._client.read_holding_registers(address, count=1, device_id=1)
        if written.isError() or read.isError():
            raise CommandFailed(f"relay did not answer: {written} / {read}")
        return int(read.registers[0])


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
        "127.0.0.1", mosquitto.port, f"{name}-centre", policy, commands, on_outcome=tell, resend_s=0.2
    )
    return dispatcher.start(), commands, told


def test_le_thuy_at_bd3_sets_the_siren_coil_and_a_repeat_runs_once(
    mosquitto: Mosquitto, unique_name: str, tmp_path: Path
) -> None:
    gateway = f"gw-{unique_name}"
    policy = _policy(gateway, deadline_s=30)
    dispatcher, commands, told = _dispatcher(mosquitto, unique_name, policy, tmp_path)

    async def run() -> None:
        server = ModbusTcpServer(
            SimDevice(1, simdata=[SimData(0, count=16, values=0, datatype=DataType.REGISTERS)]),
            address=("127.0.0.1", port := free_port()),
        )
        serving = asyncio.create_task(server.serve_forever())
        modbus = AsyncModbusTcpClient("127.0.0.1", port=port)
        for _ in range(250):  # until the server listens
            if await modbus.connect():
                break
            await asyncio.sleep(0.02)
        writer = RelayWriter(modbus, "siren_relay")
        executor = CommandExecutor(gateway, writer)
        try:
            async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier=f"{gateway}-edge") as client:
                gateway_task = asyncio.create_task(executor.serve(client, _now_ms))
                await asyncio.to_thread(_wait, dispatcher.connected.is_set)
                # the executor may subscribe after the first command is out: the dispatcher resends
                bd3 = warning("le_thuy", 3, 2, _now_ms())
                # the rule service resends a warning until acknowledged: the repeat commands nothing
                assert dispatcher.sound(bd3, _now_ms()) == [command_id_for(bd3.warning_id, "le_thuy_sirens")]
                assert dispatcher.sound(bd3, _now_ms()) == []
                command_id = command_id_for(bd3.warning_id, "le_thuy_sirens")
                await _await(lambda: told)
                relay = await modbus.read_holding_registers(0, count=2, device_id=1)
                assert relay.registers == [1, 0]
                # the same command id again on the wire (a resend the result crossed): executed once
                record = commands.record(command_id)
                assert record is not None
                await client.publish(command_topic(gateway), _same_command(record, gateway), qos=1)
                await _await(lambda: executor.repeats >= 1)
                assert writer.writes == 1 and executor.executed == 1
                # a register the relay module does not let anyone write is refused by the gateway
                channel = SirenChannel(type="siren", gateway=gateway, device="siren_relay", register_name="input_1")
                assert dispatcher.command("operator_test", channel, "desk:test-input", _now_ms())
                await _await(lambda: len(told) == 2)
                gateway_task.cancel()
                await asyncio.gather(gateway_task, return_exceptions=True)
        finally:
            modbus.close()
            await stop_server(server, serving)

    try:
        asyncio.run(run())
    finally:
        dispatcher.stop()
    done, refused = told
    assert (done.state, done.value_read, done.channel) == ("done", 1, "le_thuy_sirens")
    assert refused.state == "refused" and "not writable" in refused.detail


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

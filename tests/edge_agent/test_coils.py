"""Coils and discrete inputs on the wire, to pymodbus servers: over RTU on a socat pty and over
Modbus TCP, poll the discrete inputs, switch a coil and read it back; the commands' bit tables."""

import asyncio
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from devstack.peer_thread import PeerThread
from devstack.replay_data import Series
from devstack.serial_line import PtyPair, RtuStations
from devstack.services import free_port
from devstack.station_sim import ReplayClock, StationSimulator
from edge_agent.agent import make_pollers
from edge_agent.cli import app
from edge_agent.config import GatewayConfig
from edge_agent.failures import TransportError
from edge_agent.rtu import encode_read, encode_write_coils
from edge_agent.writes import WriteRefused, write_coil, write_coils, write_value
from hardware_specs import Profile
from wire_contract import FailureReason, Quality

# A camera cabinet's I/O module: a door contact and the switch's link as discrete inputs, the
# camera's PoE relay as a coil (switched off and on to power-cycle a hung camera).
PROFILE_YAML = """\
name: cabinet_io
manufacturer: test
model: relay module
source: test
registers:
  - {name: door_open, table: discrete_input, address: 0, type: bool, quantity: door_open, unit: bool,
     valid_min: 0, valid_max: 1}
  - {name: link_up, table: discrete_input, address: 3, type: bool, quantity: link_up, unit: bool,
     valid_min: 0, valid_max: 1}
  - {name: poe_power, table: coil, address: 5, type: bool, quantity: poe_on, unit: bool,
     valid_min: 0, valid_max: 1, writable: true}
  - {name: poe_spare, table: coil, address: 6, type: bool, quantity: poe_on, unit: bool,
     valid_min: 0, valid_max: 1, writable: true}
"""
PROFILE = Profile.model_validate(yaml.safe_load(PROFILE_YAML))
SENSORS = {"door_open": "c.door", "link_up": "c.link", "poe_power": "c.poe"}  # poe_spare: not polled


def _station(port: int = 0) -> StationSimulator:
    # door shut (0), link up (1), PoE on (1): `station_sim.SOURCES`
    return StationSimulator(PROFILE, Series("x", (0.0,), (12.5,)), ReplayClock(0, 1), port)


def _device(transport: dict[str, object]) -> dict[str, object]:
    return {"name": "io", "profile": "cabinet_io", "station": "c", "timeout_ms": 300, "retries": 0,
            "transport": transport, "sensors": SENSORS}  # fmt: skip


async def _switch_off_and_back(config: GatewayConfig, station: StationSimulator) -> dict[str, object]:
    (poller,), buses = make_pollers(config, {"cabinet_io": PROFILE})
    try:
        first = {r.sensor: (r.value, r.quality) for r in await poller.poll()}
        off = await write_coil(poller, "poe_power", False)
        kept = dict(station.written_coils)
        after = {r.sensor: r.value for r in await poller.poll()}
        on = await write_value(poller, "poe_power", 1)
        both = await write_coils(poller, {"poe_spare": True, "poe_power": False})
        with pytest.raises(WriteRefused, match="does not mark 'door_open' writable"):
            await write_coil(poller, "door_open", True)
        with pytest.raises(WriteRefused, match="a coil: write 0 \\(off\\) or 1 \\(on\\), not 2"):
            await write_value(poller, "poe_power", 2)
        with pytest.raises(TransportError) as missing:
            await poller.reader.read("coil", 100, 1)  # the module has 16 coils
        assert missing.value.reason is FailureReason.illegal_data_address
        station.fail_reads = True
        with pytest.raises(TransportError) as busy:
            await write_coil(poller, "poe_power", False)
        return {
            "first": first,
            "off": off,
            "kept": kept,
            "after": after,
            "on": on,
            "both": both,
            "busy": busy.value.reason,
        }
    finally:
        await poller.close()
        for bus in buses:
            await bus.close()


def _check(result: dict[str, object], station: StationSimulator) -> None:
    assert result["first"] == {
        "c.door": (0.0, Quality.good),
        "c.link": (1.0, Quality.good),
        "c.poe": (1.0, Quality.good),
    }
    assert result["off"] is False and result["kept"] == {5: 0}
    assert result["after"] == {"c.door": 0.0, "c.link": 1.0, "c.poe": 0.0}  # the device kept it off
    assert result["on"] == 1.0
    assert result["both"] == {"poe_power": False, "poe_spare": True} and station.written_coils == {5: 0, 6: 1}
    assert result["busy"] is FailureReason.server_device_busy


def test_discrete_inputs_and_a_coil_over_rtu(tmp_path: Path) -> None:
    received: list[bytes] = []

    def trace(sending: bool, data: bytes) -> bytes:
        if not sending:
            received.append(data)
        return data

    station = _station()

    async def scenario(pair: PtyPair) -> dict[str, object]:
        server = await RtuStations([station], pair.device_end, baud=19200, trace_packet=trace).start()
        config = GatewayConfig.model_validate(
            {"gateway_id": "gw-c", "devices": [_device({"kind": "serial", "port": pair.master_end, "baud": 19200})]}
        )
        try:
            return await _switch_off_and_back(config, station)
        finally:
            await server.stop()

    with PtyPair(tmp_path) as pair:
        result = asyncio.run(scenario(pair))
    _check(result, station)
    # On the wire: the coil alone (fc 1), the inputs 0..3 in one request (fc 2); fc 5 off, on, off (refused busy).
    assert received[:2] == [encode_read(1, 1, 5, 1), encode_read(1, 2, 0, 4)]
    writes = [frame for frame in received if frame[1] in (5, 15)]
    assert writes == [
        encode_write_coils(1, 5, [0]),
        encode_write_coils(1, 5, [1]),
        encode_write_coils(1, 5, [0, 1]),  # function 15: two adjacent coils in one request
        encode_write_coils(1, 5, [0]),  # refused: server device busy
    ]
    assert writes[2][1] == 15


def test_discrete_inputs_and_a_coil_over_tcp() -> None:
    async def scenario() -> tuple[dict[str, object], StationSimulator]:
        station = await _station().start()
        config = GatewayConfig.model_validate(
            {"gateway_id": "gw-c", "devices": [_device({"host": "127.0.0.1", "port": station.port})]}
        )
        try:
            return await _switch_off_and_back(config, station), station
        finally:
            await station.stop()

    result, station = asyncio.run(scenario())
    _check(result, station)


def test_the_commands_read_and_switch_bits(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "cabinet_io.yaml").write_text(PROFILE_YAML)
    path = tmp_path / "gateway.yaml"
    config = {
        "gateway_id": "gw-c",
        "profiles_dir": "profiles",
        "devices": [_device({"host": "127.0.0.1", "port": port})],
    }
    path.write_text(yaml.safe_dump(config))
    runner = CliRunner()
    probe = ["probe", "--host", "127.0.0.1", "--tcp-port", str(port), "--address", "0", "--count", "6"]
    with PeerThread(lambda: _station(port).start()):
        inputs = runner.invoke(app, [*probe, "--table", "discrete-inputs"])
        off = runner.invoke(app, ["write", str(path), "io", "poe_power", "off", "--table", "coils"])
        coils = runner.invoke(app, [*probe, "--table", "coils"])
        on = runner.invoke(app, ["write", str(path), "io", "poe_power", "1"])
        refused = runner.invoke(app, ["write", str(path), "io", "door_open", "on"])
        wrong_table = runner.invoke(app, ["write", str(path), "io", "poe_power", "on", "--table", "holding"])
        not_a_switch = runner.invoke(app, ["write", str(path), "io", "poe_power", "maybe"])
    assert inputs.exit_code == 0 and "discrete inputs 0..5: 000100" in inputs.output, inputs.output
    assert off.exit_code == 0 and "poe_power = 0 bool (read back)" in off.output, off.output
    assert coils.exit_code == 0 and "coils 0..5: 000000" in coils.output, coils.output
    assert on.exit_code == 0 and "poe_power = 1 bool (read back)" in on.output, on.output
    assert refused.exit_code == 2 and "does not mark 'door_open' writable" in refused.output
    assert wrong_table.exit_code == 2 and "in the coil table" in wrong_table.output, wrong_table.output
    assert not_a_switch.exit_code == 2 and "on/off for a coil" in not_a_switch.output
    for result in (inputs, off, coils, on, refused, wrong_table, not_a_switch):
        assert "Traceback" not in result.output

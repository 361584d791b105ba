"""Writes of a setting, with read-back: over RTU on a socat pty and over Modbus TCP, to pymodbus
servers; only to a register the profile marks writable."""

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
from edge_agent.rtu import encode_write
from edge_agent.writes import WriteRefused, write_value
from hardware_specs import load_profiles
from wire_contract import FailureReason

PROFILES = load_profiles()
RADAR = PROFILES["river_level_radar"]


def _station(port: int = 0) -> StationSimulator:
    return StationSimulator(RADAR, Series("x", (0.0,), (4.88,)), ReplayClock(0, 1), port)


def _device(transport: dict[str, object]) -> dict[str, object]:
    return {"name": "radar", "profile": "river_level_radar", "station": "s", "timeout_ms": 300, "retries": 0,
            "transport": transport, "sensors": {"level": "s.level", "install_height": "s.install_height"}}  # fmt: skip


def test_a_writable_setting_is_written_over_rtu_and_read_back(tmp_path: Path) -> None:
    received: list[bytes] = []

    def trace(sending: bool, data: bytes) -> bytes:
        if not sending:
            received.append(data)
        return data

    async def scenario(pair: PtyPair) -> tuple[float, float | None]:
        station = _station()
        server = await RtuStations([station], pair.device_end, baud=19200, trace_packet=trace).start()
        config = GatewayConfig.model_validate(
            {"gateway_id": "gw-w", "devices": [_device({"kind": "serial", "port": pair.master_end, "baud": 19200})]}
        )
        (poller,), buses = make_pollers(config, PROFILES)
        try:
            back = await write_value(poller, "install_height", 11.5)
            polled = {r.sensor: r.value for r in await poller.poll()}
            with pytest.raises(WriteRefused, match="does not mark 'level' writable; writable: \\['install_height'\\]"):
                await write_value(poller, "level", 1.0)
            with pytest.raises(WriteRefused, match=r"outside 0\.\.30"):
                await write_value(poller, "install_height", 31)
            station.fail_reads = True
            with pytest.raises(TransportError) as busy:
                await write_value(poller, "install_height", 11.0)
            assert busy.value.reason is FailureReason.server_device_busy
        finally:
            await buses[0].close()
            await server.stop()
        return back, polled["s.install_height"]

    with PtyPair(tmp_path) as pair:
        back, polled = asyncio.run(scenario(pair))
    assert back == polled == 11.5  # the device holds it: the next poll reads it too
    # Only the two allowed writes reached the wire (function 6, register 10, 11500 and 11000 mm).
    assert [f for f in received if f[1] == 6] == [encode_write(1, 10, [11500]), encode_write(1, 10, [11000])]


def test_a_setting_is_written_over_tcp() -> None:
    async def scenario() -> float:
        station = await _station().start()
        config = GatewayConfig.model_validate(
            {"gateway_id": "gw-w", "devices": [_device({"host": "127.0.0.1", "port": station.port})]}
        )
        (poller,), _ = make_pollers(config, PROFILES)
        try:
            return await write_value(poller, "install_height", 9.25)
        finally:
            await poller.close()
            await station.stop()

    assert asyncio.run(scenario()) == 9.25


def test_a_write_while_a_poll_is_on_the_wire_waits_its_turn_over_tcp() -> None:
    """A centre's command (a siren) arrives while the device is being polled: both go out on the
    one Modbus TCP connection, one transaction at a time, and each gets its own answer."""

    async def scenario() -> tuple[list[float], list[dict[str, float | None]]]:
        station = await _station().start()
        config = GatewayConfig.model_validate(
            {"gateway_id": "gw-w", "devices": [_device({"host": "127.0.0.1", "port": station.port})]}
        )
        (poller,), _ = make_pollers(config, PROFILES)
        heights = [5.0 + i / 4 for i in range(20)]

        async def commands() -> list[float]:  # one after another, as the gateway answers them
            return [await write_value(poller, "install_height", height) for height in heights]

        async def polls() -> list[dict[str, float | None]]:
            return [{r.sensor: r.value for r in await poller.poll()} for _ in heights]

        try:
            await poller.poll()  # connected: what follows shares one connection
            # a bound, not a pace: before requests took turns, a reply could go to another
            # request's future and leave the first one waiting for ever
            return await asyncio.wait_for(asyncio.gather(commands(), polls()), 30)
        finally:
            await poller.close()
            await station.stop()

    written, readings = asyncio.run(scenario())
    assert written == [5.0 + i / 4 for i in range(20)]  # each write read back its own value
    assert all(r["s.level"] == 4.88 and r["s.install_height"] is not None for r in readings)


def test_the_write_command_writes_reads_back_and_refuses_in_one_line(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump({"gateway_id": "gw-w", "devices": [_device({"host": "127.0.0.1", "port": port})]}))
    runner = CliRunner()
    with PeerThread(lambda: _station(port).start()):
        result = runner.invoke(app, ["write", str(path), "radar", "install_height", "12.5"])
        assert result.exit_code == 0, result.output
        assert "install_height = 12.5 m (read back)" in result.output
        refused = runner.invoke(app, ["write", str(path), "radar", "level", "1"])
    assert refused.exit_code == 2 and "does not mark 'level' writable" in refused.output
    missing = runner.invoke(app, ["write", str(path), "nope", "level", "1"])
    assert missing.exit_code == 2 and "no device 'nope'" in missing.output

"""Polling real pymodbus servers over TCP: values, quality flags, and faults that never stop the agent."""

import asyncio
from datetime import datetime

import pytest

from devstack.replay_data import LEVEL_CSV, Series, load_series
from devstack.services import free_port
from devstack.station_sim import ReplayClock, StationSimulator
from edge_agent.config import Device
from edge_agent.plan import plan_requests
from edge_agent.poller import DevicePoller
from hardware_specs import Profile, load_profiles
from wire_contract import Quality, Reading

PROFILES = load_profiles()
RADAR = PROFILES["river_level_radar"]


def _device(port: int, **overrides: object) -> Device:
    fields: dict[str, object] = {
        "name": "level",
        "profile": "river_level_radar",
        "station": "le_thuy",
        "transport": {"host": "127.0.0.1", "port": port},
        "timeout_ms": 200,
        "retries": 0,
        "sensors": {"level": "le_thuy.level", "air_gap": "le_thuy.air_gap"},
    }
    return Device.model_validate(fields | overrides)


def _flat(value: float) -> Series:
    return Series("test", (0.0,), (value,))


async def _poll_once(series: Series, profile: Profile = RADAR, fail: bool = False) -> list[Reading]:
    port = free_port()
    sim = await StationSimulator(profile, series, ReplayClock(0.0, 1.0), port).start()
    sim.fail_reads = fail
    poller = DevicePoller(_device(port), profile)
    try:
        return await poller.poll()
    finally:
        await poller.close()
        await sim.stop()


def test_reads_and_decodes_the_served_registers() -> None:
    readings = asyncio.run(_poll_once(_flat(4.88)))
    assert [(r.sensor, r.value, r.quality) for r in readings] == [
        ("le_thuy.level", 4.88, Quality.good),
        ("le_thuy.air_gap", 7.12, Quality.good),
    ]
    assert {r.unit for r in readings} == {"m"}


def test_one_request_reads_contiguous_registers() -> None:
    requests = plan_requests(RADAR, {"level": "a", "air_gap": "b", "install_height": "c"})
    assert [(r.address, r.count) for r in requests] == [(0, 3), (10, 1)]
    assert [slot.offset for slot in requests[0].slots] == [0, 2]


def test_a_value_outside_the_valid_range_is_flagged_not_dropped() -> None:
    readings = asyncio.run(_poll_once(_flat(16.5)))
    assert (readings[0].value, readings[0].quality) == (16.5, Quality.out_of_range)


def test_a_modbus_exception_marks_read_failure() -> None:
    readings = asyncio.run(_poll_once(_flat(1.0), fail=True))
    assert [(r.value, r.quality) for r in readings] == [(None, Quality.read_failure)] * 2


def test_a_dead_device_does_not_stop_the_live_one() -> None:
    async def scenario() -> tuple[list[Reading], list[Reading], int]:
        live_port = free_port()
        sim = await StationSimulator(RADAR, _flat(2.0), ReplayClock(0.0, 1.0), live_port).start()
        dead = DevicePoller(_device(free_port(), name="dead"), RADAR)
        live = DevicePoller(_device(live_port), RADAR)
        try:
            results = [await asyncio.gather(dead.poll(), live.poll()) for _ in range(3)]
        finally:
            await dead.close()
            await live.close()
            await sim.stop()
        return results[-1][0], results[-1][1], dead.errors

    dead_readings, live_readings, dead_errors = asyncio.run(scenario())
    assert {r.quality for r in dead_readings} == {Quality.read_failure}
    assert [r.value for r in live_readings] == [2.0, 10.0]
    assert dead_errors == 3


@pytest.mark.parametrize("speedup", [3600.0 * 24])
def test_simulator_replays_the_recorded_series(speedup: float) -> None:
    series = load_series(
        LEVEL_CSV,
        "Le Thuy",
        datetime.fromisoformat("2020-10-19T00:00:00+07:00"),
        datetime.fromisoformat("2020-10-20T00:00:00+07:00"),
    )
    assert max(series.values) == 4.88  # the Lệ Thủy peak of 19 October 2020
    clock = ReplayClock(series.start_s, speedup, wall_start_s=0.0)
    assert series.at(clock.data_time(6 * 3600 / speedup)) == 4.88


@pytest.mark.parametrize("mbap_length", [0, 1, 2])
def test_a_malformed_mbap_frame_is_a_read_failure_not_a_crash(mbap_length: int) -> None:
    """A device answering with a header too short to hold a response must not take the poll loop down."""

    async def scenario() -> list[Reading]:
        async def answer_garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while request := await reader.read(12):
                tid = request[:2]
                writer.write(tid + b"\x00\x00" + mbap_length.to_bytes(2, "big") + b"\x01\x03"[:mbap_length])
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer_garbage, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        poller = DevicePoller(_device(port, retries=1), RADAR)
        try:
            return await poller.poll()
        finally:
            await poller.close()
            server.close()
            await server.wait_closed()

    readings = asyncio.run(scenario())
    assert [(r.value, r.quality) for r in readings] == [(None, Quality.read_failure)] * 2

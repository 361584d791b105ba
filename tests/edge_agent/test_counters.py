"""Counters with rollover (tips -> rain mm), bit fields, and the camera-cabinet profile, on real pymodbus servers."""

import asyncio
from pathlib import Path

import pytest

from devstack.replay_data import Series
from devstack.station_sim import ReplayClock, StationSimulator
from edge_agent.buffer import DiskBuffer, Row
from edge_agent.config import Device
from edge_agent.counters import Counters, CounterState, advance
from edge_agent.poller import DevicePoller
from hardware_specs import Profile, load_profiles
from wire_contract import Quality, Reading

PROFILES = load_profiles()


@pytest.mark.parametrize(
    ("last", "raw", "modulus", "total"),
    [
        (None, 500, 65536, 500),  # first sight: the baseline
        (500, 520, 65536, 120),  # grew by 20
        (65530, 4, 65536, 110),  # wrapped: 6 to the top, 4 after
        (40000, 3, 65536, 103),  # reset (a power cut): counts from 0 again
        (2**32 - 2, 1, 2**32, 103),  # a 32-bit wrap
    ],
)
def test_counter_advance(last: int | None, raw: int, modulus: int, total: int) -> None:
    state = None if last is None else CounterState(last, 100)
    assert advance(state, raw, modulus) == CounterState(raw, total)


class TipStation(StationSimulator):
    """A rain gauge whose 32-bit tip count is set by the test."""

    def __init__(self, port: int) -> None:
        super().__init__(PROFILES["rain_gauge_tipping"], Series("x", (0.0,), (0.0,)), ReplayClock(0, 1), port)
        self.tips = 0

    def values_at(self, data_time_s: float) -> dict[str, float]:
        return {"tips": self.tips, "rain_total": 0.0, "rain": 0.0, "rain_hour": 0.0, "mm_per_tip": 0.1}


def _device(port: int, profile: str, sensors: dict[str, str]) -> Device:
    return Device.model_validate(
        {"name": "d", "profile": profile, "station": "s", "transport": {"host": "127.0.0.1", "port": port},
         "timeout_ms": 300, "retries": 0, "sensors": sensors}
    )  # fmt: skip


def test_rain_in_mm_survives_counter_wrap_reset_and_gateway_restart(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[float | None], list[float | None]]:
        station = await TipStation(0).start()
        sensors = {"rain_total": "s.rain_total", "rain": "s.rain", "tips": "s.tips"}
        device = _device(station.port, "rain_gauge_tipping", sensors)
        totals: list[float | None] = []
        increments: list[float | None] = []
        path = tmp_path / "buffer.sqlite"
        try:
            for run, tips_seen in enumerate(([2**32 - 30, 2**32 - 10, 5], [25, 3, 13])):
                buffer = DiskBuffer(path, 1 << 30, synchronous="normal").open()  # a gateway (re)start
                counters = Counters(buffer.counters())
                poller = DevicePoller(device, PROFILES["rain_gauge_tipping"], counters=counters)
                for tips in tips_seen:
                    station.tips = tips
                    readings = await poller.poll()
                    assert {r.quality for r in readings} == {Quality.good}, run
                    rows = [Row(7, r.ts_ms, r.model_dump_json().encode()) for r in readings]
                    buffer.add(rows, counters.take_dirty())
                    totals.append(next(r.value for r in readings if r.sensor == "s.rain_total"))
                    increments.append(next(r.value for r in readings if r.sensor == "s.rain"))
                await poller.close()
                buffer.close()
        finally:
            await station.stop()
        return totals, increments

    totals, increments = asyncio.run(scenario())
    # Baseline 2^32-30 tips; +20; wrap +15; restart, +20; power cut at the gauge: +3; +10.
    base = (2**32 - 30) / 10
    assert totals == pytest.approx([base, base + 2.0, base + 3.5, base + 5.5, base + 5.8, base + 6.8])
    # `rain` is what fell since the previous reading: the baseline counts 0, the sum is the total's growth.
    assert increments == pytest.approx([0.0, 2.0, 1.5, 2.0, 0.3, 1.0])


def _poll_cabinet_once(profile: Profile, supply_v: float, sensors: dict[str, str]) -> list[Reading]:
    """One poll of a simulated cabinet controller (its series is the supply voltage)."""

    async def scenario() -> list[Reading]:
        station = await StationSimulator(profile, Series("v", (0.0,), (supply_v,)), ReplayClock(0, 1), 0).start()
        poller = DevicePoller(_device(station.port, "camera_cabinet_health", sensors), profile)
        try:
            return await poller.poll()
        finally:
            await poller.close()
            await station.stop()

    return asyncio.run(scenario())


def test_camera_cabinet_bits_and_values_over_modbus() -> None:
    profile = PROFILES["camera_cabinet_health"]
    sensors = {r.name: f"cab.{r.name}" for r in profile.registers if not r.writable}

    got = {r.sensor: (r.value, r.quality) for r in _poll_cabinet_once(profile, 24.37, sensors)}
    assert got == {
        "cab.supply_voltage": (24.37, Quality.good),
        "cab.cabinet_temp": (31.5, Quality.good),
        "cab.door_open": (0.0, Quality.good),
        "cab.poe_power": (1.0, Quality.good),
        "cab.link_up": (1.0, Quality.good),
        "cab.stream_alive": (1.0, Quality.good),
        "cab.controller_state": (0.0, Quality.good),  # enum code 0: normal
    }


@pytest.mark.parametrize(("supply_v", "code", "quality"), [(24.0, 0.0, Quality.good), (11.5, 1.0, Quality.good)])
def test_an_enum_register_publishes_its_code(supply_v: float, code: float, quality: Quality) -> None:
    profile = PROFILES["camera_cabinet_health"]
    state = profile.register("controller_state")

    [reading] = _poll_cabinet_once(profile, supply_v, {"controller_state": "cab.state"})
    assert (reading.value, reading.quality, reading.unit) == (code, quality, "code")
    assert state.label(code) == ("normal", "on_battery")[int(code)]


def test_an_enum_code_the_profile_does_not_list_is_out_of_range() -> None:
    profile = PROFILES["camera_cabinet_health"]
    # a profile whose enum lists 0 and 3 only, over the same simulator (which serves code 1 below 12 V)
    sparse = profile.model_copy(
        update={
            "registers": tuple(
                r.model_copy(update={"enum": {0: "normal", 3: "fault"}}) if r.name == "controller_state" else r
                for r in profile.registers
            )
        }
    )

    [reading] = _poll_cabinet_once(sparse, 11.0, {"controller_state": "cab.state"})
    assert (reading.value, reading.quality) == (1.0, Quality.out_of_range)

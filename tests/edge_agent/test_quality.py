"""Readings that say how good they are: stale values, and a clock that cannot be trusted."""

import asyncio

from devstack.replay_data import Series
from devstack.station_sim import ReplayClock, StationSimulator
from edge_agent.clock import RELEASE_MS, GatewayClock, kernel_clock_synced
from edge_agent.config import Device
from edge_agent.poller import DevicePoller
from hardware_specs import load_profiles
from wire_contract import Quality

RADAR = load_profiles()["river_level_radar"]


class FakeWall:
    """The wall clock of a Pi without RTC (the system clock of this machine cannot be set by a test)."""

    def __init__(self, wall_ms: int) -> None:
        self.wall_ms = wall_ms
        self.mono = 100.0

    def tick(self, seconds: float, wall_too: bool = True) -> None:
        self.mono += seconds
        self.wall_ms += int(seconds * 1000) if wall_too else 0


def test_an_impossible_time_is_never_stamped() -> None:
    wall = FakeWall(0)  # booted in 1970
    ntp = {"synced": False}
    clock = GatewayClock(
        kernel_synced=lambda: ntp["synced"], wall_ms=lambda: wall.wall_ms, monotonic_s=lambda: wall.mono
    )
    stamps = []
    for _ in range(3):
        stamps.append(clock.stamp())
        wall.tick(0.5)
    assert stamps == [(RELEASE_MS + 1, False), (RELEASE_MS + 501, False), (RELEASE_MS + 1001, False)]
    assert clock.problem is not None and "before" in clock.problem and not clock.synced
    wall.wall_ms = RELEASE_MS + 86_400_000  # NTP answered
    ntp["synced"] = True
    assert clock.stamp() == (RELEASE_MS + 86_400_000, True)
    assert clock.synced and clock.problem is None


def test_the_floor_is_the_newest_reading_ever_stored() -> None:
    wall = FakeWall(RELEASE_MS + 5_000)
    clock = GatewayClock(kernel_synced=lambda: True, wall_ms=lambda: wall.wall_ms, monotonic_s=lambda: wall.mono)
    clock.raise_floor(RELEASE_MS + 10_000)  # a reboot brought the clock back before what was stored
    assert clock.stamp() == (RELEASE_MS + 10_001, False)


def test_the_kernel_is_asked_for_synchronisation() -> None:
    assert kernel_clock_synced() in (True, False)


def test_a_frozen_value_turns_stale_and_recovers() -> None:
    async def scenario() -> list[tuple[float | None, Quality]]:
        station = await StationSimulator(RADAR, Series("x", (0.0,), (2.5,)), ReplayClock(0, 1), 0).start()
        device = Device.model_validate(
            {"name": "lvl", "profile": "river_level_radar", "station": "s", "stale_after_polls": 3,
             "transport": {"host": "127.0.0.1", "port": station.port}, "sensors": {"level": "s.level"}}
        )  # fmt: skip
        poller = DevicePoller(device, RADAR)
        seen = []
        try:
            for i in range(5):
                if i == 4:
                    station.series = Series("x", (0.0,), (2.6,))
                (reading,) = await poller.poll()
                seen.append((reading.value, reading.quality))
        finally:
            await poller.close()
            await station.stop()
        return seen

    good, stale = Quality.good, Quality.stale
    assert asyncio.run(scenario()) == [(2.5, good), (2.5, good), (2.5, stale), (2.5, stale), (2.6, good)]

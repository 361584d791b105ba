"""The October 2020 flood at Lệ Thủy (Kiến Giang), from the observed levels in data/.

The crossings asserted here were read off the CSV by hand: 1.01 m at 19:00 and 1.22 m at
22:00 on the 7th; 1.87 m at 05:00, 2.25 m at 06:00, 2.61 m at 07:00, 2.81 m at 08:00 on
the 8th; the peak of 4.88 m held from 06:00 to 08:00 on the 19th.
"""

import csv
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from rules import (
    SHIPPED_ALARM_LEVELS,
    SHIPPED_RULES,
    StationLevels,
    level_states,
    level_states_kernel,
    load_alarm_levels,
)
from rules.evaluator import RuleBookEvaluator
from rules.rulebook import load_rulebook
from wire_contract import Quality, Reading, TelemetryBatch

LEVELS_CSV = Path(__file__).resolve().parents[2] / "data" / "quangbinh_2020_level_observed.csv"

Series = list[tuple[datetime, float]]


def le_thuy(month_prefix: str = "2020-") -> Series:
    with LEVELS_CSV.open(encoding="utf-8") as file:
        rows = [row for row in csv.DictReader(file) if row["station"] == "Le Thuy"]
    series = [
        (datetime.fromisoformat(r["time"]), float(r["level_m"])) for r in rows if r["time"].startswith(month_prefix)
    ]
    return sorted(series)


@pytest.fixture(scope="module")
def october() -> Series:
    return le_thuy("2020-10")


@pytest.fixture(scope="module")
def levels() -> StationLevels:
    return load_alarm_levels(SHIPPED_ALARM_LEVELS).station("le_thuy")


def states_of(series: Series, levels: StationLevels) -> list[int]:
    return level_states([value for _, value in series], levels.thresholds_m, levels.clear_below_m, 0)


def test_first_crossings_of_the_october_flood(october: Series, levels: StationLevels) -> None:
    states = states_of(october, levels)
    changes = [
        (october[i], before, after)
        for i, (before, after) in enumerate(zip([0, *states], states, strict=False))
        if before != after
    ]
    assert changes[:3] == [
        ((datetime.fromisoformat("2020-10-07T22:00:00+07:00"), 1.22), 0, 1),
        ((datetime.fromisoformat("2020-10-08T06:00:00+07:00"), 2.25), 1, 2),
        ((datetime.fromisoformat("2020-10-08T08:00:00+07:00"), 2.81), 2, 3),
    ]


def test_the_peak_is_at_bd3(october: Series, levels: StationLevels) -> None:
    states = states_of(october, levels)
    peak = max(value for _, value in october)
    assert peak == 4.88
    at_peak = [(time, state) for (time, value), state in zip(october, states, strict=True) if value == peak]
    assert datetime.fromisoformat("2020-10-19T08:00:00+07:00") in [time for time, _ in at_peak]
    assert all(state == 3 for _, state in at_peak)


def test_kernel_agrees_over_the_whole_year(levels: StationLevels) -> None:
    values = [value for _, value in le_thuy()]
    up, down = np.array(levels.thresholds_m), np.array(levels.clear_below_m)
    assert level_states_kernel(np.array(values), up, down, 0).tolist() == states_of(le_thuy(), levels)


def test_engine_replays_october_as_the_reference_does(october: Series, levels: StationLevels) -> None:
    all_levels = load_alarm_levels(SHIPPED_ALARM_LEVELS)
    live = RuleBookEvaluator(load_rulebook(SHIPPED_RULES, all_levels), all_levels)
    readings = [
        Reading(
            sensor="le_thuy.level",
            station="le_thuy",
            quantity="water_level",
            value=value,
            unit="m",
            ts_ms=int(time.timestamp() * 1000),
            quality=Quality.good,
        )
        for time, value in october
    ]
    warnings = []
    for seq, start in enumerate(range(0, len(readings), 24)):  # a day or so per batch
        batch = TelemetryBatch(gateway="le_thuy", seq=seq, readings=tuple(readings[start : start + 24]))
        warnings += [live.to_warning(transition) for transition in live.evaluate(batch)]
    states = states_of(october, levels)
    expected = [(before, after) for before, after in zip([0, *states], states, strict=False) if before != after]
    assert [(w.previous_level, w.level) for w in warnings] == expected
    assert warnings[0].ts_ms == int(datetime.fromisoformat("2020-10-07T22:00:00+07:00").timestamp() * 1000)

"""Versioned alarm levels: a station listed once per decision, each reading judged by the
levels in effect at its time (from 00:00 UTC+07:00 of `effective_from`)."""

import bisect
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import reference_kinds
from rules.backtest import official_episodes, replay
from rules.evaluator import RuleBookEvaluator
from rules.levels import AlarmLevelTable, NoLevelsInEffect, RuleConfigError, load_alarm_levels
from rules.rulebook import RuleBook
from rules.series import cut_at

HOUR_MS = 3_600_000
# 2020-10-10 00:00 in Việt Nam is 2020-10-09 17:00 UTC.
CHANGE_MS = 1_602_262_800_000
OLD = {"bd1_m": 1.0, "bd2_m": 2.0, "bd3_m": 3.0, "effective_from": date(2020, 1, 1), "source": "decision A"}
NEW = {"bd1_m": 1.5, "bd2_m": 2.5, "bd3_m": 3.5, "effective_from": date(2020, 10, 10), "source": "decision B"}


def version(**fields: Any) -> dict[str, Any]:
    return {"station": "le_thuy", "river": "Kiến Giang", "display_name": "Lệ Thủy", "hysteresis_m": 0.05} | fields


def table(*versions: dict[str, Any]) -> AlarmLevelTable:
    return AlarmLevelTable.model_validate({"stations": list(versions)})


def level_book() -> RuleBook:
    return RuleBook.model_validate(
        {"rules": [{"name": "le_thuy_level", "station": "le_thuy", "sensor": "le_thuy.level", "levels": "le_thuy"}]}
    )


def test_the_version_in_effect_is_chosen_by_time() -> None:
    levels = table(version(**NEW), version(**OLD))  # in any order
    assert levels.station("le_thuy", CHANGE_MS - 1).thresholds_m == (1.0, 2.0, 3.0)
    assert levels.station("le_thuy", CHANGE_MS).thresholds_m == (1.5, 2.5, 3.5)
    assert levels.station("le_thuy").source == "decision B"  # now
    assert [v.source for v in levels.versions("le_thuy")] == ["decision A", "decision B"]
    with pytest.raises(NoLevelsInEffect, match="no alarm levels in effect before 2020-01-01"):
        levels.station("le_thuy", 1_500_000_000_000)  # 2017


def test_versions_must_agree_on_the_station_and_differ_in_date(tmp_path: Path) -> None:
    path = tmp_path / "alarm_levels.yaml"
    path.write_text(yaml.safe_dump({"stations": [version(**OLD), version(**NEW, display_name="Le Thuy")]}))
    with pytest.raises(RuleConfigError, match=r"alarm_levels.yaml:\d+ stations: .*name it differently"):
        load_alarm_levels(path)
    path.write_text(yaml.safe_dump({"stations": [version(**OLD), version(**OLD | {"bd3_m": 3.1})]}))
    with pytest.raises(RuleConfigError, match=r"appear.*with the same effective_from"):
        load_alarm_levels(path)


def reference_states(ts: list[int], vals: list[float], levels: AlarmLevelTable) -> list[int]:
    """The reference level kind, fed in one piece per version, the state carried across."""
    carry = [-1.0, 0.0]
    states: list[int] = []
    for i, t in enumerate(ts):
        try:
            chosen = levels.station("le_thuy", t)
            params = [*chosen.thresholds_m, *chosen.clear_below_m]
        except NoLevelsInEffect:
            params = [float("inf")] * 3 + [float("-inf")] * 3
        states += reference_kinds.level(ts[: i + 1], vals[: i + 1], i, params, carry)
    return states


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.5, 4.0, allow_nan=False), min_size=2, max_size=40),
    st.integers(-20, 20),
    st.integers(1, 6),
)
def test_readings_are_judged_by_the_levels_of_their_time(values: list[float], shift_h: int, step_h: int) -> None:
    levels = table(version(**OLD), version(**NEW))
    ts = [CHANGE_MS + (shift_h + i * step_h) * HOUR_MS for i in range(len(values))]
    expected = reference_kinds.transitions(reference_states(ts, values, levels), 0)
    evaluator = RuleBookEvaluator(level_book(), levels)
    got = evaluator.feed({"le_thuy.level": (ts, values)})  # one feed across the change
    assert [(ts.index(t.ts_ms), t.previous, t.state) for t in got] == expected
    for transition in got:
        warning = evaluator.to_warning(transition)
        decided_by = OLD if transition.ts_ms < CHANGE_MS else NEW
        assert warning.thresholds_m == (decided_by["bd1_m"], decided_by["bd2_m"], decided_by["bd3_m"])
        assert warning.thresholds_source.startswith(decided_by["source"])


def test_the_same_river_warns_at_the_new_levels_after_the_change() -> None:
    levels = table(version(**OLD), version(**NEW))
    ts = [CHANGE_MS - 2 * HOUR_MS, CHANGE_MS - HOUR_MS, CHANGE_MS, CHANGE_MS + HOUR_MS]
    vals = [1.2, 0.5, 1.2, 1.6]  # BĐ1 under the old levels; under the new ones only from 1.5 m
    got = replay(level_book(), levels, {"le_thuy.level": (ts, vals)}, ts[0], ts[-1] + 1)
    assert [(t.ts_ms, t.previous, t.state) for t in got] == [
        (ts[0], 0, 1),
        (ts[1], 1, 0),
        (ts[3], 0, 1),
    ]
    episodes = official_episodes(levels, "le_thuy", ts, vals)
    assert [(e.level, e.start_ms) for e in episodes] == [(1, ts[0]), (1, ts[3])]


def test_before_the_first_version_level_rules_abstain() -> None:
    levels = table(version(**NEW))
    ts = [CHANGE_MS - HOUR_MS, CHANGE_MS, CHANGE_MS + HOUR_MS]
    evaluator = RuleBookEvaluator(level_book(), levels)
    got = evaluator.feed({"le_thuy.level": (ts, [3.9, 1.0, 2.6])})
    assert [(t.ts_ms, t.previous, t.state) for t in got] == [(ts[2], 0, 2)]


@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c"]), st.lists(st.integers(0, 100), unique=True).map(sorted), max_size=3
    ),
    st.lists(st.integers(0, 100), unique=True).map(sorted),
)
def test_cutting_series_at_instants_keeps_every_reading_once_in_its_piece(
    times: dict[str, list[int]], instants: list[int]
) -> None:
    series = {sensor: (ts, [float(t) for t in ts]) for sensor, ts in times.items()}
    pieces = cut_at(series, instants)
    for sensor, (ts, _) in series.items():
        assert [t for _, piece in pieces for t in piece.get(sensor, ([], []))[0]] == ts
    for k, piece in pieces:
        for ts, vals in piece.values():
            assert ts == [int(v) for v in vals]
            assert all(bisect.bisect_right(instants, t) == k for t in ts)

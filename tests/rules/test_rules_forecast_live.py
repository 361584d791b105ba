"""The forecast kind as a live rule: one implementation for the service and the backtest.

A rule file declares a forecast rule with its model; `RuleBookEvaluator` decides it hour
by hour (rules/forecast/rule.py). Live batches decide what the backtest decides; the
numba path decides what the plain-Python reference decides; the live service, on the
real Mosquitto and InfluxDB, sends the warning with its expected arrival, and a restart
in the middle of a flood neither repeats nor misses one.
"""

import math
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from centre.influx import InfluxV1
from devstack.centre_influx import service_influx
from devstack.services import InfluxDB, Mosquitto
from rules.backtest import load_csv, replay
from rules.cli import CSV_FILES
from rules.evaluator import RuleBookEvaluator
from rules.forecast import kernels, reference
from rules.forecast.rule import decide, judged
from rules.levels import SHIPPED_ALARM_LEVELS, RuleConfigError, load_alarm_levels
from rules.network import load_network
from rules.rulebook import ForecastKind, RuleBook, load_rulebook
from rules.service import RulesService
from rules.service_config import RulesServiceConfig
from tests.rules.live_harness import WarningWire, readings_of
from wire_contract import (
    Reading,
    TelemetryBatch,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "rules" / "examples"
LEVELS = load_alarm_levels(SHIPPED_ALARM_LEVELS)
NETWORK = load_network()
BOOK = load_rulebook(EXAMPLES / "le_thuy_forecast.yaml", LEVELS, NETWORK)
START, END = 1_601_830_800_000, 1_602_867_600_000  # 2020-10-05 .. 2020-10-17, local midnight
SERIES = load_csv(CSV_FILES, START, END)
H = 3_600_000


def by_timestamp(readings: list[Reading]) -> list[list[Reading]]:
    """The readings of each time together (a gateway sends a poll's readings in one batch)."""
    groups: dict[int, list[Reading]] = {}
    for r in readings:
        groups.setdefault(r.ts_ms, []).append(r)
    return [groups[t] for t in sorted(groups)]


def backtest(book: RuleBook, series: dict[str, tuple[list[int], list[float]]], start: int, end: int) -> dict[str, str]:
    details: dict[str, str] = {}
    ids = [t.transition_id for t in replay(book, LEVELS, series, start, end, network=NETWORK, details=details)]
    return {i: details.get(i, "") for i in ids}


BACKTEST = backtest(BOOK, SERIES, START, END)
SENSORS = tuple(sorted({s for rule in BOOK.rules for s in rule.sensors()}))


@settings(max_examples=5, deadline=None)
@given(st.integers(1, 30), st.integers(0, 2**32))
def test_live_batches_decide_what_the_backtest_decides(times_per_batch: int, seed: int) -> None:
    groups = by_timestamp(readings_of(SERIES, SENSORS))
    shuffle = random.Random(seed).shuffle
    evaluator = RuleBookEvaluator(BOOK, LEVELS, watch_from_ms=START, network=NETWORK)
    live: dict[str, str] = {}
    for seq, first in enumerate(range(0, len(groups), times_per_batch)):
        batch = [r for group in groups[first : first + times_per_batch] for r in group]
        shuffle(batch)
        for t in evaluator.evaluate(TelemetryBatch(gateway="gw", seq=seq, readings=tuple(batch))):
            live[t.transition_id] = evaluator.to_warning(t).detail if t.kind == "forecast" else ""
    assert live == BACKTEST
    raises = [d for i, d in BACKTEST.items() if i.startswith("le_thuy_forecast") and "expected to reach" in d]
    assert len(raises) >= 3  # the floods of 7-8 and 16 October


def test_a_reading_after_its_hour_was_decided_counts_for_the_hours_after() -> None:
    """Kiến Giang's reading at T arrives after Lệ Thủy's of T: T is decided without it (it is
    late for T, the decision stands) and it joins the history the next hours read."""
    groups = by_timestamp(readings_of(SERIES, SENSORS))
    at = next(i for i, g in enumerate(groups) if i > 20 and len({r.sensor for r in g} - {"kien_giang.level"}) > 0
              and any(r.sensor == "kien_giang.level" for r in g))  # fmt: skip
    evaluator = RuleBookEvaluator(BOOK, LEVELS, watch_from_ms=START, network=NETWORK)
    for seq, group in enumerate(groups[:at]):
        evaluator.evaluate(TelemetryBatch(gateway="gw", seq=seq, readings=tuple(group)))
    carry = evaluator._groups["forecast/2"].carry[0]
    held_back = tuple(r for r in groups[at] if r.sensor == "kien_giang.level")
    evaluator.evaluate(
        TelemetryBatch(gateway="gw", seq=at, readings=tuple(r for r in groups[at] if r not in held_back))
    )
    hour = held_back[0].ts_ms - held_back[0].ts_ms % H
    assert int(carry[0]) == hour
    evaluator.evaluate(TelemetryBatch(gateway="gw", seq=at + 1, readings=held_back))
    assert int(carry[0]) == hour and evaluator.late_readings == 0
    history_ts, _ = evaluator._windows.history(evaluator._slot["kien_giang.level"])
    assert held_back[0].ts_ms in history_ts.tolist()


@settings(max_examples=4, deadline=None)
@given(st.sampled_from([0.0, 0.5, 1.0]), st.integers(1, 3), st.integers(0, 6))
def test_kernels_decide_what_the_reference_decides(margin: float, confirm_h: int, hold_h: int) -> None:
    rule = BOOK.rule("le_thuy_forecast")
    assert isinstance(rule, ForecastKind)
    rule = rule.model_copy(update={"margin_sigmas": margin, "confirm_h": confirm_h, "hold_h": hold_h})
    history = SERIES
    got, want = np.array([-1.0, 0.0]), np.array([-1.0, 0.0])
    fast = decide(rule, LEVELS, NETWORK, history, START, END - 1, got, kernels)
    slow = decide(rule, LEVELS, NETWORK, history, START, END - 1, want, reference)
    assert [t.transition_id for t, _ in fast] == [t.transition_id for t, _ in slow]
    assert [d for _, d in fast] == [d for _, d in slow]
    np.testing.assert_allclose([t.value for t, _ in fast], [t.value for t, _ in slow], rtol=1e-9)
    assert got.tolist() == want.tolist() and len(fast) >= 4


def test_judged_confirms_then_holds() -> None:
    rule = ForecastKind(name="f", station="le_thuy", kind="forecast", model=Path("m.yaml"), confirm_h=2, hold_h=2)
    own = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, math.nan])
    forecasts = np.array([[1.0], [3.0], [3.0], [1.5], [1.0], [1.0], [1.0], [1.0]])
    got = judged(rule, own, forecasts, np.array([0.1]))
    # peaks 1 3 3 1.5 1 1 1 nan -> lowest of 2: nan 1 3 1.5 1 1 1 nan -> highest of 3 known
    np.testing.assert_array_equal(got, [math.nan, 1.0, 3.0, 3.0, 3.0, 1.5, 1.0, 1.0])
    wider = rule.model_copy(update={"margin_sigmas": 2.0, "confirm_h": 1, "hold_h": 0})
    np.testing.assert_allclose(judged(wider, own, forecasts, np.array([0.1])), [1.2, 3.2, 3.2, 1.7, 1.2, 1.2, 1.2, 1.2])


def test_rule_file_errors_name_the_model_line(tmp_path: Path) -> None:
    model = (EXAMPLES / "forecast_le_thuy_2010_2012.yaml").read_text(encoding="utf-8")
    (tmp_path / "other.yaml").write_text(model.replace("station: le_thuy", "station: dong_hoi", 1), encoding="utf-8")
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: f\n    kind: forecast\n    station: le_thuy\n    model: other.yaml\n")
    with pytest.raises(RuleConfigError, match=r"rules.yaml:5 rules.0.model: .*forecasts 'dong_hoi'"):
        load_rulebook(rules, LEVELS, NETWORK)
    rules.write_text("rules:\n  - name: f\n    kind: forecast\n    station: le_thuy\n    model: missing.yaml\n")
    with pytest.raises(RuleConfigError, match=r"rules.yaml:5 rules.0.model: .*missing.yaml"):
        load_rulebook(rules, LEVELS, NETWORK)


# -- the live service ----------------------------------------------------------------------


@pytest.fixture
def desk(mosquitto: Mosquitto, unique_name: str) -> Iterator[WarningWire]:
    desk = WarningWire(mosquitto, unique_name, gateway="gw-forecast")
    yield desk
    desk.close()


def test_the_service_warns_with_the_expected_arrival_and_survives_a_restart(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB, influx_db: InfluxV1, desk: WarningWire, unique_name: str
) -> None:
    """6-8 October 2020 hour by hour; the service restarts at noon on the 7th, before the forecast raises."""
    start, end = 1_601_917_200_000, 1_602_111_600_000  # 2020-10-06 00:00 .. 2020-10-08 06:00 +07:00
    series = load_csv(CSV_FILES, start, end)
    expected = backtest(BOOK, series, start, end)
    forecast_raises = {i: d for i, d in expected.items() if i.startswith("le_thuy_forecast") and "->" in i}
    assert any("expected to reach BĐ1 (1.20 m) at about 2020-10-08" in d for d in forecast_raises.values())
    cfg = RulesServiceConfig.model_validate(
        {
            "broker": mosquitto.broker_config("rules", f"{unique_name}-rules"),
            "influx": service_influx(influxdb, "writer", influx_db.database),
            "rules_path": EXAMPLES / "le_thuy_forecast.yaml",  # its model: a path relative to the rule file
            "state_path": tmp_path / "state.sqlite",
            "tick_s": 0,
        }
    )
    groups = by_timestamp(readings_of(series, SENSORS))
    restart_at = 1_602_046_800_000  # 2020-10-07 12:00 +07:00
    phases = ([g for g in groups if g[0].ts_ms < restart_at], [g for g in groups if g[0].ts_ms >= restart_at])
    for phase in phases:
        service = RulesService(cfg).start()
        try:
            for group in phase:
                desk.send(*group)
            assert wait_until(lambda: service.consumer.handled_messages >= len(phase))  # noqa: B023 (called here)
        finally:
            service.stop()
    received = desk.wait_for_ids(set(expected))
    assert sorted(w.warning_id for w in received) == sorted(expected)  # each once, none missed
    forecasts = {w.warning_id: w for w in received if w.kind == "forecast"}
    assert {i: w.detail for i, w in forecasts.items()} == {i: expected[i] for i in forecasts}
    first = forecasts[min(forecasts, key=lambda i: forecasts[i].ts_ms)]
    assert first.level == 1 and first.thresholds_m == LEVELS.station("le_thuy", first.ts_ms).thresholds_m
    stored = {
        row[s["columns"].index("warning_id")]
        for s in influx_db.query("SELECT warning_id FROM warning")
        for row in s["values"]
    }
    assert stored == set(expected)


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True

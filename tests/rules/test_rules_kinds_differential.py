"""Every rule kind: numba kernels against the plain-Python reference, on random and adversarial series.

Each example draws a series with gaps, irregular sampling, repeated and out-of-order
(late) times, NaNs (bad quality) and values hovering at the thresholds, cuts it into
random pieces (as batches arrive live) and runs it through `RuleRunner` three ways:
reference whole, reference in pieces, kernel in pieces, and a fourth: the evaluator's
batched kernels (`rules.batch_kernels`, one call per kind, history kept per sensor) in
pieces. All must give the same transitions at the same times; the pieces check that the
carried state (what the live service persists) is complete. Several windowed rules on
one sensor, and several sensors in one batch, check the shared per-sensor history and
the batch's offsets against the reference rule by rule.
"""

import itertools
import math
from types import ModuleType
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules import kernels, reference_kinds
from rules.evaluator import RuleBookEvaluator
from rules.levels import SHIPPED_ALARM_LEVELS, load_alarm_levels
from rules.rulebook import RuleBook
from rules.runner import RuleRunner, Transition

LEVELS = load_alarm_levels(SHIPPED_ALARM_LEVELS)
T0 = 1_602_000_000_000
MIN = 60_000
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Steps between readings (minutes): regular, irregular, repeated time (0), late (< 0), gaps.
steps = st.one_of(st.sampled_from([0, 1, 5, 15, 30, 60, 60, 60, -30, -1, 360, 1440]), st.integers(-120, 600))


def series(values: st.SearchStrategy[float]) -> st.SearchStrategy[tuple[list[int], list[float], list[int]]]:
    @st.composite
    def build(draw: st.DrawFn) -> tuple[list[int], list[float], list[int]]:
        n = draw(st.integers(0, 60))
        t, ts = T0, []
        for _ in range(n):
            t += draw(steps) * MIN
            ts.append(t)
        vals = [draw(st.one_of(values, st.just(math.nan))) for _ in range(n)]
        cuts = sorted(draw(st.lists(st.integers(0, n), max_size=5)))
        return ts, vals, cuts

    return build()


def near(*points: float) -> st.SearchStrategy[float]:
    """Values at, just around and far from the thresholds."""
    exact = st.sampled_from([p + d for p in points for d in (-0.05, -0.01, 0.0, 0.01, 0.05)])
    return st.one_of(exact, st.floats(min(points) - 1, max(points) + 1, allow_nan=False))


def pieces(ts: list[int], vals: list[float], cuts: list[int]) -> list[tuple[list[int], list[float]]]:
    bounds = [0, *cuts, len(ts)]
    return [(ts[a:b], vals[a:b]) for a, b in itertools.pairwise(bounds)]


def run(rule: dict[str, Any], impl: ModuleType, chunks: list[tuple[list[int], list[float]]]) -> list[Transition]:
    book = RuleBook.model_validate({"rules": [rule]})
    runner = RuleRunner(book.rules[0], LEVELS, impl=impl, watch_from_ms=T0)
    out: list[Transition] = []
    for ts, vals in chunks:
        horizon = max(ts) if ts else T0
        out += runner.feed(ts, vals, horizon) if rule["kind"] == "staleness" else runner.feed(ts, vals)
    return out


def run_batched(
    rules: list[dict[str, Any]], chunks: list[dict[str, tuple[list[int], list[float]]]]
) -> list[Transition]:
    """The rules through `RuleBookEvaluator.feed` (batched kernels), one chunk of sensors' readings at a time."""
    evaluator = RuleBookEvaluator(RuleBook.model_validate({"rules": rules}), LEVELS, watch_from_ms=T0)
    out: list[Transition] = []
    for chunk in chunks:
        times = [t for ts, _ in chunk.values() for t in ts]
        out += evaluator.feed(chunk, max(times) if times else T0)
    return out


def key(transitions: list[Transition]) -> list[tuple[object, ...]]:
    """Comparable transitions (a NaN value, from a reading of bad quality, equals itself here)."""
    return [
        (t.rule, t.sensor, t.ts_ms, t.previous, t.state, None if math.isnan(t.value) else t.value) for t in transitions
    ]


def assert_same(rule: dict[str, Any], ts: list[int], vals: list[float], cuts: list[int]) -> None:
    whole = run(rule, reference_kinds, [(ts, vals)] if rule["kind"] != "staleness" else pieces(ts, vals, cuts))
    assert key(run(rule, reference_kinds, pieces(ts, vals, cuts))) == key(whole)
    assert key(run(rule, kernels, pieces(ts, vals, cuts))) == key(whole)
    assert key(run_batched([rule], [{rule["sensor"]: piece} for piece in pieces(ts, vals, cuts)])) == key(whole)


@SETTINGS
@given(series(near(1.2, 2.2, 2.7, 1.15, 2.15, 2.65)))
def test_level(data: tuple[list[int], list[float], list[int]]) -> None:
    rule = {"name": "r", "kind": "level", "station": "le_thuy", "sensor": "s.level", "levels": "le_thuy"}
    assert_same(rule, *data)


@SETTINGS
@given(series(near(2.2, 2.15)), st.sampled_from(["0min", "30min", "1h", "3h"]), st.sampled_from(["0min", "2h"]))
def test_duration(data: tuple[list[int], list[float], list[int]], fire: str, clear: str) -> None:
    rule = {
        "name": "r",
        "kind": "duration",
        "station": "x",
        "sensor": "s.level",
        "above_m": 2.2,
        "clear_below_m": 2.15,
        "fire_after": fire,
        "clear_after": clear,
        "severity": 2,
    }
    assert_same(rule, *data)


@SETTINGS
@given(series(near(1.0, 1.1, 1.3)), st.sampled_from(["1h", "3h"]), st.sampled_from([5.0, 10.0]))
def test_rate_of_rise(data: tuple[list[int], list[float], list[int]], window: str, rise: float) -> None:
    rule = {
        "name": "r",
        "kind": "rate_of_rise",
        "station": "x",
        "sensor": "s.level",
        "window": window,
        "min_span": "30min",
        "rise_cm_per_h": rise,
        "clear_cm_per_h": 0,
        "severity": 1,
    }
    assert_same(rule, *data)


rain = st.one_of(st.sampled_from([0.0, 0.1, 5.0, 15.0, 35.0, 50.0]), st.floats(0, 80, allow_nan=False))


@SETTINGS
@given(series(rain), st.sampled_from(["1h", "3h", "6h", "12h", "24h", "bulletin_day"]))
def test_rainfall(data: tuple[list[int], list[float], list[int]], window: str) -> None:
    categories = [{"name": "a", "over_mm": 15}, {"name": "b", "over_mm": 50}, {"name": "c", "over_mm": 100}]
    rule = {"name": "r", "kind": "rainfall", "station": "x", "sensor": "s.rain", "window": window}
    assert_same({**rule, "categories": categories}, *data)


@SETTINGS
@given(series(near(1.0)), st.sampled_from(["30min", "2h", "8h"]))
def test_staleness(data: tuple[list[int], list[float], list[int]], silence: str) -> None:
    rule = {"name": "r", "kind": "staleness", "station": "x", "sensor": "s.level", "max_silence": silence}
    assert_same(rule, *data)


SHARED = [
    {"name": "rain_1h", "kind": "rainfall", "station": "x", "sensor": "s.rain", "window": "1h",
     "categories": [{"name": "a", "over_mm": 5}, {"name": "b", "over_mm": 15}]},
    {"name": "rain_24h", "kind": "rainfall", "station": "x", "sensor": "s.rain", "window": "24h",
     "categories": [{"name": "a", "over_mm": 15}, {"name": "b", "over_mm": 50}, {"name": "c", "over_mm": 100}]},
    {"name": "rain_day", "kind": "rainfall", "station": "x", "sensor": "s.rain", "window": "bulletin_day",
     "categories": [{"name": "a", "over_mm": 15}, {"name": "b", "over_mm": 50}, {"name": "c", "over_mm": 100}]},
    {"name": "rain_silent", "kind": "staleness", "station": "x", "sensor": "s.rain", "max_silence": "2h"},
    {"name": "fast", "kind": "rate_of_rise", "station": "x", "sensor": "s.level", "window": "1h",
     "min_span": "30min", "rise_cm_per_h": 5, "clear_cm_per_h": 0, "severity": 1},
    {"name": "slow", "kind": "rate_of_rise", "station": "x", "sensor": "s.level", "window": "6h",
     "min_span": "1h", "rise_cm_per_h": 10, "clear_cm_per_h": 0, "severity": 2},
    {"name": "level", "kind": "level", "station": "le_thuy", "sensor": "s.level", "levels": "le_thuy"},
    {"name": "held", "kind": "duration", "station": "x", "sensor": "s.level", "above_m": 1.1,
     "clear_below_m": 1.05, "fire_after": "30min", "clear_after": "1h", "severity": 2},
    {"name": "other", "kind": "rate_of_rise", "station": "x", "sensor": "t.level", "window": "3h",
     "min_span": "1h", "rise_cm_per_h": 10, "clear_cm_per_h": 0, "severity": 1},
]  # fmt: skip


@SETTINGS
@given(series(rain), series(near(1.0, 1.1, 1.3)), series(near(1.0, 1.1, 1.3)))
def test_batched_rules_sharing_a_sensor_history(
    rain_data: tuple[list[int], list[float], list[int]],
    level_data: tuple[list[int], list[float], list[int]],
    other_data: tuple[list[int], list[float], list[int]],
) -> None:
    """Windows of 1 h to a bulletin day on one sensor's shared history, three sensors per batch:
    each rule gives what the reference gives it alone, fed the same pieces."""
    cuts = rain_data[2]  # the three series are cut at the same positions (clipped to their lengths)
    by_sensor = {"s.rain": rain_data, "s.level": level_data, "t.level": other_data}
    split = {sensor: pieces(ts, vals, [min(c, len(ts)) for c in cuts]) for sensor, (ts, vals, _) in by_sensor.items()}
    chunks = [{sensor: split[sensor][i] for sensor in by_sensor} for i in range(len(cuts) + 1)]
    batched = run_batched(SHARED, chunks)
    for rule in SHARED:
        runner = RuleRunner(
            RuleBook.model_validate({"rules": [rule]}).rules[0], LEVELS, impl=reference_kinds, watch_from_ms=T0
        )
        expected: list[Transition] = []
        for chunk in chunks:
            times = [t for ts, _ in chunk.values() for t in ts]
            ts, vals = chunk[rule["sensor"]]
            expected += runner.feed(ts, vals, max(times) if times else T0)
        assert key([t for t in batched if t.rule == rule["name"]]) == key(expected), rule["name"]


@st.composite
def merged(draw: st.DrawFn, n: int) -> tuple[list[int], list[int], list[float]]:
    ts, who, vals = [], [], []
    t = T0
    for _ in range(draw(st.integers(0, 60))):
        t += draw(steps) * MIN
        ts.append(t)
        who.append(draw(st.integers(0, n - 1)))
        vals.append(draw(st.one_of(near(2.0, 1.95), st.just(math.nan))))
    return ts, who, vals


@SETTINGS
@given(merged(3), st.integers(1, 3), st.sampled_from(["30min", "6h"]), st.integers(0, 60))
def test_k_of_n(data: tuple[list[int], list[int], list[float]], k: int, stale: str, cut: int) -> None:
    rule = {
        "name": "r",
        "kind": "k_of_n",
        "station": "x",
        "sensors": ["a.level", "b.level", "c.level"],
        "k": k,
        "above_m": 2.0,
        "clear_below_m": 1.95,
        "stale_after": stale,
        "severity": 2,
    }
    ts, who, vals = data
    results = []
    for impl, cuts in ((reference_kinds, [len(ts)]), (reference_kinds, [cut]), (kernels, [cut])):
        runner = RuleRunner(RuleBook.model_validate({"rules": [rule]}).rules[0], LEVELS, impl=impl)
        out: list[Transition] = []
        for a, b in zip([0, *cuts], [*cuts, len(ts)], strict=True):
            if a < b:
                out += runner.feed_merged(ts[a:b], who[a:b], vals[a:b])
        results.append(key(out))
    assert results[0] == results[1] == results[2]


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 2), st.integers(0, 3)), max_size=40))
def test_escalation(changes: list[tuple[int, int, int]]) -> None:
    book = RuleBook.model_validate(
        {
            "rules": [
                {"name": "base", "station": "x", "sensor": "a.level", "levels": "le_thuy"},
                {"name": "c1", "kind": "rainfall", "station": "x", "sensor": "a.rain", "window": "24h",
                 "categories": [{"name": "a", "over_mm": 1}, {"name": "b", "over_mm": 2}, {"name": "c", "over_mm": 3}]},
                {"name": "c2", "kind": "rainfall", "station": "x", "sensor": "a.rain", "window": "1h",
                 "categories": [{"name": "a", "over_mm": 1}]},
                {"name": "esc", "kind": "escalation", "station": "x", "base": "base", "min_base": 2,
                 "when": [{"rule": "c1", "at_least": 3}, {"rule": "c2", "at_least": 1}]},
            ]
        }
    )  # fmt: skip
    feed = [
        (T0 + t * MIN, source, Transition("in", "level", "x", "a.level", T0 + t * MIN, 0, state, 1.0))
        for t, source, state in sorted(changes, key=lambda c: c[0])
    ]
    outs = [RuleRunner(book.rules[3], LEVELS, impl=impl).feed_changes(feed) for impl in (reference_kinds, kernels)]
    assert key(outs[0]) == key(outs[1])


def test_escalation_example_raises_one_level_only_when_both_hazards_hold() -> None:
    """River above BĐ2 and 24 h rain very heavy: severity 3; either alone: the rule is quiet (0)."""
    params = np.array([2.0, 1.0, 3.0])
    carry = np.zeros(4)
    ts = np.arange(5, dtype=np.int64)
    source = np.array([0, 1, 0, 1, 0], dtype=np.int64)  # river 1, rain 3, river 2, rain 2, river 3
    states = np.array([1, 3, 2, 2, 3], dtype=np.int64)
    expected = [0, 0, 3, 0, 0]
    assert list(kernels.escalation(ts, source, states, params, carry.copy())) == expected
    assert reference_kinds.escalation(list(ts), list(source), list(states), list(params), list(carry)) == expected


def test_long_series_reading_by_reading_as_live() -> None:
    """Hundreds of single readings (the live case) through the runner's history buffer, which
    compacts and grows as the windows slide: the same as the reference given the whole series."""
    rng = np.random.default_rng(3)
    n = 1500
    ts = (T0 + np.cumsum(rng.choice([0, 5, 15, 60, -10, 180], n)) * MIN).tolist()
    level = (1.0 + np.cumsum(rng.normal(0, 0.05, n))).tolist()
    rain = np.where(rng.random(n) < 0.4, rng.gamma(1.0, 8.0, n), 0.0).tolist()
    for i in rng.choice(n, 40):
        level[i] = rain[i] = math.nan
    cats = [{"name": "a", "over_mm": 15}, {"name": "b", "over_mm": 50}, {"name": "c", "over_mm": 100}]
    rules = [
        ({"name": "r", "kind": "rainfall", "station": "x", "sensor": "s.rain", "window": "24h",
          "categories": cats}, rain),
        ({"name": "b", "kind": "rainfall", "station": "x", "sensor": "s.rain", "window": "bulletin_day",
          "categories": cats}, rain),
        ({"name": "q", "kind": "rate_of_rise", "station": "x", "sensor": "s.level", "window": "6h",
          "min_span": "1h", "rise_cm_per_h": 2, "clear_cm_per_h": 0, "severity": 1}, level),
    ]  # fmt: skip
    # The evaluator: all three at once, on the windows' shared buffer (which compacts and grows too).
    chunks = [{"s.rain": ([t], [r]), "s.level": ([t], [v])} for t, r, v in zip(ts, rain, level, strict=True)]
    batched = run_batched([rule for rule, _ in rules], chunks)
    for rule, vals in rules:
        whole = run(rule, reference_kinds, [(ts, vals)])
        one_by_one = run(rule, kernels, [([t], [v]) for t, v in zip(ts, vals, strict=True)])
        assert len(whole) > 10
        assert key(one_by_one) == key(whole)
        assert key([t for t in batched if t.rule == rule["name"]]) == key(whole)

"""The forecast kind: numba fit and forecast against the plain-Python reference; grid; model file."""

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rules.backtest import replay
from rules.forecast import kernels, reference
from rules.forecast.calibrate import calibrate
from rules.forecast.grid import HOUR_MS, hourly_rain, last_known, window_sums
from rules.forecast.model import load_forecast_model
from rules.forecast.rule import forecast_rule
from rules.levels import SHIPPED_ALARM_LEVELS, RuleConfigError, load_alarm_levels
from rules.network import load_network
from rules.rulebook import RuleBook

finite = st.floats(-5, 15, allow_nan=False, width=32)
maybe = st.one_of(finite, finite, finite, st.just(math.nan))


@st.composite
def problems(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    n = draw(st.integers(8, 40))
    m = draw(st.integers(0, 2))
    windows = draw(st.integers(0, 2))
    own = draw(hnp.arrays(np.float64, n, elements=maybe))
    upstream = draw(hnp.arrays(np.float64, (n, m), elements=maybe))
    rain = draw(hnp.arrays(np.float64, (n, windows), elements=maybe))
    if draw(st.booleans()):  # a target that follows the inputs, so fits are well posed
        target = 0.3 + 0.8 * own + (upstream.sum(axis=1) * 0.1 if m else 0)
        target = target + draw(hnp.arrays(np.float64, n, elements=st.floats(-0.125, 0.125, width=32)))
    else:
        target = draw(hnp.arrays(np.float64, n, elements=maybe))
    train = draw(hnp.arrays(np.bool_, n, elements=st.booleans()))
    return own, upstream, rain, target, train


@settings(max_examples=150, deadline=None)
@given(problems(), st.lists(st.integers(1, 4), min_size=1, max_size=3, unique=True), st.integers(0, 3))
def test_fit_kernel_equals_reference(problem: tuple[np.ndarray, ...], horizons: list[int], max_lag: int) -> None:
    own, upstream, rain, target, train = problem
    expected = reference.fit(
        own.tolist(), upstream.tolist(), rain.tolist(), target.tolist(), train.tolist(), horizons, max_lag
    )
    lags, windows, gains, sse, rows = kernels.fit(
        own, upstream, rain, target, train, np.array(horizons, dtype=np.int64), max_lag
    )
    for k, want in enumerate(expected):
        if want is None:
            assert math.isnan(sse[k])
            continue
        want_lags, want_w, want_gains, want_sse, want_rows = want
        assert sse[k] == pytest.approx(want_sse, rel=1e-7, abs=1e-7)
        if (lags[k].tolist(), int(windows[k])) == (want_lags, want_w):
            assert rows[k] == want_rows
            assert gains[k] == pytest.approx(want_gains, rel=1e-6, abs=1e-6)
        else:  # a near tie, decided by the last bits: both must fit equally well
            again = reference.fit_one(
                own.tolist(), upstream.tolist(), rain.tolist(), target.tolist(), train.tolist(),
                horizons[k], lags[k].tolist(), int(windows[k]),
            )  # fmt: skip
            assert again is not None and again[1] == pytest.approx(want_sse, rel=1e-7, abs=1e-7)


@settings(max_examples=150, deadline=None)
@given(problems(), st.integers(1, 3), st.data())
def test_forecast_kernel_equals_reference(problem: tuple[np.ndarray, ...], count: int, data: st.DataObject) -> None:
    own, upstream, rain, _, _ = problem
    m, windows = upstream.shape[1], rain.shape[1]
    p = 2 + m + (1 if windows else 0)
    lags = np.array(data.draw(st.lists(st.lists(st.integers(0, 5), min_size=m, max_size=m), min_size=count,
                                       max_size=count)), dtype=np.int64).reshape(count, m)  # fmt: skip
    w = np.array([data.draw(st.integers(0, windows - 1)) if windows else -1 for _ in range(count)], dtype=np.int64)
    gains = data.draw(hnp.arrays(np.float64, (count, p), elements=st.floats(-2, 2, width=32)))
    got, peaks = kernels.forecast(own, upstream, rain, lags, w, gains)
    want, want_peaks = reference.forecast(own.tolist(), upstream.tolist(), rain.tolist(), lags.tolist(), w.tolist(),
                                          gains.tolist())  # fmt: skip
    np.testing.assert_allclose(got, np.array(want).reshape(got.shape), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(peaks, want_peaks, rtol=1e-9, atol=1e-9)


def test_fit_recovers_a_known_lag_and_gains() -> None:
    """Lệ Thủy-like: the level in 2 h is 0.1 + 0.7 * now + 0.05 * upstream 5 h ago + 0.01 * 3 h rain."""
    rng = np.random.default_rng(7)
    n = 400
    upstream = 8 + np.cumsum(rng.normal(0, 0.3, n))
    rain_hourly = rng.exponential(2.0, n)
    rain3 = window_sums(rain_hourly, (1, 3))
    own = np.full(n, 1.0)
    for i in range(5, n - 2):
        own[i + 2] = 0.1 + 0.7 * own[i] + 0.05 * upstream[i - 5] + 0.01 * rain3[i, 1]
    lags, w, gains, sse, rows = kernels.fit(
        own, upstream[:, None], rain3, own, np.ones(n, dtype=bool), np.array([2], dtype=np.int64), 8
    )
    assert (lags[0, 0], w[0]) == (5, 1)
    assert gains[0] == pytest.approx([0.1, 0.7, 0.05, 0.01], abs=1e-6)
    assert sse[0] < 1e-12 and rows[0] == n - 2 - 5


def test_grid_never_reads_ahead() -> None:
    hours = np.arange(0, 10 * HOUR_MS, HOUR_MS, dtype=np.int64)
    series = ([HOUR_MS // 2, 3 * HOUR_MS, 9 * HOUR_MS + 1], [1.0, math.nan, 3.0])
    # 00:30 is known from 01:00 to 06:30 (6 h); the NaN at 03:00 is not a reading; 09:00+1 ms is after 09:00.
    got = last_known(series, hours, 6 * HOUR_MS)
    np.testing.assert_array_equal(got, [math.nan, 1, 1, 1, 1, 1, 1, math.nan, math.nan, math.nan])
    rain = hourly_rain(([HOUR_MS, HOUR_MS + 1, 2 * HOUR_MS + 5], [1.0, 2.0, 4.0]), hours)
    np.testing.assert_array_equal(rain[:4], [math.nan, 1.0, 2.0, 4.0])
    sums = window_sums(np.array([1.0, 2.0, math.nan, 4.0, 5.0]), (2,))
    np.testing.assert_array_equal(sums[:, 0], [math.nan, 3.0, math.nan, math.nan, 9.0])


def test_calibrated_model_round_trips_and_warns_ahead(tmp_path: Path) -> None:
    """A river that rises at Lệ Thủy 4 h after Kiến Giang: the fitted forecast warns before the crossing."""
    network = load_network()
    levels = load_alarm_levels(SHIPPED_ALARM_LEVELS)
    start = 1_600_000_000_000 - 1_600_000_000_000 % HOUR_MS
    hours = np.arange(0, 24 * 40)
    wave = np.where((hours % 240) < 120, np.sin(np.pi * (hours % 240) / 120), 0.0)
    kien_giang = 7 + 6 * wave
    le_thuy = 0.5 + 2.6 * np.concatenate((np.zeros(4), wave[:-4]))
    times = (start + HOUR_MS * hours).tolist()
    rain = np.random.default_rng(3).exponential(1.0, hours.shape[0])  # rain that tells nothing
    series = {
        "kien_giang.level": (times, kien_giang.tolist()),
        "le_thuy.level": (times, le_thuy.tolist()),
        "le_thuy.rain": (times, rain.tolist()),
    }
    end = start + HOUR_MS * int(hours[-1] + 1)
    model = calibrate(series, network, "le_thuy", "le_thuy", start, end, "synthetic", max_lag_h=8)
    assert model.horizons[0].upstream_lags_h == (3,)  # 1 h ahead: Kiến Giang 3 h ago arrives in 1 h
    assert model.horizons[0].sigma_m < 1e-6
    assert (
        model.rain_gauges == ("le_thuy.rain", "kien_giang.rain")
        and abs(model.horizons[0].rain_gain_m_per_mm or 0) < 1e-6
    )
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    assert load_forecast_model(path) == model
    details: dict[str, str] = {}
    book = RuleBook(rules=(forecast_rule(model, network),))
    raised = [
        t for t in replay(book, levels, series, start, end, network=network, details=details) if t.state > t.previous
    ]
    assert raised and raised[0].state >= 1
    crossing = next(t for t, v in zip(times, le_thuy, strict=True) if v >= levels.station("le_thuy", t).bd1_m)
    assert raised[0].ts_ms < crossing
    assert "expected to reach BĐ" in details[raised[0].transition_id]


def test_model_file_errors_name_file_line(tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(
        "station: le_thuy\nlevels: le_thuy\nupstream: [kien_giang]\nrain_gauges: []\nmax_age_h: 6\n"
        "calibrated_on: test\nhorizons:\n  - {horizon_h: 1, upstream_lags_h: [], rain_window_h: null,\n"
        "     intercept_m: 0, own_gain: 1, upstream_gains: [], rain_gain_m_per_mm: null, sigma_m: 0.1, rows: 3}\n",
        encoding="utf-8",
    )
    with pytest.raises(RuleConfigError, match=r"model.yaml:\S* .*one lag per upstream station"):
        load_forecast_model(path)


def test_option_selection_keeps_to_todays_false_alarms_then_prefers_lead() -> None:
    from rules.forecast.selection import Outcome, Setting, choose

    def setting(hold_h: int) -> Setting:
        return Setting(train_above_m=0.5, horizons_h=12, margin_sigmas=0.0, confirm_h=1, hold_h=hold_h)

    early_noisy = Outcome({1: [7.0], 2: [8.0], 3: [9.0]}, false_alarms=3)  # today: 2 in 2020
    early_missing = Outcome({1: [7.0], 2: [None], 3: [9.0]}, false_alarms=0)
    late = Outcome({1: [7.0], 2: [2.0], 3: [3.0]}, false_alarms=2)
    held_on = Outcome({1: [7.0], 2: [80.0], 3: [3.0]}, false_alarms=1)  # 80 h: held on, not a forecast
    later = Outcome({1: [1.0], 2: [2.0], 3: [6.0]}, false_alarms=0)
    judged = {setting(0): [(2020, early_noisy)], setting(12): [(2020, early_missing)],
              setting(24): [(2020, late)], setting(36): [(2020, held_on)], setting(48): [(2020, later)]}  # fmt: skip
    assert choose(judged) == setting(48)
    del judged[setting(48)]
    assert choose(judged) == setting(36)  # as many warned 6-72 h ahead as 24 h's (one), fewer false alarms
    assert choose({setting(0): [(2020, early_noisy)]}) is None


def test_early_rules_combine_best_lead_and_added_false_alarms() -> None:
    from rules.forecast.early_selection import combined
    from rules.forecast.selection import Outcome

    a = Outcome({1: [2.0, None], 2: [None], 3: []}, false_alarms=1)
    b = Outcome({1: [7.0, None], 2: [3.0], 3: []}, false_alarms=2)
    together = combined([a, b])
    assert together.leads_h == {1: [7.0, None], 2: [3.0], 3: []}
    assert together.false_alarms == 3


def test_early_rules_greedy_adds_lead_only_within_todays_false_alarms() -> None:
    from rules.forecast.early_selection import greedy
    from rules.forecast.selection import Outcome

    level = Outcome({1: [0.0, 0.0], 2: [0.0], 3: []}, false_alarms=0)
    judged = {
        2020: {
            "noisy": Outcome({1: [9.0, 9.0], 2: [9.0], 3: []}, false_alarms=3),  # today: 2 in 2020
            "bd1_first": Outcome({1: [8.0, None], 2: [None], 3: []}, false_alarms=1),
            "bd1_quiet": Outcome({1: [8.0, None], 2: [None], 3: []}, false_alarms=0),
            "bd2": Outcome({1: [None, None], 2: [12.0], 3: []}, false_alarms=1),
            "short": Outcome({1: [None, 3.0], 2: [None], 3: []}, false_alarms=0),  # < 6 h: adds nothing
        }
    }
    assert greedy({2020: [level]}, judged, budget=2) == ["bd2", "bd1_quiet"]  # BĐ2/3 breaks the tie, then quiet
    assert greedy({2020: [level]}, judged, budget=0) == ["bd1_quiet"]
    noisy_base = Outcome({1: [None, None], 2: [None], 3: []}, false_alarms=3)
    assert greedy({2020: [level, noisy_base]}, judged, budget=2) == []  # the base alone is over the budget


def test_shipped_early_rule_files_hold_the_selection_candidates() -> None:
    from rules.forecast.early_selection import EXAMPLES, candidates
    from rules.rulebook import load_rulebook

    pool = {rule["name"]: rule for rules in candidates().values() for rule in rules}
    for name in ("le_thuy_early_chosen_2010_2012.yaml", "le_thuy_early_chosen_2020.yaml"):
        book = load_rulebook(EXAMPLES / name)
        picked = [rule for rule in book.rules if rule.kind not in ("level", "forecast")]
        assert picked, name
        for rule in picked:
            assert rule.station == "le_thuy"
            assert rule.model_dump(exclude_defaults=True) == type(rule).model_validate(pool[rule.name]).model_dump(
                exclude_defaults=True
            )


def test_catchment_rain_what_if_counts_rain_by_its_hour_and_holds_while_the_sum_stays() -> None:
    from rules.forecast.rain_what_if import what_if
    from rules.forecast.selection import HOUR_MS, year_ms

    start = year_ms(2020)
    hours = range(0, 60)
    level = [2.3 if 30 <= h <= 40 else 1.0 for h in hours]  # crosses BĐ1 and BĐ2 (1.2, 2.2 m) at hour 30
    rain = [60.0 if h in (10, 11) else 0.0 for h in hours]  # the mean of the two gauges: 60 mm an hour
    series = {
        "le_thuy.level": ([start + h * HOUR_MS for h in hours], level),
        # a reading at HH:30 holds the rain of the half hour before: it counts from the next hour on
        "le_thuy.rain": ([start + h * HOUR_MS - HOUR_MS // 2 for h in hours], rain),
        "kien_giang.rain": ([start + h * HOUR_MS - HOUR_MS // 2 for h in hours], rain),
    }
    outcomes = what_if(series, 2020)
    # 120 mm by hour 11 (>= 100), held by the 24 h sum until hour 34: on at the crossing, 19 h ahead
    assert outcomes["catchment_bd2_24h_100mm_wetNone_0h"].leads_h[2] == [19.0]
    # 150 mm is never reached: a miss, and no false alarm
    assert outcomes["catchment_bd2_24h_150mm_wetNone_0h"].leads_h[2] == [None]
    # wet only from 0.9 m: the level is 1.0 m, so the same lead
    assert outcomes["catchment_bd2_24h_100mm_wet0.9_0h"].leads_h[2] == [19.0]
    # a 72 h sum of 120 mm stays past the flood (hour 82 is after the record): one spell, it reached BĐ2
    assert outcomes["catchment_bd2_72h_100mm_wetNone_0h"].false_alarms == 0

"""The forecast kind as a rule: the alarm-level rule run hour by hour on the forecast, with its message.

One implementation for the live service and the backtest: `rules.evaluator` keeps each
forecast rule's inputs (its sensors' good readings, in the per-sensor windows, as far
back as `history_ms` says) and calls `decide` after each batch; the backtest replays the
record through the same evaluator, day by day.

When an hour is decided: hour T (UTC, on the hour) is decided once a reading at or after
T of one of the rule's sensors has been fed, after the whole batch. The forecast made at
T reads only readings up to T (`rules.forecast.grid`). A reading that arrives after its
hour was decided is late for that hour (the warning already sent stands) and counts for
the hours after it; a record fed in time order (the backtest, a live feed in order) is
decided exactly as if the whole record were on the grid at once.

What is judged at hour T:
1. each horizon's forecast (`rules.forecast.kernels.forecast`, meaning in
   `rules.forecast.reference`), raised by `margin_sigmas` × that horizon's residual
   spread from the calibration;
2. the peak: the highest of the level known at T and those forecasts (NaN when all are
   unknown);
3. confirmed: the lowest peak of the last `confirm_h` hours (NaN if one is unknown), so
   a raise needs the forecast to hold for that long;
4. held: the highest confirmed value of the last `hold_h` + 1 hours (unknown ones left
   out), so a warning stays on for `hold_h` hours after the forecast falls back;
5. the alarm-level kernel (`rules.kernels.level`, hysteresis and versioned levels as a
   level rule) on that value.

A raise says when the level is expected at the level: "expected to reach BĐ2 (2.20 m)
at about 2020-10-08 05:00 (± 1.5 h)", in the station's zone, at the first horizon whose
(raised) forecast reaches it; the spread is that horizon's residual spread over the
forecast's rise per hour there.
"""

import itertools
import math
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from types import ModuleType

import numpy as np
import numpy.typing as npt

from rules import kernels as rule_kernels
from rules import reference_kinds
from rules.forecast import kernels, reference
from rules.forecast.grid import HOUR_MS, HourlyGrid, hour_floor, hourly_grid
from rules.forecast.model import ForecastInputs, ForecastModel, forecast_inputs
from rules.levels import AlarmLevelTable
from rules.network import RiverNetwork
from rules.rulebook import ForecastKind
from rules.runner import Transition, params_of
from rules.series import Series

F64 = npt.NDArray[np.float64]


def forecast_rule(model: ForecastModel, network: RiverNetwork, name: str | None = None) -> ForecastKind:
    """A forecast rule on a loaded model with the default options (`backtest --forecast MODEL`)."""
    rule = ForecastKind(name=name or f"{model.station}_forecast", station=model.station, kind="forecast",
                        model=Path(f"<{model.calibrated_on}>"))  # fmt: skip
    return rule.model_copy(update={"inputs": forecast_inputs(model, network)})


def lookback_h(rule: ForecastKind) -> int:
    """Hours of grid before the first hour decided that the hours decided read."""
    model = rule.loaded.model
    lag = max((max(fit.upstream_lags_h, default=0) for fit in model.horizons), default=0)
    return lag + max(model.windows_h, default=0) + rule.confirm_h + rule.hold_h + 1


def history_ms(rule: ForecastKind) -> int:
    """How far back the rule's sensors' readings must be kept (the grid's look-back and a level's age)."""
    return round((lookback_h(rule) + rule.loaded.model.max_age_h + 1) * HOUR_MS)


@dataclass(frozen=True)
class _Arrays:
    lags: npt.NDArray[np.int64]
    windows: npt.NDArray[np.int64]
    gains: F64
    sigmas: F64


def _arrays(model: ForecastModel, grid: HourlyGrid) -> _Arrays:
    index = {w: i for i, w in enumerate(grid.windows_h)}
    count = len(model.horizons)
    return _Arrays(
        lags=np.array([f.upstream_lags_h for f in model.horizons], dtype=np.int64).reshape(count, -1),
        windows=np.array([index[f.rain_window_h] if f.rain_window_h else -1 for f in model.horizons], dtype=np.int64),
        gains=np.array([f.gains for f in model.horizons], dtype=np.float64),
        sigmas=np.array([f.sigma_m for f in model.horizons], dtype=np.float64),
    )


def _forecasts(grid: HourlyGrid, arrays: _Arrays, impl: ModuleType) -> F64:
    if impl is reference:
        rows, _ = reference.forecast(
            grid.own.tolist(), grid.upstream.tolist(), grid.rain.tolist(), arrays.lags.tolist(),
            arrays.windows.tolist(), arrays.gains.tolist(),
        )  # fmt: skip
        return np.array(rows, dtype=np.float64).reshape(grid.hours, arrays.gains.shape[0])
    forecasts, _ = kernels.forecast(grid.own, grid.upstream, grid.rain, arrays.lags, arrays.windows, arrays.gains)
    return np.asarray(forecasts, dtype=np.float64)


def judged(rule: ForecastKind, own: F64, forecasts: F64, sigmas: F64) -> F64:
    """Steps 2-4 of the module's text, per hour of the grid."""
    raised = forecasts + rule.margin_sigmas * sigmas[None, :]
    both = np.concatenate((own[:, None], raised), axis=1)
    known = ~np.isnan(both)
    peak = np.where(known.any(axis=1), np.max(np.where(known, both, -np.inf), axis=1), np.nan)
    n = peak.shape[0]
    confirmed = np.full(n, np.nan)
    for i in range(rule.confirm_h - 1, n):
        confirmed[i] = peak[i - rule.confirm_h + 1 : i + 1].min()  # NaN if one is NaN
    held = np.full(n, np.nan)
    for i in range(n):
        window = confirmed[max(0, i - rule.hold_h) : i + 1]
        window = window[~np.isnan(window)]
        if window.shape[0]:
            held[i] = window.max()
    return held


def decide(
    rule: ForecastKind,
    levels: AlarmLevelTable,
    network: RiverNetwork,
    history: Series,
    first_ms: int,
    through_ms: int,
    carry: F64,
    impl: ModuleType = kernels,
) -> list[tuple[Transition, str]]:
    """Decide the hours after the last one decided (`carry[0]`; none yet: from `first_ms`'s hour)
    up to `through_ms`'s, on `history` (every input sensor's readings up to now, the module's
    text says how far back). `carry` = [last hour decided, state], updated. `impl`: `kernels`
    (numba) or `reference` (plain Python, `reference_kinds.level`): the same transitions.
    Returns each transition and what its warning says."""
    inputs = rule.loaded
    model = inputs.model
    last = int(carry[0])
    start = hour_floor(first_ms) if last < 0 else last + HOUR_MS
    stop = hour_floor(through_ms)
    if stop < start:
        return []
    back = lookback_h(rule)
    series = {sensor: history.get(sensor, ([], [])) for sensor in inputs.sensors}  # a silent gauge: unknown rain
    grid = hourly_grid(series, network, model.station, start - back * HOUR_MS, stop + 1, model.windows_h,
                       model.max_age_h)  # fmt: skip
    arrays = _arrays(model, grid)
    forecasts = _forecasts(grid, arrays, impl)
    value = judged(rule, grid.own, forecasts, arrays.sigmas)
    times = grid.times_ms()
    previous = int(carry[1])
    states = np.empty(grid.hours - back, dtype=np.int8)
    cuts = [back, *(back + np.searchsorted(times[back:], levels.changes_ms())).tolist(), grid.hours]
    for a, b in itertools.pairwise(cuts):
        if b > a:
            params = params_of(rule, levels, int(times[a]))
            states[a - back : b - back] = _level(impl, times[a:b], value[a:b], params, carry)
    out = []
    zone = network.station(model.station).zone
    for j in np.flatnonzero(states != np.concatenate(([previous], states[:-1]))).tolist():
        i = back + j
        state = int(states[j])
        before = previous if j == 0 else int(states[j - 1])
        t = Transition(rule.name, "forecast", rule.station, inputs.sensor, int(times[i]), before, state,
                       float(value[i]))  # fmt: skip
        out.append((t, _say(rule, inputs, levels, grid.own[i], forecasts[i], arrays.sigmas, t, zone)))
    return out


def _level(impl: ModuleType, ts: npt.NDArray[np.int64], vals: F64, params: F64, carry: F64) -> npt.NDArray[np.int8]:
    if impl is reference:
        as_list = carry.tolist()
        states = reference_kinds.level(ts.tolist(), vals.tolist(), 0, params.tolist(), as_list)
        carry[:] = as_list
        return np.asarray(states, dtype=np.int8)
    return np.asarray(rule_kernels.level(ts, vals, 0, params, carry), dtype=np.int8)


def _say(
    rule: ForecastKind,
    inputs: ForecastInputs,
    levels: AlarmLevelTable,
    now: float,
    forecasts: F64,
    sigmas: F64,
    t: Transition,
    zone: tzinfo,
) -> str:
    model = inputs.model
    last_h = model.horizons[-1].horizon_h
    if t.state < t.previous:
        return f"forecast peak {t.value:.2f} m: below BĐ{t.previous} within {last_h} h"
    threshold = levels.station(model.levels, t.ts_ms).thresholds_m[t.state - 1]
    if not math.isnan(now) and now >= threshold:
        return f"at BĐ{t.state} ({threshold:.2f} m) now: {now:.2f} m"
    before = now
    for k, fit in enumerate(model.horizons):
        value = float(forecasts[k])
        if not math.isnan(value) and value + rule.margin_sigmas * sigmas[k] >= threshold:
            slope = (value - before) / (fit.horizon_h - (model.horizons[k - 1].horizon_h if k else 0))
            spread = fit.sigma_m / slope if not math.isnan(slope) and slope > 0.01 else float(fit.horizon_h)
            spread = min(round(spread * 2) / 2, float(last_h))
            when = datetime.fromtimestamp((t.ts_ms + fit.horizon_h * HOUR_MS) / 1000, zone)
            margin = (
                f" + {rule.margin_sigmas:g} σ ({rule.margin_sigmas * fit.sigma_m:.2f} m)" if rule.margin_sigmas else ""
            )
            return (
                f"expected to reach BĐ{t.state} ({threshold:.2f} m) at about {when:%Y-%m-%d %H:%M} (± {spread:g} h); "
                f"forecast {value:.2f} m{margin} in {fit.horizon_h} h"
            )
        before = value
    return f"forecast {t.value:.2f} m within {last_h} h (held)"

"""The forecast kind over a record: the alarm-level rule run on the forecast peaks, with its message.

At each hour the model forecasts the station's level 1..12 h ahead
(`rules.forecast.kernels.forecast`); the peak of the level known now and the forecasts
goes through the alarm-level rule (`rules.kernels.level`, the same kernel and hysteresis
as a level rule, with the alarm levels in effect at each hour). A raise says when the
level is expected to reach the level: "expected to reach BĐ2 (2.20 m) at about
2020-10-08 05:00 (± 1.5 h)", the spread being the calibration's residual spread at that
horizon divided by the forecast's rate of rise there.

Not yet in the live service: the backtest runs it (`--forecast MODEL`).
"""

import itertools
import math
from dataclasses import dataclass
from datetime import datetime, tzinfo

import numpy as np

from rules import kernels as rule_kernels
from rules.forecast import kernels
from rules.forecast.grid import HourlyGrid, hourly_grid
from rules.forecast.model import ForecastModel
from rules.levels import AlarmLevelTable
from rules.network import RiverNetwork
from rules.rulebook import LevelKind
from rules.runner import Transition, params_of
from rules.series import Series

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class ForecastRun:
    transitions: list[Transition]
    details: dict[str, str]  # transition_id -> what the warning says
    grid: HourlyGrid
    forecasts: np.ndarray  # (hours, horizons)
    peaks: np.ndarray


def rule_name(model: ForecastModel) -> str:
    return f"{model.station}_forecast"


def run_forecast(
    model: ForecastModel,
    levels: AlarmLevelTable,
    network: RiverNetwork,
    series: Series,
    start_ms: int,
    end_ms: int,
) -> ForecastRun:
    """The forecast rule's transitions over [start_ms, end_ms), and what each says."""
    entry = network.station(model.station)
    upstream = tuple(link.station for link in entry.upstream)
    if upstream != model.upstream:
        raise ValueError(
            f"the model of {model.station!r} was fitted with upstream stations {list(model.upstream)}, "
            f"but the river network lists {list(upstream)}: calibrate it again"
        )
    grid = hourly_grid(series, network, model.station, start_ms, end_ms, model.windows_h, model.max_age_h)
    if model.windows_h and not grid.windows_h:
        raise ValueError(
            f"the model of {model.station!r} uses the rain of {list(model.rain_gauges)}, none of which is in the record"
        )
    window_index = {w: i for i, w in enumerate(grid.windows_h)}
    lags = np.array([fit.upstream_lags_h for fit in model.horizons], dtype=np.int64).reshape(len(model.horizons), -1)
    windows = np.array(
        [window_index[fit.rain_window_h] if fit.rain_window_h is not None else -1 for fit in model.horizons],
        dtype=np.int64,
    )
    gains = np.array([fit.gains for fit in model.horizons], dtype=np.float64)
    forecasts, peaks = kernels.forecast(grid.own, grid.upstream, grid.rain, lags, windows, gains)
    times = grid.times_ms()
    level_rule = LevelKind(
        name=rule_name(model), station=model.station, sensor=entry.level_sensor or model.station, levels=model.levels
    )
    states = np.empty(times.shape[0], dtype=np.int8)
    carry = np.array([-1.0, 0.0])
    cuts = [0, *np.searchsorted(times, levels.changes_ms()).tolist(), times.shape[0]]
    for a, b in itertools.pairwise(cuts):
        if b > a:
            params = params_of(level_rule, levels, int(times[a]))
            states[a:b] = rule_kernels.level(times[a:b], peaks[a:b], 0, params, carry)
    transitions, details = [], {}
    previous = 0
    zone = entry.zone
    for i in np.flatnonzero(states != np.concatenate(([0], states[:-1]))).tolist():
        state = int(states[i])
        t = Transition(level_rule.name, "forecast", model.station, level_rule.sensor, int(times[i]), previous,
                       state, float(peaks[i]))  # fmt: skip
        previous = state
        transitions.append(t)
        details[t.transition_id] = _say(model, levels, grid, forecasts[i], i, state, t, zone)
    return ForecastRun(transitions, details, grid, forecasts, peaks)


def _say(
    model: ForecastModel,
    levels: AlarmLevelTable,
    grid: HourlyGrid,
    forecasts: np.ndarray,
    i: int,
    state: int,
    t: Transition,
    zone: tzinfo,
) -> str:
    if state < t.previous:
        return f"forecast peak {t.value:.2f} m: below BĐ{t.previous} within {model.horizons[-1].horizon_h} h"
    threshold = levels.station(model.levels, t.ts_ms).thresholds_m[state - 1]
    now = grid.own[i]
    if not math.isnan(now) and now >= threshold:
        return f"at BĐ{state} ({threshold:.2f} m) now: {now:.2f} m"
    before = now
    for k, fit in enumerate(model.horizons):
        value = forecasts[k]
        if not math.isnan(value) and value >= threshold:
            slope = (value - before) / (fit.horizon_h - (model.horizons[k - 1].horizon_h if k else 0))
            spread = fit.sigma_m / slope if not math.isnan(slope) and slope > 0.01 else float(fit.horizon_h)
            spread = min(round(spread * 2) / 2, float(model.horizons[-1].horizon_h))
            when = datetime.fromtimestamp((t.ts_ms + fit.horizon_h * HOUR_MS) / 1000, zone)
            return (
                f"expected to reach BĐ{state} ({threshold:.2f} m) at about {when:%Y-%m-%d %H:%M} (± {spread:g} h); "
                f"forecast {value:.2f} m in {fit.horizon_h} h"
            )
        before = value
    return f"forecast peak {t.value:.2f} m"

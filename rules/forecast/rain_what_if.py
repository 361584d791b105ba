"""Would a catchment-rain kind help? A what-if for a kind that does not exist, before building it.

    .venv/bin/python -m rules.forecast.rain_what_if      # about a minute, one core

The `rainfall` kind sums one gauge over at most 24 h and is not aimed at an alarm level
(an `escalation` on it starts at BĐ2). The kind this asks about would warn BĐk when the
rain of the station's catchment (the mean of its gauges in `network.yaml`, hour by hour,
a silent gauge left out) summed over the last `window_h` hours reaches `over_mm[k]`,
optionally only while the station's level is at least `wet_above_m` (antecedent
wetness), and hold the warning `hold_h` hours after that stops being true. Here it is
computed in plain Python on the hourly grid (only rain reported by hour T counts at T,
the level is the last reading at or before T), one candidate per BĐk, window, threshold,
wetness and hold, and put beside the candidates of `rules.forecast.early_selection` in
the same selection: chosen on the calibration years only, scored on the others. If it
helped out of sample it would be worth a kind (reference, numba kernel, differential
tests); the figures it prints say whether.
"""

import itertools
import math
import warnings

import numpy as np
import numpy.typing as npt

from rules.forecast.early_selection import BD_M, _outcome, candidates, judge_candidates, select
from rules.forecast.selection import GAUGE, HOUR_MS, NETWORK, STATION, Outcome, record, year_ms
from rules.runner import Transition
from rules.series import Series

WINDOWS_H = (24, 48, 72)
OVER_MM = {1: (30.0, 50.0, 75.0, 100.0), 2: (75.0, 100.0, 125.0, 150.0), 3: (125.0, 150.0, 200.0, 250.0)}
WET_ABOVE_M = (None, 0.6, 0.9)
HOLDS_H = (0, 12, 24)
F64 = npt.NDArray[np.float64]


def hourly(series: Series, sensor: str, start: int, hours: int, last: bool) -> F64:
    """Per hour ending at start + i h: the last reading (levels) or the sum of readings (rain) in (T - 1 h, T]."""
    out = np.full(hours, np.nan)
    ts, vals = series.get(sensor, ([], []))
    for t, v in zip(ts, vals, strict=True):
        i = math.ceil((t - start) / HOUR_MS)
        if 0 <= i < hours and not math.isnan(v):
            out[i] = v if last or math.isnan(out[i]) else out[i] + v
    if last:  # carry the last level forward, at most 6 h
        seen = -(10**9)
        for i in range(hours):
            if not math.isnan(out[i]):
                seen = i
            elif i - seen <= 6:
                out[i] = out[seen]
    return out


def what_if(series: Series, year: int) -> dict[str, Outcome]:
    start, end = year_ms(year), year_ms(year + 1)
    hours = (end - start) // HOUR_MS
    gauges = NETWORK.station(STATION).rain_gauges
    with warnings.catch_warnings():  # an hour no gauge reported: NaN, no rain counted
        warnings.simplefilter("ignore", RuntimeWarning)
        rain = np.nan_to_num(np.nanmean(np.vstack([hourly(series, g, start, hours, False) for g in gauges]), axis=0))
    level = hourly(series, GAUGE, start, hours, True)
    out: dict[str, Outcome] = {}
    for k, window, wet, hold in itertools.product((1, 2, 3), WINDOWS_H, WET_ABOVE_M, HOLDS_H):
        summed = np.convolve(rain, np.ones(window))[:hours]
        gate = np.ones(hours, dtype=bool) if wet is None else np.nan_to_num(level, nan=-1.0) >= wet
        for over in OVER_MM[k]:
            name = f"catchment_bd{k}_{window}h_{over:g}mm_wet{wet}_{hold}h"
            on = (summed >= over) & gate
            held = np.convolve(on.astype(np.int64), np.ones(hold + 1, dtype=np.int64))[:hours] > 0
            out[name] = _outcome(series, _transitions(name, held, k, start), start, end)
    return out


def _transitions(name: str, on: npt.NDArray[np.bool_], k: int, start: int) -> list[Transition]:
    changes = np.flatnonzero(np.diff(np.concatenate(([False], on)).astype(np.int8)))
    return [
        Transition(name, "catchment_rain", STATION, "catchment", start + int(i) * HOUR_MS,
                   0 if on[i] else k, k if on[i] else 0, math.nan)
        for i in changes
    ]  # fmt: skip


def main() -> None:
    series = {y: record((y,)) for y in (2010, 2012, 2020)}
    pool = candidates()
    judged = {y: judge_candidates(series[y], y, pool) | what_if(series[y], y) for y in series}
    print(f"with the catchment-rain what-if ({len(judged[2020]) - len(pool)} candidates, BĐ levels {BD_M}):")
    select(series, judged, None)


if __name__ == "__main__":
    main()

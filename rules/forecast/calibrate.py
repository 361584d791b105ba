"""`floodwatch-rules calibrate`: fit a station's forecast on the record, write the model file.

The fit is `rules.forecast.kernels.fit` (numba; `impl=reference` runs the plain-Python
meaning instead, for the differential test and the benchmark) over the station's hourly
grid: every lag of every upstream station (0..max_lag_h) and every rain window, gains by
least squares, per horizon.
"""

import math
from collections.abc import Sequence
from types import ModuleType

import numpy as np

from rules.forecast import kernels, reference
from rules.forecast.grid import HourlyGrid, hourly_grid
from rules.forecast.model import ForecastModel, HorizonFit
from rules.network import RiverNetwork
from rules.series import Series

HORIZONS_H = tuple(range(1, 13))
WINDOWS_H = (3, 6, 12, 24, 48)
MAX_LAG_H = 24
MAX_AGE_H = 6.0

FitResult = tuple[list[list[int]], list[int], list[list[float]], list[float], list[int]]


def fit_grid(
    grid: HourlyGrid,
    horizons: Sequence[int],
    max_lag_h: int,
    impl: ModuleType = kernels,
    train_above_m: float | None = None,
) -> FitResult:
    """Per horizon: lags, rain window index (-1: none), gains, SSE (NaN: not fitted), rows.

    `train_above_m`: fit only on the hours whose observed level is at least this (a flood
    forecast fitted on floods, not on the dry season's low water)."""
    train = ~np.isnan(grid.target)
    if train_above_m is not None:
        train &= np.nan_to_num(grid.target, nan=-np.inf) >= train_above_m
    if impl is reference:
        results = reference.fit(
            grid.own.tolist(),
            grid.upstream.tolist(),
            grid.rain.tolist(),
            grid.target.tolist(),
            train.tolist(),
            list(horizons),
            max_lag_h,
        )
        out: FitResult = ([], [], [], [], [])
        p = 2 + grid.upstream.shape[1] + (1 if grid.rain.shape[1] else 0)
        for result in results:
            lags, w, gains, sse, rows = (
                result if result else ([0] * grid.upstream.shape[1], -1, [math.nan] * p, math.nan, 0)
            )
            for column, value in zip(out, (lags, w, gains, sse, rows), strict=True):
                column.append(value)  # type: ignore[attr-defined]
        return out
    lags, w, gains, sse, rows = impl.fit(
        grid.own, grid.upstream, grid.rain, grid.target, train, np.asarray(horizons, dtype=np.int64), max_lag_h
    )
    return lags.tolist(), w.tolist(), gains.tolist(), sse.tolist(), rows.tolist()


def calibrate(
    series: Series,
    network: RiverNetwork,
    station: str,
    levels_station: str,
    start_ms: int,
    end_ms: int,
    calibrated_on: str,
    horizons: Sequence[int] = HORIZONS_H,
    windows_h: Sequence[int] = WINDOWS_H,
    max_lag_h: int = MAX_LAG_H,
    impl: ModuleType = kernels,
    train_above_m: float | None = None,
) -> ForecastModel:
    """The station's model fitted on `series` between `start_ms` and `end_ms`."""
    grid = hourly_grid(series, network, station, start_ms, end_ms, windows_h, MAX_AGE_H)
    lags, windows, gains, sses, rows = fit_grid(grid, horizons, max_lag_h, impl, train_above_m)
    fits = []
    p = 2 + grid.upstream.shape[1] + (1 if grid.rain.shape[1] else 0)
    for k, h in enumerate(horizons):
        if math.isnan(sses[k]):
            raise ValueError(
                f"cannot fit the {h} h forecast of {station!r}: too few hours with every input known "
                f"({rows[k]} rows); give a longer record or check the network's sensors"
            )
        g = gains[k]
        rain = windows[k] >= 0
        fits.append(
            HorizonFit(
                horizon_h=h,
                upstream_lags_h=tuple(lags[k]),
                rain_window_h=grid.windows_h[windows[k]] if rain else None,
                intercept_m=g[0],
                own_gain=g[1],
                upstream_gains=tuple(g[2 : 2 + len(lags[k])]),
                rain_gain_m_per_mm=g[-1] if rain else None,
                sigma_m=math.sqrt(sses[k] / max(rows[k] - p, 1)),
                rows=rows[k],
            )
        )
    entry = network.station(station)
    return ForecastModel(
        station=station,
        levels=levels_station,
        upstream=grid.upstream_stations,
        rain_gauges=entry.rain_gauges if grid.windows_h else (),
        max_age_h=MAX_AGE_H,
        train_above_m=train_above_m,
        calibrated_on=calibrated_on,
        horizons=tuple(fits),
    )

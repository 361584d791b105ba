"""Readings on an hourly grid: what the forecast's fit and forecast read (no future leaks in).

The gauges read at odd times (four times a day in normal weather, hourly in a flood), so
the model works on the hours. At hour T (UTC, on the hour):

- a level is the last good reading at or before T, if it is at most `max_age_h` old
  (older: unknown, NaN). Only readings up to T are used: a forecast made at T never
  sees a reading after T.
- the target (what the fit compares a forecast with) is a reading in the hour up to T.
- the catchment's rain (if one of its gauges is in the record at all) is the mean, over
  its gauges that reported, of each gauge's rain in the hour up to T (a reading is the
  rain since the one before); the rain over a window of W hours is the sum of the last
  W hours (unknown if one hour is unknown).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rules.network import RiverNetwork
from rules.series import Series

HOUR_MS = 3_600_000
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class HourlyGrid:
    """A station's inputs on the hours start_ms, start_ms + 1 h, ...; see the module's text."""

    start_ms: int
    own: F64  # (n,)
    target: F64  # (n,)
    upstream: F64  # (n, upstream stations)
    rain: F64  # (n, windows)
    upstream_stations: tuple[str, ...]
    windows_h: tuple[int, ...]

    @property
    def hours(self) -> int:
        return int(self.own.shape[0])

    def times_ms(self) -> npt.NDArray[np.int64]:
        return self.start_ms + HOUR_MS * np.arange(self.hours, dtype=np.int64)


def hour_floor(ts_ms: int) -> int:
    return ts_ms - ts_ms % HOUR_MS


def _good(series: tuple[Sequence[int], Sequence[float]] | None) -> tuple[npt.NDArray[np.int64], F64]:
    """A sensor's good readings as arrays (none: empty)."""
    if series is None:
        return np.empty(0, dtype=np.int64), np.empty(0)
    ts, vals = np.asarray(series[0], dtype=np.int64), np.asarray(series[1], dtype=np.float64)
    good = ~np.isnan(vals)
    return ts[good], vals[good]


def last_known(
    series: tuple[Sequence[int], Sequence[float]] | None, hours_ms: npt.NDArray[np.int64], max_age_ms: int
) -> F64:
    """At each hour, the last good reading at or before it, if at most `max_age_ms` old; else NaN."""
    out = np.full(hours_ms.shape[0], np.nan)
    ts, vals = _good(series)
    if ts.shape[0] == 0:
        return out
    at = np.searchsorted(ts, hours_ms, side="right") - 1
    found = at >= 0
    fresh = found.copy()
    fresh[found] = hours_ms[found] - ts[at[found]] <= max_age_ms
    out[fresh] = vals[at[fresh]]
    return out


def hourly_rain(series: tuple[Sequence[int], Sequence[float]] | None, hours_ms: npt.NDArray[np.int64]) -> F64:
    """Each hour's rain (the readings in (T - 1 h, T]); NaN for an hour without a good reading."""
    out = np.full(hours_ms.shape[0], np.nan)
    ts, vals = _good(series)
    slot = (ts - hours_ms[0] + HOUR_MS - 1) // HOUR_MS  # the hour T with T - 1 h < ts <= T
    inside = (slot >= 0) & (slot < hours_ms.shape[0])
    totals = np.zeros(hours_ms.shape[0])
    seen = np.zeros(hours_ms.shape[0], dtype=bool)
    np.add.at(totals, slot[inside], vals[inside])
    seen[slot[inside]] = True
    out[seen] = totals[seen]
    return out


def window_sums(hourly: F64, windows_h: Sequence[int]) -> F64:
    """(n, windows): the sum of the last W hourly values at each hour (NaN if one is NaN or before the start)."""
    n = hourly.shape[0]
    filled = np.concatenate(([0.0], np.cumsum(np.nan_to_num(hourly, nan=0.0))))
    missing = np.concatenate(([0], np.cumsum(np.isnan(hourly))))
    out = np.full((n, len(windows_h)), np.nan)
    for w, width in enumerate(windows_h):
        if width > n:
            continue
        end = np.arange(width, n + 1)
        sums = filled[end] - filled[end - width]
        gaps = missing[end] - missing[end - width]
        out[width - 1 :, w] = np.where(gaps == 0, sums, np.nan)
    return out


def hourly_grid(
    series: Series,
    network: RiverNetwork,
    station: str,
    start_ms: int,
    end_ms: int,
    windows_h: Sequence[int],
    max_age_h: float = 6.0,
) -> HourlyGrid:
    """`station`'s grid from `start_ms` (rounded down to the hour) up to `end_ms`."""
    entry = network.station(station)
    first = hour_floor(start_ms)
    hours_ms = np.arange(first, end_ms, HOUR_MS, dtype=np.int64)
    max_age_ms = round(max_age_h * HOUR_MS)
    own_sensor = entry.level_sensor
    own_series = series.get(own_sensor) if own_sensor else None
    upstream = [network.station(link.station) for link in entry.upstream]
    columns = [
        last_known(series.get(up.level_sensor) if up.level_sensor else None, hours_ms, max_age_ms) for up in upstream
    ]
    rain = np.full((hours_ms.shape[0], 0), np.nan)
    reporting = [g for g in entry.rain_gauges if g in series]  # none in the record: no rain term
    if reporting and windows_h:
        gauges = np.stack([hourly_rain(series[g], hours_ms) for g in reporting])
        reported = (~np.isnan(gauges)).sum(axis=0)
        mean = np.where(reported > 0, np.nansum(gauges, axis=0) / np.maximum(reported, 1), np.nan)
        rain = window_sums(mean, windows_h)
    return HourlyGrid(
        start_ms=first,
        own=last_known(own_series, hours_ms, max_age_ms),
        target=last_known(own_series, hours_ms, HOUR_MS - 1),
        upstream=np.stack(columns, axis=1) if columns else np.zeros((hours_ms.shape[0], 0)),
        rain=rain,
        upstream_stations=tuple(up.station for up in upstream),
        windows_h=tuple(windows_h) if rain.shape[1] else (),
    )

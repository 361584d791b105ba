"""Replay history through a rule book: the same evaluator and kernels as the live service.

Sources: the shipped CSV files (`data/`, station names mapped to sensor ids as
`le_thuy.level` and `le_thuy.rain`) or InfluxDB (the storage layout ingest writes).
The replay feeds the history day by day, in time order, through `RuleBookEvaluator`
(the live path, with its late policy; the differential tests show that pieces give
what the whole gives). An official crossing of BĐk starts an episode where the observed
level is at or above BĐk (no hysteresis: what a bulletin would report);
`rules.scoring` scores the warnings against them.
"""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from centre.influx import InfluxV1
from rules.evaluator import RuleBookEvaluator
from rules.history_csv import read_history
from rules.levels import AlarmLevelTable, NoLevelsInEffect
from rules.network import RiverNetwork
from rules.rulebook import RuleBook
from rules.runner import Transition
from rules.series import Series

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def load_csv(paths: Iterable[Path], start_ms: int, end_ms: int, network: RiverNetwork | None = None) -> Series:
    """The shipped data files: `level_m` becomes `<station>.level`, `rain_mm` `<station>.rain`
    (`rules.history_csv.read_history`, which says what is refused and what is reported)."""
    return read_history(paths, start_ms, end_ms, network).series


def load_influx(influx: InfluxV1, sensors: dict[str, str], start_ms: int, end_ms: int) -> Series:
    """`sensors`: sensor id -> measurement (its quantity). Readings not `good` become NaN."""
    out: Series = {}
    for sensor, measurement in sensors.items():
        query = (
            f"SELECT value, quality FROM \"{measurement}\" WHERE sensor = '{sensor}' "
            f"AND time >= {start_ms}ms AND time < {end_ms}ms ORDER BY time"
        )
        points = []
        for series in influx.query(query):
            columns = series["columns"]
            t, v, q = columns.index("time"), columns.index("value"), columns.index("quality")
            for row in series["values"]:
                good = row[q] == "good" and row[v] is not None
                points.append((int(row[t]), float(row[v]) if good else math.nan))
        if points:
            out[sensor] = _columns(points)
    return out


def _columns(points: list[tuple[int, float]]) -> tuple[list[int], list[float]]:
    return [t for t, _ in points], [v for _, v in points]


def replay(
    book: RuleBook,
    levels: AlarmLevelTable,
    series: Series,
    start_ms: int,
    end_ms: int,
    progress: Callable[[int], None] = lambda _: None,
    network: RiverNetwork | None = None,
    details: dict[str, str] | None = None,
) -> list[Transition]:
    """Feed `series` day by day through a fresh evaluator; `progress(readings done)` after each day.
    Forecast rules need the `network`; what their warnings say goes into `details` (by transition id)."""
    evaluator = RuleBookEvaluator(book, levels, watch_from_ms=start_ms, network=network)
    positions = dict.fromkeys(series, 0)
    out: list[Transition] = []
    for day_end in range(start_ms + DAY_MS, end_ms + DAY_MS, DAY_MS):
        day_end = min(day_end, end_ms)
        chunk: Series = {}
        for sensor, (ts, vals) in series.items():
            i = positions[sensor]
            j = i
            while j < len(ts) and ts[j] < day_end:
                j += 1
            if j > i:
                chunk[sensor] = (ts[i:j], vals[i:j])
            positions[sensor] = j
        out += evaluator.feed(chunk, horizon_ms=day_end)
        progress(sum(len(c[0]) for c in chunk.values()))
    if details is not None:
        details |= evaluator.forecast_details
    return out


@dataclass
class Episode:
    """A spell at or above BĐk: it starts with a crossing."""

    station: str
    level: int  # k of BĐk
    start_ms: int
    end_ms: int
    peak_ms: int
    peak_m: float


def official_episodes(levels: AlarmLevelTable, station: str, ts: list[int], vals: list[float]) -> list[Episode]:
    """The spells at or above each BĐk, each reading judged by the levels in effect at its time
    (a reading before the station's first levels counts for none)."""
    in_effect = [_thresholds_at(levels, station, t) for t in ts]
    episodes = []
    for k in (1, 2, 3):
        current: Episode | None = None
        for t, v, thresholds in zip(ts, vals, in_effect, strict=True):
            if math.isnan(v):
                continue
            if thresholds is not None and v >= thresholds[k - 1]:
                if current is None:
                    current = Episode(station, k, t, t, t, v)
                current.end_ms = t
                if v > current.peak_m:
                    current.peak_ms, current.peak_m = t, v
            elif current is not None:
                episodes.append(current)
                current = None
        if current is not None:
            episodes.append(current)
    return episodes


def _thresholds_at(levels: AlarmLevelTable, station: str, ts_ms: int) -> tuple[float, float, float] | None:
    try:
        return levels.station(station, ts_ms).thresholds_m
    except NoLevelsInEffect:
        return None

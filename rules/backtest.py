"""Replay history through a rule book: the same evaluator and kernels as the live service.

Sources: the shipped CSV files (`data/`, station names mapped to sensor ids as
`le_thuy.level` and `le_thuy.rain`) or InfluxDB (the storage layout ingest writes).
The replay feeds the history day by day, in time order, through `RuleBookEvaluator`
(the live path, with its late policy; the differential tests show that pieces give
what the whole gives), then scores the warnings against the official crossings:

- an official crossing of BĐk is an episode where the observed level is at or above
  BĐk (no hysteresis: what a bulletin would report);
- a hit: a flood warning (any kind but rainfall and staleness) of the same station
  reaching severity >= k between `lead_window` before the episode starts and its end;
  lead time = episode start - first such warning (negative: the warning came late);
- a miss: an episode without such a warning;
- a false alarm: a warning raising a station to severity k outside every BĐk episode's
  window;
- lead time before each peak: for every episode at the highest level it reached (no
  higher episode inside it), peak time - first flood warning from `lead_window` before
  the episode started.
"""

import csv
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from centre.influx import InfluxV1
from rules.evaluator import RuleBookEvaluator
from rules.levels import AlarmLevelTable, NoLevelsInEffect
from rules.rulebook import LevelKind, RainfallKind, RuleBook, StalenessKind
from rules.runner import Transition
from rules.series import Series

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def sensor_slug(station: str) -> str:
    """'Le Thuy' -> 'le_thuy' (and 'Lệ Thủy' -> 'le_thuy')."""
    ascii_name = unicodedata.normalize("NFKD", station.replace("đ", "d").replace("Đ", "D"))
    ascii_name = ascii_name.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")


def load_csv(paths: Iterable[Path], start_ms: int, end_ms: int) -> Series:
    """The shipped data files: `level_m` becomes `<station>.level`, `rain_mm` `<station>.rain`."""
    suffix = {"level_m": "level", "rain_mm": "rain"}
    rows: defaultdict[str, list[tuple[int, float]]] = defaultdict(list)
    for path in paths:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            column = next(name for name in reader.fieldnames or [] if name in suffix)
            for row in reader:
                ts_ms = int(datetime.fromisoformat(row["time"]).timestamp() * 1000)
                if start_ms <= ts_ms < end_ms:
                    value = float(row[column]) if row[column] not in ("", "nan", "NaN") else math.nan
                    rows[f"{sensor_slug(row['station'])}.{suffix[column]}"].append((ts_ms, value))
    return {sensor: _columns(sorted(points)) for sensor, points in rows.items()}


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
) -> list[Transition]:
    """Feed `series` day by day through a fresh evaluator; `progress(readings done)` after each day."""
    evaluator = RuleBookEvaluator(book, levels, watch_from_ms=start_ms)
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
    return out


@dataclass
class Episode:
    station: str
    level: int  # k of BĐk
    start_ms: int
    end_ms: int
    peak_ms: int
    peak_m: float
    first_warning_ms: int | None = None

    @property
    def hit(self) -> bool:
        return self.first_warning_ms is not None


@dataclass
class Score:
    episodes: list[Episode] = field(default_factory=list)
    false_alarms: list[tuple[Transition, int]] = field(default_factory=list)  # and the BĐ it claimed
    peaks: list[tuple[Episode, int | None]] = field(default_factory=list)  # peak episode, lead before peak


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


def is_flood_warning(book: RuleBook, transition: Transition) -> bool:
    return not isinstance(book.rule(transition.rule), RainfallKind | StalenessKind)


def score(
    book: RuleBook, levels: AlarmLevelTable, series: Series, transitions: list[Transition], lead_window_ms: int
) -> Score:
    result = Score()
    flood = [t for t in transitions if is_flood_warning(book, t) and t.state > t.previous]
    level_sensors = {rule.sensor: rule.levels for rule in book.rules if isinstance(rule, LevelKind)}
    for sensor, station in level_sensors.items():
        if sensor not in series:
            continue
        episodes = official_episodes(levels, station, *series[sensor])
        for episode in episodes:
            raised = [
                t.ts_ms
                for t in flood
                if t.station == station
                and t.state >= episode.level
                and episode.start_ms - lead_window_ms <= t.ts_ms <= episode.end_ms
            ]
            episode.first_warning_ms = min(raised) if raised else None
        for episode in episodes:
            if any(e.level > episode.level and episode.start_ms <= e.start_ms <= episode.end_ms for e in episodes):
                continue  # not a peak episode: a higher level was reached inside it
            opens = episode.start_ms - lead_window_ms
            first = [t.ts_ms for t in flood if t.station == station and opens <= t.ts_ms <= episode.peak_ms]
            result.peaks.append((episode, episode.peak_ms - min(first) if first else None))
        result.episodes += episodes
        for t in flood:
            if t.station != station:
                continue
            for k in range(t.previous + 1, t.state + 1):
                near = [e for e in episodes if e.level == k and e.start_ms - lead_window_ms <= t.ts_ms <= e.end_ms]
                if not near:
                    result.false_alarms.append((t, k))
                    break
    return result

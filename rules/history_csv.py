"""Recorded history from CSV files (`time,station,level_m|rain_mm[,unit]`), read so it cannot fool a backtest.

- Every time carries a zone: a time with an offset (`2020-10-07T22:00:00+07:00`) is
  taken as written; a time without one is read in the station's declared zone (the
  river network's `time_zone`), never the machine's; a station the network does not
  know makes such a row an error.
- A missing column, a value that is not a number (flag text such as `1.2*` or `M`) or an
  unknown unit: `HistoryError`, one line naming the file, row and column. An empty value,
  `nan` or `NaN` is a missing reading (it abstains).
- Levels in feet are converted to metres: a `unit` column (`m` or `ft`, per row) or
  `unit_ft=True` for files without one.
- Duplicate times of a sensor: the first reading is kept and the others counted.
- A level that moves faster than `max_jump_m_per_h` between two readings is reported
  (kept: the report shows it, a person decides).
"""

import csv
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rules.network import RiverNetwork
from rules.series import Series

FOOT_M = 0.3048
HOUR_MS = 3_600_000
VALUE_COLUMNS = {"level_m": "level", "rain_mm": "rain"}


class HistoryError(ValueError):
    """A history file that cannot be read; the message names file, row and column."""

    def __init__(self, path: Path, row: int, column: str, message: str) -> None:
        super().__init__(f"{path}:{row} column {column!r}: {message}")
        self.path, self.row, self.column = path, row, column


@dataclass
class History:
    series: Series
    duplicates: dict[str, int] = field(default_factory=dict)  # sensor -> readings dropped (same time)
    jumps: list[str] = field(default_factory=list)  # one line per impossible jump
    zoned_rows: int = 0  # rows without an offset, read in their station's zone
    converted_ft: int = 0  # rows converted from feet


def sensor_slug(station: str) -> str:
    """'Le Thuy' -> 'le_thuy' (and 'Lệ Thủy' -> 'le_thuy')."""
    ascii_name = unicodedata.normalize("NFKD", station.replace("đ", "d").replace("Đ", "D"))
    ascii_name = ascii_name.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")


def read_history(
    paths: Iterable[Path],
    start_ms: int,
    end_ms: int,
    network: RiverNetwork | None = None,
    unit_ft: bool = False,
    max_jump_m_per_h: float = 2.0,
) -> History:
    """The files' readings in [start_ms, end_ms) per sensor (`<station>.level`, `<station>.rain`)."""
    rows: defaultdict[str, dict[int, float]] = defaultdict(dict)
    history = History({})
    for path in paths:
        _read_one(path, start_ms, end_ms, network, unit_ft, rows, history)
    for sensor, points in rows.items():
        ts = sorted(points)
        history.series[sensor] = (ts, [points[t] for t in ts])
        if sensor.endswith(".level"):
            history.jumps += _jumps(sensor, ts, [points[t] for t in ts], max_jump_m_per_h)
    return history


def _read_one(
    path: Path,
    start_ms: int,
    end_ms: int,
    network: RiverNetwork | None,
    unit_ft: bool,
    rows: defaultdict[str, dict[int, float]],
    history: History,
) -> None:
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as error:
        raise HistoryError(path, 0, "-", f"cannot read: {error.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        try:
            names = reader.fieldnames or []
            for needed in ("time", "station"):
                if needed not in names:
                    raise HistoryError(path, 1, needed, f"missing; the header has {names}")
            value_columns = [name for name in names if name in VALUE_COLUMNS]
            if len(value_columns) != 1:
                raise HistoryError(
                    path, 1, "level_m|rain_mm", f"need exactly one of level_m, rain_mm; the header has {names}"
                )
            column = value_columns[0]
            has_unit = "unit" in names
            for number, row in enumerate(reader, start=2):
                station = sensor_slug(row["station"] or "")
                ts_ms = _time_ms(path, number, row["time"] or "", station, network, history)
                if not start_ms <= ts_ms < end_ms:
                    continue
                value = _value(path, number, column, row[column])
                unit = (row["unit"] or "").strip() if has_unit else ("ft" if unit_ft else "m")
                if column == "level_m" and unit in ("ft", "feet"):
                    value *= FOOT_M
                    history.converted_ft += 1
                elif unit not in ("m", "mm", ""):
                    raise HistoryError(path, number, "unit", f"unknown unit {unit!r}; use m or ft")
                sensor = f"{station}.{VALUE_COLUMNS[column]}"
                if ts_ms in rows[sensor]:
                    history.duplicates[sensor] = history.duplicates.get(sensor, 0) + 1
                    continue
                rows[sensor][ts_ms] = value
        except UnicodeDecodeError as error:  # a spreadsheet's UTF-16 export, or not text at all
            raise HistoryError(path, reader.line_num + 1, "-", f"not UTF-8 text ({error.reason})") from None


def _time_ms(path: Path, row: int, text: str, station: str, network: RiverNetwork | None, history: History) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise HistoryError(path, row, "time", f"not an ISO time: {text!r}") from None
    if moment.tzinfo is None:
        if network is None or station not in network.station_ids:
            raise HistoryError(
                path, row, "time", f"{text!r} has no offset and station {station!r} has no declared time zone "
                "in the river network; write the offset (e.g. +07:00)"
            )  # fmt: skip
        moment = moment.replace(tzinfo=network.zone_of(station))
        history.zoned_rows += 1
    return int(moment.timestamp() * 1000)


def _value(path: Path, row: int, column: str, text: str | None) -> float:
    text = (text or "").strip()
    if text in ("", "nan", "NaN"):
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise HistoryError(path, row, column, f"not a number: {text!r} (flag text belongs in its own column)") from None
    if not math.isfinite(value):
        raise HistoryError(path, row, column, f"not a finite number: {text!r}")
    return value


def _jumps(sensor: str, ts: list[int], vals: list[float], max_m_per_h: float) -> list[str]:
    out = []
    last: tuple[int, float] | None = None
    for t, v in zip(ts, vals, strict=True):
        if math.isnan(v):
            continue
        if last is not None:
            hours = max((t - last[0]) / HOUR_MS, 1.0)
            if abs(v - last[1]) / hours > max_m_per_h:
                when = datetime.fromtimestamp(t / 1000, UTC).isoformat(timespec="minutes")
                out.append(f"{sensor}: {last[1]:.2f} -> {v:.2f} m at {when} ({abs(v - last[1]) / hours:.1f} m/h)")
        last = (t, v)
    return out

"""The recorded series the station simulators replay (data/, October 2020 floods)."""

import bisect
import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
LEVEL_CSV = DATA_DIR / "quangbinh_2020_level_observed.csv"
RAIN_CSV = DATA_DIR / "quangbinh_2020_rain_hourly.csv"


@dataclass(frozen=True)
class Series:
    """Observations of one station, sorted by time (epoch seconds)."""

    station: str
    times_s: tuple[float, ...]
    values: tuple[float, ...]

    def at(self, t_s: float) -> float:
        """The last observation at or before t_s (a gauge holds its reading until the next)."""
        index = bisect.bisect_right(self.times_s, t_s) - 1
        return self.values[max(index, 0)]

    def total_until(self, t_s: float) -> float:
        """Sum of the observations at or before t_s (hourly rain -> accumulated rain)."""
        index = bisect.bisect_right(self.times_s, t_s)
        return sum(self.values[:index])

    @property
    def start_s(self) -> float:
        return self.times_s[0]

    @property
    def end_s(self) -> float:
        return self.times_s[-1]


def load_series(path: Path, station: str, start: datetime, end: datetime) -> Series:
    """Rows of `station` with start <= time < end; the value is the CSV's third column."""
    times, values = [], []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        for time_text, name, value_text in reader:
            when = datetime.fromisoformat(time_text)
            if name == station and start <= when < end and value_text != "":
                times.append(when.timestamp())
                values.append(float(value_text))
    if not times:
        raise ValueError(f"{path}: no rows for station {station!r} between {start} and {end}")
    order = sorted(range(len(times)), key=times.__getitem__)
    return Series(station, tuple(times[i] for i in order), tuple(values[i] for i in order))

"""Readings from InfluxDB for the page: each sensor's latest, and a station's series over a span.

The storage layout is ingest's (ingest/storage.py): raw points in `autogen.<quantity>`
(fields value, quality), and `rollup_1h` / `rollup_1d` with mean, min, max, sum, count per
interval. A series picks the finest layout that keeps a chart small: raw up to
`raw_max_span_h`, hourly up to `rollup_1h_max_span_d`, daily beyond (a year is 365 points
per sensor).
"""

import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from centre.influx import InfluxError
from ioc.config import IocInfluxConfig

# The quantities the board shows for a station.
BOARD_QUANTITIES = ("water_level", "rain")
_SAFE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,95}$")
Resolution = Literal["raw", "1h", "1d"]


@dataclass(frozen=True)
class LatestReading:
    sensor: str
    quantity: str
    value: float | None
    quality: str
    ts_ms: int


@dataclass(frozen=True)
class SeriesPoint:
    ts_ms: int
    value: float | None
    low: float | None
    high: float | None


class ReadingsUnavailable(RuntimeError):
    """InfluxDB did not answer; the API says 503 with this reason."""


def _rows(series: list[dict[str, Any]]) -> list[tuple[dict[str, str], dict[str, Any]]]:
    out = []
    for item in series:
        columns = item["columns"]
        for values in item.get("values", []):
            out.append((item.get("tags", {}), dict(zip(columns, values, strict=True)) | {"_name": item["name"]}))
    return out


class Readings:
    def __init__(self, config: IocInfluxConfig) -> None:
        self.config = config
        self.influx = config.client()  # the reader account where InfluxDB has authentication on
        self._latest: dict[str, list[LatestReading]] = {}
        self.latest_refreshed_ms: int | None = None
        self.generation = 0  # grows with each refresh that changed something
        self._lock = threading.Lock()

    def close(self) -> None:
        self.influx.close()

    def refresh_latest(self) -> None:
        """Every station's latest reading per sensor, in one query."""
        db, rp = self.config.database, self.config.raw_rp
        quantities = "|".join(BOARD_QUANTITIES)
        query = (
            f'SELECT last("quality") AS "quality", "value" FROM "{db}"."{rp}"./^({quantities})$/ '
            f'WHERE time > now() - {int(self.config.latest_window_d * 24)}h GROUP BY "station", "sensor"'
        )
        try:
            rows = _rows(self.influx.query(query))
        except InfluxError as error:
            raise ReadingsUnavailable(str(error)) from error
        latest: dict[str, list[LatestReading]] = {}
        for tags, row in rows:
            value = row.get("value")
            reading = LatestReading(
                tags["sensor"], row["_name"], None if value is None else float(value), str(row["quality"]), row["time"]
            )
            latest.setdefault(tags["station"], []).append(reading)
        with self._lock:
            if latest != self._latest:
                self._latest = latest
                self.generation += 1
            self.latest_refreshed_ms = int(time.time() * 1000)

    def latest(self, station: str) -> list[LatestReading]:
        with self._lock:
            return sorted(self._latest.get(station, []), key=lambda r: (r.quantity, r.sensor))

    def resolution_for(self, span_ms: int) -> Resolution:
        if span_ms <= self.config.raw_max_span_h * 3600_000:
            return "raw"
        if span_ms <= self.config.rollup_1h_max_span_d * 86400_000:
            return "1h"
        return "1d"

    def series(
        self, station: str, quantity: str, start_ms: int, end_ms: int
    ) -> tuple[Resolution, dict[str, list[SeriesPoint]]]:
        """A station's series per sensor between two instants, at the resolution the span calls for."""
        if not (_SAFE_ID.match(station) and _SAFE_ID.match(quantity)):
            raise ValueError("station and quantity are ids: lower-case letters, digits, _ . -")
        resolution = self.resolution_for(end_ms - start_ms)
        db = self.config.database
        where = f"\"station\" = '{station}' AND time >= {start_ms}ms AND time <= {end_ms}ms"
        if resolution == "raw":
            fields, rp = '"value"', self.config.raw_rp
        else:
            rp = self.config.rollup_1h_rp if resolution == "1h" else self.config.rollup_1d_rp
            # rain is summed over an interval, every other quantity averaged
            fields = '"sum", "min", "max"' if quantity == "rain" else '"mean", "min", "max"'
        query = f'SELECT {fields} FROM "{db}"."{rp}"."{quantity}" WHERE {where} GROUP BY "sensor"'
        try:
            rows = _rows(self.influx.query(query))
        except InfluxError as error:
            raise ReadingsUnavailable(str(error)) from error
        out: dict[str, list[SeriesPoint]] = {}
        for tags, row in rows:
            value = row.get("value", row.get("sum", row.get("mean")))
            out.setdefault(tags["sensor"], []).append(SeriesPoint(row["time"], value, row.get("min"), row.get("max")))
        return resolution, out

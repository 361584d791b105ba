"""Readings -> InfluxDB points: the centre's storage layout.

    measurement  the quantity (water_level, rain, rain_tips, distance, ...)
    tags         station, sensor, gateway: bounded by the installed base
    fields       value (float, absent on a read failure), quality (string),
                 clock_synced (bool), reason (string, on a read failure that
                 says why: `wire_contract.FailureReason`)
    time         the reading's ts_ms

A sensor's reading at one instant is one point: a redelivered or replayed
reading lands on the same series and time and overwrites itself, so resends
never duplicate.

`reading_line` is the hot path: it writes the same line as
`encode_point(reading_point(...))` without building a Point, and keeps
everything but the value and the time (series key, quality, clock_synced) in a
bounded cache per series, so a reading costs one dict lookup and a format.
"""

import math

from centre.line_protocol import FieldValue, LineProtocolError, Point, encode_point
from wire_contract import Reading, TelemetryBatch

MAX_CACHED_PREFIXES = 100_000

# (quantity, station, sensor, gateway, quality, clock_synced) -> "<series key> clock_synced=..,quality=.."
_prefixes: dict[tuple[str, str, str, str, str, bool], str] = {}


def reading_point(gateway: str, reading: Reading) -> Point:
    fields: dict[str, FieldValue] = {"quality": reading.quality.value, "clock_synced": reading.clock_synced}
    if reading.value is not None:
        fields["value"] = float(reading.value)
    if reading.reason is not None:
        fields["reason"] = reading.reason.value
    tags = {"station": reading.station, "sensor": reading.sensor, "gateway": gateway}
    return Point(reading.quantity, tags, fields, reading.ts_ms)


def batch_points(batch: TelemetryBatch) -> list[Point]:
    return [reading_point(batch.gateway, reading) for reading in batch.readings]


def _prefix(key: tuple[str, str, str, str, str, bool]) -> str:
    quantity, station, sensor, gateway, quality, clock_synced = key
    # Encoded by the general encoder once per series, so escaping and checks stay in one place;
    # the value field sorts last, so the line is this prefix, then the value, then the time.
    tags = {"station": station, "sensor": sensor, "gateway": gateway}
    line = encode_point(Point(quantity, tags, {"quality": str(quality), "clock_synced": clock_synced}, 0))
    prefix = line[: -len(" 0")]
    if len(_prefixes) >= MAX_CACHED_PREFIXES:
        _prefixes.clear()
    _prefixes[key] = prefix
    return prefix


def reading_line(gateway: str, reading: Reading) -> str:
    """The line protocol of `reading_point(gateway, reading)`, exactly as `encode_point` writes it."""
    # Quality is a StrEnum: the member hashes and compares as its value, str() is the value.
    key = (reading.quantity, reading.station, reading.sensor, gateway, reading.quality, reading.clock_synced)
    prefix = _prefixes.get(key) or _prefix(key)
    value = reading.value
    if value is None:
        if reading.reason is not None:  # a failure that says why: rare, so the general encoder
            return encode_point(reading_point(gateway, reading))
        return f"{prefix} {reading.ts_ms}"
    value = float(value)
    if not math.isfinite(value):
        raise LineProtocolError(f"field value {value} is not finite")
    return f"{prefix},value={value!r} {reading.ts_ms}"

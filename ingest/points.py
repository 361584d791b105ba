"""Readings -> InfluxDB points: the centre's storage layout.

    measurement  the quantity (water_level, rain, rain_tips, distance, ...)
    tags         station, sensor, gateway: bounded by the installed base
    fields       value (float, absent on a read failure), quality (string),
                 clock_synced (bool)
    time         the reading's ts_ms

A sensor's reading at one instant is one point: a redelivered or replayed
reading lands on the same series and time and overwrites itself, so resends
never duplicate.
"""

from ingest.line_protocol import FieldValue, Point
from wire_contract import Reading, TelemetryBatch


def reading_point(gateway: str, reading: Reading) -> Point:
    fields: dict[str, FieldValue] = {"quality": reading.quality.value, "clock_synced": reading.clock_synced}
    if reading.value is not None:
        fields["value"] = float(reading.value)
    tags = {"station": reading.station, "sensor": reading.sensor, "gateway": gateway}
    return Point(reading.quantity, tags, fields, reading.ts_ms)


def batch_points(batch: TelemetryBatch) -> list[Point]:
    return [reading_point(batch.gateway, reading) for reading in batch.readings]

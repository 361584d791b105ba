"""InfluxDB line protocol, the write format of InfluxDB 1.x, 2.x and 3.

    <measurement>[,<tag>=<value>...] <field>=<value>[,<field>=<value>...] <timestamp>

Escaping (the ways a line breaks when done wrong): in measurements, commas and
spaces; in tag keys, tag values and field keys, commas, equals signs and
spaces; in string field values, double quotes and backslashes. Newlines cannot
be escaped anywhere, so they are refused. Floats are written with repr() (exact
round trip), integers with an `i` suffix, booleans as true/false. Timestamps are
integer milliseconds (the writer sends precision=ms).
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass

FieldValue = float | int | bool | str


class LineProtocolError(ValueError):
    pass


@dataclass(frozen=True)
class Point:
    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    ts_ms: int


def _escape(text: str, specials: str) -> str:
    if "\n" in text or "\r" in text:
        raise LineProtocolError(f"newline in {text!r}")
    text = text.replace("\\", "\\\\") if "\\" in specials else text
    for char in specials.replace("\\", ""):
        text = text.replace(char, "\\" + char)
    return text


def _field_value(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LineProtocolError(f"field value {value} is not finite")
        return repr(value)
    return '"' + _escape(value, '\\"') + '"'


def encode_point(point: Point) -> str:
    if not point.measurement or not point.fields:
        raise LineProtocolError("a point needs a measurement and at least one field")
    parts = [_escape(point.measurement, ", ")]
    for key in sorted(point.tags):
        value = point.tags[key]
        if not key or not value:
            raise LineProtocolError(f"empty tag key or value: {key!r}={value!r}")
        parts.append(f"{_escape(key, ',= ')}={_escape(value, ',= ')}")
    head = ",".join(parts)
    fields = ",".join(f"{_escape(k, ',= ')}={_field_value(v)}" for k, v in sorted(point.fields.items()))
    return f"{head} {fields} {point.ts_ms}"


def encode_points(points: list[Point]) -> bytes:
    return "\n".join(encode_point(p) for p in points).encode()

"""InfluxDB line protocol, the write format of InfluxDB 1.x, 2.x and 3.

    <measurement>[,<tag>=<value>...] <field>=<value>[,<field>=<value>...] <timestamp>

Escaping (the ways a line breaks when done wrong): in measurements, commas and
spaces; in tag keys, tag values and field keys, commas, equals signs and
spaces; in string field values, double quotes and backslashes. Newlines cannot
be escaped anywhere, so they are refused. Floats are written with repr() (exact
round trip), integers with an `i` suffix, booleans as true/false. Timestamps are
integer milliseconds (the writer sends precision=ms).

Names InfluxDB would mangle or drop are refused, not escaped (this encoder is the
last guard before storage; `tests/centre` writes whatever it accepts to the real
InfluxDB and reads it back identical): an empty name; a measurement starting with
`#` (a comment line: 204, nothing stored); a backslash (a trailing one escapes the
separator after it, so tags are swallowed into the name; one before `,` reads back
differently); a tag or field key `time`
(InfluxDB's own column); control characters; a key that is both a tag and a field
of one point (a query can then return only one of them).
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

FieldValue = float | int | bool | str


class LineProtocolError(ValueError):
    pass


@dataclass(frozen=True)
class Point:
    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    ts_ms: int


RESERVED_KEYS = frozenset({"time"})


def _checked_name(text: str, what: str) -> str:
    if not text:
        raise LineProtocolError(f"empty {what}")
    if "\\" in text:
        # A trailing one escapes the separator after it; one before an escaped `,`/`=`/space
        # is read as an escaped backslash by some versions and not by others.
        raise LineProtocolError(f"{what} {text!r} holds a backslash, which InfluxDB does not read back as given")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise LineProtocolError(f"{what} {text!r} holds a control character")
    return text


def _key(text: str, what: str) -> str:
    if _checked_name(text, what) in RESERVED_KEYS:
        raise LineProtocolError(f"{what} {text!r} is reserved by InfluxDB")
    return text


def _escape(text: str, specials: str) -> str:
    if "\n" in text or "\r" in text:
        raise LineProtocolError(f"newline in {text!r}")
    text = text.replace("\\", "\\\\") if "\\" in specials else text
    for char in specials.replace("\\", ""):
        text = text.replace(char, "\\" + char)
    return text


@lru_cache(maxsize=4096)
def _string_field(value: str) -> str:
    return '"' + _escape(value, '\\"') + '"'


def _field_value(value: FieldValue) -> str:
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise LineProtocolError(f"field value {value} is not finite")
        return repr(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return f"{value}i"
    if isinstance(value, str):
        return _string_field(value) if len(value) <= 64 else '"' + _escape(value, '\\"') + '"'
    return _field_value(float(value) if isinstance(value, float) else int(value))  # subclasses (IntEnum, ...)


@lru_cache(maxsize=65_536)
def _series_key(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    """`measurement,tag=value,...`: the same for every point of a series, so computed once per series."""
    if _checked_name(measurement, "measurement").startswith("#"):
        raise LineProtocolError(f"measurement {measurement!r} starts with '#': InfluxDB reads the line as a comment")
    parts = [_escape(measurement, ", ")]
    for key, value in tags:
        _key(key, "tag key"), _checked_name(value, f"value of tag {key!r}")
        parts.append(f"{_escape(key, ',= ')}={_escape(value, ',= ')}")
    return ",".join(parts)


@lru_cache(maxsize=1024)
def _field_key(key: str) -> str:
    return _escape(_key(key, "field key"), ",= ")


def encode_point(point: Point) -> str:
    if not point.fields:
        raise LineProtocolError("a point needs a measurement and at least one field")
    both = point.tags.keys() & point.fields.keys()
    if both:
        raise LineProtocolError(f"{sorted(both)} named both as tag and as field")
    head = _series_key(point.measurement, tuple(sorted(point.tags.items())))
    fields = ",".join([f"{_field_key(k)}={_field_value(v)}" for k, v in sorted(point.fields.items())])
    return f"{head} {fields} {point.ts_ms}"


def encode_points(points: list[Point]) -> bytes:
    return "\n".join([encode_point(p) for p in points]).encode()

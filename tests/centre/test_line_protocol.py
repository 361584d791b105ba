"""Line protocol: whatever tags and fields we encode, the real InfluxDB reads back unchanged."""

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from centre.influx import InfluxV1
from centre.line_protocol import LineProtocolError, Point, encode_point
from devstack.services import InfluxDB

# Printable text without newlines (which line protocol cannot carry) or a leading/trailing backslash edge case.
text = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\\"), min_size=1, max_size=12)


def test_escaping_table() -> None:
    point = Point("water level", {"sta,tion": "Lệ Thủy=1"}, {"note": 'say "hi"', "n": 3, "ok": True}, 5)
    assert encode_point(point) == 'water\\ level,sta\\,tion=Lệ\\ Thủy\\=1 n=3i,note="say \\"hi\\"",ok=true 5'


@pytest.mark.parametrize(
    "point",
    [
        Point("m", {"t": "a\nb"}, {"f": 1.0}, 1),
        Point("m", {}, {"f": float("nan")}, 1),
        Point("m", {}, {}, 1),
        Point("m", {"t": ""}, {"f": 1.0}, 1),
    ],
)
def test_unwritable_points_are_refused(point: Point) -> None:
    with pytest.raises(LineProtocolError):
        encode_point(point)


_times = itertools.count(1_602_000_000_000)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tag=text, note=text, value=st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_round_trip_through_influxdb(influx_db: InfluxV1, tag: str, note: str, value: float) -> None:
    ts = next(_times)  # one instant per example, so each query sees only its own point
    influx_db.write([Point("probe", {"station": tag}, {"note": note, "value": value}, ts)])
    rows = influx_db.query(f"SELECT station, note, value FROM probe WHERE time = {ts}ms")
    [[time, station, stored_note, stored_value]] = rows[0]["values"]
    # JSON may print a whole float without a point; the number is the same.
    assert (time, station, stored_note, float(stored_value)) == (ts, tag, note, value)


# Any text at all for names: the encoder must refuse what InfluxDB cannot store as given.
any_name = st.text(st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=8)
tricky_name = st.text(st.sampled_from(list(' ,="\\#tim_e\tx')), min_size=0, max_size=6)
names = st.one_of(any_name, tricky_name)


@pytest.mark.parametrize(
    ("measurement", "tag", "field"),
    [
        ("#m", ("t", "v"), "f"),  # a comment line: InfluxDB answers 204 and stores nothing
        ("m\\", ("t", "v"), "f"),  # the tags would be swallowed into the measurement's name
        ("m", ("t\\", "v"), "f"),
        ("m", ("t", "v\\"), "f"),
        ("m", ("t", "v"), "f\\"),
        ("m", ("t", "v"), ""),
        ("m", ("t", "v"), "time"),
        ("m", ("time", "v"), "f"),
    ],
)
def test_names_influxdb_mangles_are_refused(measurement: str, tag: tuple[str, str], field: str) -> None:
    with pytest.raises(LineProtocolError):
        encode_point(Point(measurement, dict([tag]), {field: 1.0}, 1))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(measurement=names, tag_key=names, tag_value=names, field_key=names)
def test_whatever_the_encoder_accepts_reads_back_identical(
    influxdb: InfluxDB, measurement: str, tag_key: str, tag_value: str, field_key: str
) -> None:
    point = Point(measurement, {tag_key: tag_value}, {field_key: 1.5}, next(_times))
    try:
        encode_point(point)
    except LineProtocolError:
        return  # refused, with a reason: nothing written
    # A database of the example's own: another example's field of the same name would clash with its tag.
    influxdb.grant(f"lp_{point.ts_ms}")
    database = influxdb.client("writer", f"lp_{point.ts_ms}")
    try:
        database.write([point])
        # A regular expression selects the measurement without quoting its name.
        [series] = database.query("SELECT * FROM /.*/")
    finally:
        database.close()
        admin = influxdb.client("admin", f"lp_{point.ts_ms}")
        admin.execute(f'DROP DATABASE "lp_{point.ts_ms}"')
        admin.close()
    row = dict(zip(series["columns"], series["values"][0], strict=True))
    assert series["name"] == measurement
    assert (row[tag_key], row[field_key]) == (tag_value, 1.5)

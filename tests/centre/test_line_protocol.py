"""Line protocol: whatever tags and fields we encode, the real InfluxDB reads back unchanged."""

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from centre.influx import InfluxV1
from centre.line_protocol import LineProtocolError, Point, encode_point

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

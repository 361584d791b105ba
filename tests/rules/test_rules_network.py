"""network.yaml: the shipped network loads; a bad one is refused with file:line, key and fix."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.levels import SHIPPED_ALARM_LEVELS, RuleConfigError, load_alarm_levels
from rules.network import SHIPPED_NETWORK, RiverNetwork, load_network


def station(name: str, **changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "station": name,
        "river": "Kiến Giang",
        "display_name": name.title(),
        "lat": 17.2,
        "lon": 106.8,
        "coordinates_source": "test",
    }
    entry.update(changes)
    return entry


def write(tmp_path: Path, stations: list[dict[str, Any]]) -> Path:
    path = tmp_path / "network.yaml"
    path.write_text(yaml.safe_dump({"stations": stations}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_shipped_network() -> None:
    network = load_network(SHIPPED_NETWORK)
    le_thuy = network.station("le_thuy")
    assert (le_thuy.river, le_thuy.display_name) == ("Kiến Giang", "Lệ Thủy")
    assert (le_thuy.lat, le_thuy.lon) == (17.2250, 106.7917)
    assert [(link.station, link.travel_h) for link in le_thuy.upstream] == [("kien_giang", 3.0)]
    assert le_thuy.rain_gauges == ("le_thuy.rain", "kien_giang.rain")
    assert le_thuy.time_zone == "Asia/Ho_Chi_Minh"
    assert network.travel_ms("kien_giang", "dong_hoi") == 9 * 3_600_000  # 3 h to Lệ Thủy, 6 h on
    assert network.travel_ms("dong_hoi", "kien_giang") is None  # water does not run uphill
    # Every station with alarm levels is on the map, under the same names.
    for entry in load_alarm_levels(SHIPPED_ALARM_LEVELS).stations:
        on_map = network.station(entry.station)
        assert (on_map.river, on_map.display_name) == (entry.river, entry.display_name)
    for entry in network.stations:
        assert "gauge" in entry.coordinates_source  # each says it is not the surveyed gauge position


def test_grafana_keys_are_kept() -> None:
    """The dashboards read these key names (branch `grafana`): renaming one breaks the merge."""
    raw = yaml.safe_load(SHIPPED_NETWORK.read_text(encoding="utf-8"))
    for entry in raw["stations"]:
        assert {"station", "river", "display_name", "lat", "lon", "coordinates_source"} <= set(entry)


@pytest.mark.parametrize(
    ("stations", "key", "expected", "on_line"),
    [
        ([station("a", upstream=[{"station": "nowhere", "travel_h": 2}])], "stations.0.upstream.0.station",
         "unknown station 'nowhere' (known: a)", "station: nowhere"),
        ([station("a", upstream=[{"station": "a", "travel_h": 2}])], "stations.0.upstream.0.station",
         "cannot be upstream of itself", "- station: a"),
        ([station("a"), station("a")], "stations.1.station", "listed twice (first at 0)", "- station: a"),
        ([station("a", upstream=[{"station": "b", "travel_h": 1}]),
          station("b", upstream=[{"station": "a", "travel_h": 1}])], "stations.0.upstream", "a loop: a <- b <- a",
         "- station: b"),
        ([station("a", upstream=[{"station": "b", "travel_h": 0}]), station("b")], "stations.0.upstream.0.travel_h",
         "greater than 0", "travel_h: 0"),
        ([station("a", lat=95)], "stations.0.lat", "less than or equal to 90", "lat: 95"),
        ([station("a", time_zone="ICT")], "stations.0.time_zone", "not a time zone name", "time_zone: ICT"),
        ([station("a", rain_gauges=["Lệ Thủy rain"])], "stations.0.rain_gauges.0", "should match pattern",
         "Lệ Thủy rain"),
        ([station("a", coordinates_source="")], "stations.0.coordinates_source", "at least 1 character",
         "coordinates_source"),
        ([station("a", elevation_m=3)], "stations.0.elevation_m", "Extra inputs are not permitted", "elevation_m"),
    ],
)  # fmt: skip
def test_refused_with_file_line_and_key(
    tmp_path: Path, stations: list[dict[str, Any]], key: str, expected: str, on_line: str
) -> None:
    path = write(tmp_path, stations)
    with pytest.raises(RuleConfigError) as raised:
        load_network(path)
    message = str(raised.value)
    found = re.search(rf"{re.escape(str(path))}:(\d+) {re.escape(key)}: .*{re.escape(expected)}", message)
    assert found, message
    assert on_line in path.read_text(encoding="utf-8").splitlines()[int(found.group(1)) - 1], message


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(RuleConfigError, match=r"network.yaml: cannot read"):
        load_network(tmp_path / "network.yaml")


names = st.sampled_from(["a", "b", "c", "d", "e"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(names, names, st.integers(1, 10)), max_size=8))
def test_any_link_set_loads_or_is_refused_by_name(
    tmp_path_factory: pytest.TempPathFactory, links: list[tuple[str, str, int]]
) -> None:
    """Whatever the links, the loader returns a loop-free network or names the problem; never a traceback."""
    upstream: dict[str, list[dict[str, Any]]] = {n: [] for n in "abcde"}
    for down, up, hours in links:
        upstream[down].append({"station": up, "travel_h": hours})
    path = write(tmp_path_factory.mktemp("net"), [station(n, upstream=upstream[n]) for n in "abcde"])
    try:
        network = load_network(path)
    except RuleConfigError as error:
        assert re.search(r"network\.yaml:\d+ stations\.\d", str(error)), str(error)
        return
    assert isinstance(network, RiverNetwork)
    for entry in network.stations:  # loop-free: nothing is upstream of itself
        assert network.travel_ms(entry.station, entry.station) is None
        for link in entry.upstream:
            travel = network.travel_ms(link.station, entry.station)
            assert travel is not None and travel <= link.travel_ms


UPSTREAM_RULES = """
rules:
  - {name: le_thuy_from_kien_giang, kind: rate_of_rise, station: le_thuy, sensor: kien_giang.level,
     window: 3h, rise_cm_per_h: 30, clear_cm_per_h: 0, severity: 1}
  - {name: le_thuy_catchment_rain, kind: rainfall, station: le_thuy, sensor: kien_giang.rain, window: 12h,
     categories: [{name: heavy, over_mm: 25}]}
  - {name: kien_giang_from_le_thuy, kind: rate_of_rise, station: kien_giang, sensor: le_thuy.level,
     window: 3h, rise_cm_per_h: 30, clear_cm_per_h: 0, severity: 1}
"""


def test_validate_allows_upstream_sensors_the_network_lists(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rules.cli import app

    rules = tmp_path / "upstream.yaml"
    rules.write_text(UPSTREAM_RULES, encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(rules)])
    assert result.exit_code == 1
    # Upstream level and catchment rain are accepted; a sensor downstream is not.
    assert "le_thuy_from_kien_giang" not in result.output and "le_thuy_catchment_rain" not in result.output
    assert (
        "rule 'kien_giang_from_le_thuy': station 'kien_giang', but sensor 'le_thuy.level' stands at 'le_thuy', "
        "which the river network does not list upstream of 'kien_giang'"
    ) in result.output
    bad_network = write(tmp_path, [station("le_thuy"), station("a", upstream=[{"station": "b", "travel_h": 1}])])
    result = CliRunner().invoke(app, ["validate", str(rules), "--network", str(bad_network)])
    assert result.exit_code == 2
    assert "stations.1.upstream.0.station: unknown station 'b'" in result.output
    assert "Traceback" not in result.output

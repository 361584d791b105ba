"""rules/network.yaml: every station placed once, with its source; refusals name the key."""

from pathlib import Path

import pytest

from rules.levels import SHIPPED_ALARM_LEVELS, RuleConfigError, load_alarm_levels
from rules.network import load_network


def test_every_station_with_alarm_levels_has_coordinates_and_a_source() -> None:
    network = load_network()
    for station in load_alarm_levels(SHIPPED_ALARM_LEVELS).station_ids:
        entry = network.station(station)
        assert 16 < entry.lat < 18 and 106 < entry.lon < 108  # Quảng Bình to Thừa Thiên Huế
        assert entry.coordinates_source
    assert {"kien_giang", "dong_hoi"} <= set(network.station_ids)


def test_a_station_listed_twice_or_off_the_globe_is_refused(tmp_path: Path) -> None:
    entry = "  - {station: a, river: R, display_name: A, lat: %s, lon: 106, coordinates_source: s}\n"
    twice = tmp_path / "twice.yaml"
    twice.write_text("stations:\n" + entry % 17 + entry % 17, encoding="utf-8")
    with pytest.raises(RuleConfigError, match="listed twice"):
        load_network(twice)
    off = tmp_path / "off.yaml"
    off.write_text("stations:\n" + entry % 117, encoding="utf-8")
    with pytest.raises(RuleConfigError, match=r"off.yaml:2 stations.0.lat"):
        load_network(off)
    with pytest.raises(KeyError, match="not in the river network"):
        load_network().station("nowhere")

"""Gateway configs: the sample loads; mistakes are refused with file:line, key and fix."""

from pathlib import Path

import pytest

from edge_agent.config import load_gateway_config
from typed_config import ConfigError

SAMPLE = Path(__file__).resolve().parents[2] / "edge_agent" / "gateway.sample.yaml"


def test_sample_config_loads() -> None:
    config = load_gateway_config(SAMPLE)
    assert config.gateway_id == "gw-le-thuy-01"
    assert [d.profile for d in config.devices] == ["river_level_radar", "rain_gauge_tipping", "fb_ref_level"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "poll_s: 5\n    timeout_ms",
            "poll_s: -5\n    timeout_ms",
            r":18 devices.0.poll_s: Input should be greater than 0",
        ),
        ("keepalive_s: 30", "keepalive: 30", r":7 mqtt.keepalive: Extra inputs are not permitted"),
        ("timeout_ms: 1000", "timeout_ms: soon", r"devices.0.timeout_ms: Input should be a valid integer"),
        ("profile: river_level_radar", "profile: radar", r"devices.0.profile: no profile 'radar'"),
        ("{level: le_thuy.level}", "{levle: le_thuy.level}", r"devices.0.sensors.levle: profile 'river_level_radar'"),
        ("gateway_id: gw-le-thuy-01", "gateway_id: gw/le", r"gateway_id: String should match pattern"),
        ("le_thuy.rain_hour}", "le_thuy.level}", r"sensor ids must be unique, repeated: \['le_thuy.level'\]"),
    ],
)
def test_bad_configs_are_refused(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = SAMPLE.read_text()
    assert old in text
    path = tmp_path / "gateway.yaml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError, match=message) as caught:
        load_gateway_config(path)
    assert str(path) in str(caught.value)


SERIAL_BUS = """\
gateway_id: gw-bus
devices:
  - {name: level, profile: river_level_radar, station: s, unit_id: 1, sensors: {level: s.level},
     transport: {kind: serial, port: /dev/ttyUSB0}}
  - {name: rain, profile: rain_gauge_tipping, station: s, unit_id: UNIT, sensors: {tips: s.tips},
     transport: {kind: serial, port: /dev/ttyUSB0, baud: BAUD}}
"""


@pytest.mark.parametrize(
    ("unit", "baud", "message"),
    [
        ("2", "19200", r"devices.1.transport: /dev/ttyUSB0 is set to .*'baud': 19200.* but .*'baud': 9600.*"),
        ("1", "9600", r"devices.1.unit_id: 1 is already used on /dev/ttyUSB0"),
        ("0", "9600", r":5 devices.1: Value error, unit_id 0 is the Modbus RTU broadcast address"),
    ],
)
def test_a_serial_bus_must_agree_on_its_line_and_units(tmp_path: Path, unit: str, baud: str, message: str) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(SERIAL_BUS.replace("UNIT", unit).replace("BAUD", baud))
    with pytest.raises(ConfigError, match=message):
        load_gateway_config(path)
    path.write_text(SERIAL_BUS.replace("UNIT", "2").replace("BAUD", "9600"))
    assert load_gateway_config(path).devices[1].transport.kind == "serial"


def test_systemd_unit_runs_the_service_with_the_sample_buffer_directory() -> None:
    unit = (SAMPLE.parent / "floodwatch-edge.service").read_text()
    assert "ExecStart=/opt/floodwatch/bin/floodwatch-edge run /etc/floodwatch/gateway.yaml" in unit
    state = next(line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("StateDirectory="))
    buffer = load_gateway_config(SAMPLE).buffer.path
    assert buffer is not None and buffer.parent == Path("/var/lib") / state
    assert "SupplementaryGroups=dialout" in unit

"""Gateway configs: the sample loads; mistakes are refused with file:line, key and fix."""

from pathlib import Path

import pytest

from edge_agent.config import load_gateway_config, load_site
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
            r":21 devices.0.poll_s: Input should be greater than 0",
        ),
        ("keepalive_s: 30", "keepalive: 30", r":10 mqtt.keepalive: Extra inputs are not permitted"),
        ("timeout_ms: 1000", "timeout_ms: soon", r"devices.0.timeout_ms: Input should be a valid integer"),
        ("profile: river_level_radar", "profile: radar", r"devices.0.profile: no profile 'radar'"),
        ("{level: le_thuy.level}", "{levle: le_thuy.level}", r"devices.0.sensors.levle: profile 'river_level_radar'"),
        ("gateway_id: gw-le-thuy-01", "gateway_id: gw/le", r"gateway_id: String should match pattern"),
        (
            "le_thuy.rain_hour}",
            "le_thuy.level}",
            r":31 devices.1.sensors.rain_hour: sensor id 'le_thuy.level' is already devices.0.sensors.level",
        ),
        ("unit_id: 1\n", "unit_id: yes\n", r"devices.0.unit_id: Input should be a valid integer \(got True\)"),
        ("kind: tcp", "kind: tpc", r"devices.0.transport: kind: is tcp, serial or node"),
        (
            "host: 127.0.0.1, port: 5020",
            "hots: 127.0.0.1, port: 5020",
            r"transport.hots: unknown key; did you mean 'host'\?",
        ),
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


def _message(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_gateway_config(path)
    return str(caught.value)


def test_each_mistake_is_reported_once_in_the_words_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(SAMPLE.read_text().replace("host: 127.0.0.1, port: 5020", "hots: 127.0.0.1, port: 5020", 1))
    lines = _message(path).splitlines()[1:]
    # One typo, one line: not "host: Field required" too, nor a line per transport kind, nor
    # a false "devices: Tuple should have at least 1 item".
    assert len(lines) == 1 and "devices.0.transport.hots" in lines[0], lines


def test_one_port_named_by_a_symlink_and_by_its_path_is_one_bus(tmp_path: Path) -> None:
    real = tmp_path / "ttyUSB0"
    real.touch()
    (tmp_path / "by-id").mkdir()
    link = tmp_path / "by-id" / "usb-FTDI-if00"
    link.symlink_to(real)
    text = SERIAL_BUS.replace("UNIT", "1").replace("BAUD", "9600")
    text = text.replace("port: /dev/ttyUSB0}", f"port: {real}}}", 1).replace("port: /dev/ttyUSB0,", f"port: {link},")
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    assert f"unit_id: 1 is already used on {link} (the same port as {real})" in _message(path)


def test_the_disk_buffer_is_the_default_beside_the_config(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(SERIAL_BUS.replace("UNIT", "2").replace("BAUD", "9600"))
    assert load_gateway_config(path).buffer.file == tmp_path / "buffer.sqlite"
    path.write_text(path.read_text() + "buffer: {in_memory: true, path: x.sqlite}\n")
    assert "give buffer.path (on disk) or in_memory: true, not both" in _message(path)


RADAR = (Path(__file__).resolve().parents[2] / "hardware_specs" / "profiles" / "river_level_radar.yaml").read_text()


def _site(tmp_path: Path, config_text: str) -> Path:
    """A site folder: its own profiles (one of them broken) and a config."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "acme_radar.yaml").write_text(RADAR.replace("name: river_level_radar", "name: acme_radar"))
    (profiles / "broken_gauge.yaml").write_text("name: broken_gauge\nregisters: [oops]\n")
    path = tmp_path / "gateway.yaml"
    path.write_text(config_text)
    return path


SITE = """\
gateway_id: gw-site
profiles_dir: profiles
devices:
  - {name: level, profile: PROFILE, station: s, sensors: {level: s.level}, transport: {host: 127.0.0.1}}
"""


def test_a_site_profile_is_found_in_profiles_dir_and_a_broken_one_harms_no_other_config(tmp_path: Path) -> None:
    path = _site(tmp_path, SITE.replace("PROFILE", "acme_radar"))
    config, profiles = load_site(path)
    assert config.devices[0].profile == "acme_radar" and "acme_radar" in profiles
    assert "river_level_radar" in profiles and "broken_gauge" not in profiles
    path.write_text(SITE.replace("PROFILE", "broken_gauge"))
    message = _message(path)
    assert "devices.0.profile: profile 'broken_gauge' is broken" in message
    assert "broken_gauge.yaml" in message


def test_the_profiles_option_adds_a_folder_and_overrides_a_shipped_profile(tmp_path: Path) -> None:
    path = _site(tmp_path, SITE.replace("PROFILE", "river_level_radar").replace("profiles_dir: profiles\n", ""))
    own = tmp_path / "own"
    own.mkdir()
    (own / "river_level_radar.yaml").write_text(RADAR.replace("valid_max: 15.0", "valid_max: 25.0"))
    _, shipped = load_site(path)
    _, site = load_site(path, own)
    assert shipped["river_level_radar"].register("level").valid_max == 15.0
    assert site["river_level_radar"].register("level").valid_max == 25.0
    with pytest.raises(ConfigError, match="profiles folder not found"):
        load_site(path, tmp_path / "nope")

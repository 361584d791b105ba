"""The technician's commands against real peers: scan and check on a serial line with a
baud rate (WireRelay), probe over Modbus TCP."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from devstack.peer_thread import PeerThread
from devstack.replay_data import Series
from devstack.serial_line import RtuStations, WireRelay
from devstack.services import free_port
from devstack.station_sim import ReplayClock, StationSimulator
from edge_agent.cli import app
from hardware_specs import load_profiles

PROFILES = load_profiles()
runner = CliRunner()


def _stations() -> list[StationSimulator]:
    return [
        StationSimulator(PROFILES["river_level_radar"], Series("l", (0.0,), (4.88,)), ReplayClock(0, 1), 0, unit_id=1),
        StationSimulator(PROFILES["rain_gauge_tipping"], Series("r", (0.0,), (12.5,)), ReplayClock(0, 1), 0, unit_id=2),
    ]


@pytest.fixture
def bus_19200(tmp_path: Path) -> Iterator[WireRelay]:
    with WireRelay(tmp_path, baud=19200) as wire, PeerThread(lambda: RtuStations(_stations(), wire.device_end).start()):
        yield wire


def test_scan_finds_the_units_at_the_line_baud_rate_and_their_profiles(bus_19200: WireRelay) -> None:
    result = runner.invoke(
        app, ["scan", bus_19200.gateway_end, "--baud", "9600", "--baud", "19200", "--parity", "N", "--units", "1-3"]
    )
    assert result.exit_code == 0, result.output
    rows = [line.split("│")[1:-1] for line in result.output.splitlines() if line.startswith("│")]
    rows = [[cell.strip() for cell in row] for row in rows]
    assert [(r[0], r[2]) for r in rows] == [("19200", "1"), ("19200", "2")]  # 9600 is noise on this line
    assert "river_level_radar" in rows[0][4] and "rain_gauge_tipping" not in rows[0][4]
    assert "rain_gauge_tipping" in rows[1][4]


def test_check_reads_a_serial_device(bus_19200: WireRelay, tmp_path: Path) -> None:
    config = {
        "gateway_id": "gw-check",
        "devices": [
            {"name": "level", "profile": "river_level_radar", "station": "le_thuy", "unit_id": 1,
             "transport": {"kind": "serial", "port": bus_19200.gateway_end, "baud": 19200},
             "sensors": {"level": "le_thuy.level"}}
        ],
    }  # fmt: skip
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert "buffer.sqlite" in result.output  # on disk by default, beside the config
    assert "le_thuy.level" in result.output and "4.88" in result.output and "good" in result.output


def test_probe_shows_every_byte_order(tmp_path: Path) -> None:
    radar = PROFILES["river_level_radar"]
    port = free_port()
    with PeerThread(lambda: StationSimulator(radar, Series("l", (0.0,), (4.88,)), ReplayClock(0, 1), port).start()):
        result = runner.invoke(app, ["probe", "--host", "127.0.0.1", "--tcp-port", str(port), "--count", "2"])
    assert result.exit_code == 0, result.output
    float_row = next(line for line in result.output.splitlines() if "float32" in line)
    cells = [c.strip() for c in float_row.split("│")[1:-1]]
    assert cells[0] == "float32" and cells[3] == "4.88" and cells[1] != "4.88"  # CDAB is the right order


def test_bad_arguments_are_refused() -> None:
    assert runner.invoke(app, ["probe"]).exit_code != 0
    assert "unit ids are 1-247" in runner.invoke(app, ["scan", "/dev/null", "--units", "0-3"]).output


def _cells(output: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is `first` (boxed or simple tables)."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")] if "│" in line else line.split()
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in:\n{output}")


def test_profile_lists_the_shipped_profiles() -> None:
    result = runner.invoke(app, ["profile"])
    assert result.exit_code == 0, result.output
    assert _cells(result.output, "river_level_radar")[2:] == ["9600 8N1", "9"]
    assert _cells(result.output, "rain_gauge_tipping")[2:] == ["9600 8N1", "7"]
    assert _cells(result.output, "camera_cabinet_health")[2:] == ["19200 8E1", "1"]


def test_profile_shows_registers_and_wiring() -> None:
    result = runner.invoke(app, ["profile", "river_level_radar"])
    assert result.exit_code == 0, result.output
    # register, address, type, order, scale, unit, range (3 words), writable
    assert _cells(result.output, "level") == ["level", "0", "float32", "CDAB", "1", "m", "-2", "..", "15"]
    assert _cells(result.output, "install_height") == [
        "install_height", "10", "uint16", "ABCD", "0.001", "m", "0", "..", "30", "yes"
    ]  # fmt: skip
    assert "supply 9–30 V DC, 40 mA (80 mA peak)" in result.output
    assert _cells(result.output, "A")[-1] == "yellow"  # RS-485 A wraps onto a second line
    assert "not from a vendor's datasheet" in result.output and "colour (typical)" in result.output
    assert "hardware_specs/README.md" in result.output


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_shipped_profile_renders_with_its_wiring(name: str) -> None:
    result = runner.invoke(app, ["profile", name])
    assert result.exit_code == 0, result.output
    assert "Wiring" in result.output and "120 Ω termination" in result.output
    tables = result.output[result.output.index(" register ") :]  # not the source's prose above them
    for register in PROFILES[name].registers:
        assert _cells(tables, register.name)[1] == str(register.address)


def test_profile_with_a_bad_name_lists_the_known_ones() -> None:
    result = runner.invoke(app, ["profile", "river_radar"])
    assert result.exit_code == 2
    assert "no profile 'river_radar'" in result.output
    assert all(name in result.output for name in PROFILES)


def test_the_readme_scan_without_an_adapter_is_one_line_with_the_fix(tmp_path: Path) -> None:
    missing = str(tmp_path / "ttyUSB0")
    result = runner.invoke(app, ["scan", missing, "--baud", "9600", "--baud", "19200", "--units", "1-20"])
    assert (result.exit_code == 2 and result.exception is None) or isinstance(result.exception, SystemExit)
    assert "port_missing" in result.output and "plugged in" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(app, ["scan", "/dev/null"])
    assert result.exit_code == 2 and "port_settings_refused" in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["scan", "/dev/null", "--units", "abc"], "unit ids are 1-247"),
        (["scan", "/dev/null", "--parity", "X"], "use N (none), E (even) or O (odd)"),
        (["scan", "/dev/null", "--baud", "0"], "not a standard baud rate"),
        (["probe", "--port", "/dev/null", "--unit", "300"], "--unit"),
        (["probe", "--port", "/dev/null", "--address", "70000"], "--address"),
        (["probe", "--port", "/dev/null", "--table", "coil"], "use holding, input, coils or discrete-inputs"),
        (["probe", "--port", "/dev/null", "--table", "coils", "--count", "2001"], "1-2000 bits"),
        (
            ["probe", "--port", "/dev/null", "--table", "discrete-inputs", "--address", "65000", "--count", "1000"],
            "run past 65535",
        ),
        (["scan", "/dev/null", "--table", "coils", "--count", "0"], "1-2000 bits"),
        (["probe", "--host", "127.0.0.1", "--tcp-port", "70000"], "--tcp-port"),
        (["probe", "--host", "127.0.0.1", "--count", "0"], "--count"),
        (["probe", "--host", "127.0.0.1", "--count", "200"], "--count"),
        (["probe", "--port", "/dev/null", "--address", "65535", "--count", "2"], "run past 65535"),
    ],
)
def test_every_argument_is_checked_before_the_wire(args: list[str], words: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and words in result.output, result.output


def test_scan_over_tcp_finds_the_unit_and_its_profile() -> None:
    radar = PROFILES["river_level_radar"]
    port = free_port()
    with PeerThread(lambda: StationSimulator(radar, Series("l", (0.0,), (4.88,)), ReplayClock(0, 1), port).start()):
        result = runner.invoke(app, ["scan", f"127.0.0.1:{port}", "--units", "1"])
    assert result.exit_code == 0, result.output
    assert _cells(result.output, "tcp")[2] == "1" and "river_level_radar" in result.output


def test_nothing_answered_names_the_timeouts_tried(bus_19200: WireRelay) -> None:
    result = runner.invoke(app, ["scan", bus_19200.gateway_end, "--baud", "9600", "--parity", "N", "--units", "9"])
    assert result.exit_code == 1
    assert "waiting 100 ms each" in result.output and "--timeout-ms 500" in result.output


_closed_port = free_port()
_ports = st.sampled_from(["/dev/null", "/nonexistent/ttyUSB0", "/", f"127.0.0.1:{_closed_port}", "h:x", ":", ""])
_text = st.text(st.characters(codec="utf-8", exclude_characters=":"), max_size=12)
_numbers = st.integers(-(2**40), 2**40).map(str) | st.sampled_from(["0", "1", "125", "247", "65535", "9600", "x", ""])
_tables = st.sampled_from(["coils", "discrete-inputs", "holding", "input"])
_scan_options = st.sampled_from(["--baud", "--parity", "--units", "--address", "--count", "--table", "--timeout-ms"])
_probe_options = st.sampled_from(
    ["--address", "--count", "--unit", "--table", "--baud", "--parity", "--tcp-port", "--timeout-ms"]
)


@st.composite
def _command_lines(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(["scan", "probe", "write"]))
    if command == "write":  # a config that is not there, or not a config
        return [
            "write",
            draw(st.sampled_from(["/nonexistent.yaml", "/dev/null", "/"])),
            *draw(st.lists(_text | _numbers, max_size=4)),
        ]
    if command == "scan":
        args = ["scan", draw(_ports | _text)]
        options = _scan_options
    else:
        args = ["probe", *draw(st.sampled_from([["--port", "/dev/null"], ["--host", "127.0.0.1"], []]))]
        args += ["--tcp-port", str(_closed_port)] if "--host" in args else []
        options = _probe_options
    for _ in range(draw(st.integers(0, 4))):
        args += [draw(options), draw(_tables | _numbers | _text)]
    return args


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=_command_lines())
@example(args=["scan", "\x00"])  # found by hypothesis: the OS's ValueError for an embedded NUL
@example(args=["probe", "--port", "/dev/tty\x00S0"])
@example(args=["node", "/dev/ttyACM0\n"])
def test_no_command_line_ends_in_a_traceback(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
    assert result.exit_code in (0, 1, 2), (args, result.output)
    assert "Traceback" not in result.output


def test_check_shows_why_a_read_failed(bus_19200: WireRelay, tmp_path: Path) -> None:
    device = {"profile": "river_level_radar", "station": "le_thuy", "timeout_ms": 50, "retries": 0,
              "transport": {"kind": "serial", "port": bus_19200.gateway_end, "baud": 19200}}  # fmt: skip
    config = {
        "gateway_id": "gw-check",
        "buffer": {"path": str(tmp_path / "buffer.sqlite")},
        "devices": [
            device | {"name": "level", "unit_id": 1, "sensors": {"level": "le_thuy.level"}},
            device | {"name": "absent", "unit_id": 9, "sensors": {"level": "absent.level"}},
        ],
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert _cells(result.output, "absent")[4:6] == ["read_failure", "timeout"]
    assert _cells(result.output, "level")[4:6] == ["good", ""]


def test_check_refuses_a_buffer_it_cannot_write(tmp_path: Path) -> None:
    device = {"name": "level", "profile": "river_level_radar", "station": "s",
              "transport": {"host": "127.0.0.1", "port": free_port()}, "sensors": {"level": "s.level"}}  # fmt: skip
    config = {"gateway_id": "gw-check", "buffer": {"path": "/proc/nope/x"}, "devices": [device]}
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    for command in ("check", "run"):
        result = runner.invoke(app, [command, str(path)])
        assert (result.exit_code == 2 and result.exception is None) or isinstance(result.exception, SystemExit)
        assert "buffer.path: /proc/nope/x: the folder /proc/nope does not exist" in result.output


def test_profile_and_scan_name_a_broken_site_profile_and_go_on(tmp_path: Path) -> None:
    (tmp_path / "broken_gauge.yaml").write_text("name: broken_gauge\nregisters: [oops]\n")
    result = runner.invoke(app, ["profile", "--profiles", str(tmp_path)])
    assert result.exit_code == 0 and "profile broken_gauge left out" in result.output
    assert "river_level_radar" in result.output
    result = runner.invoke(app, ["scan", f"127.0.0.1:{free_port()}", "--units", "1", "--profiles", str(tmp_path)])
    assert result.exit_code == 2 and "connection_refused" in result.output and "Traceback" not in result.output

"""A microcontroller node as a gateway device (`transport: {kind: node}`): config checks,
readings with their qualities from the C reference node over a socat pty, the whole path
through the disk buffer to Mosquitto with the status heartbeat, and `floodwatch-edge node`."""

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from devstack.c_node import SimulatedNode, sim_image
from devstack.serial_line import PtyPair
from devstack.services import Mosquitto
from edge_agent.agent import Agent, make_pollers
from edge_agent.cli import app
from edge_agent.config import GatewayConfig, load_gateway_config
from firmware_bridge import ReadingStatus
from hardware_specs import load_profiles
from typed_config import ConfigError
from wire_contract import GatewayStatus, Reading, decode_status, decode_telemetry, status_topic, telemetry_topic

PROFILES = load_profiles()
runner = CliRunner()


def _device(port: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "node",
        "profile": "fb_ref_level",
        "station": "kien_giang",
        "transport": {"kind": "node", "port": port},
        "timeout_ms": 200,
        "retries": 1,
        "sensors": {"level": "kg.level", "rain": "kg.rain", "rain_total": "kg.rain_total"},
    } | extra


def _config(*devices: dict[str, Any], **extra: Any) -> GatewayConfig:
    return GatewayConfig.model_validate({"gateway_id": "gw-node", "devices": list(devices)} | extra)


@pytest.mark.parametrize(
    ("devices", "message"),
    [
        (
            [_device("/dev/ttyACM0", transport={"kind": "serial", "port": "/dev/ttyUSB0"})],
            r"devices\.0\.transport: profile 'fb_ref_level' speaks floodwatch_node: the transport must be \{kind: node",
        ),
        (
            [_device("/dev/ttyACM0", profile="river_level_radar", sensors={"level": "x.level"})],
            r"devices\.0\.transport: profile 'river_level_radar' speaks modbus: the transport must be \{kind: serial",
        ),
        (
            [_device("/dev/ttyACM0"), _device("/dev/ttyACM0", name="other", sensors={"level": "y.level"})],
            r"devices\.1\.transport\.port: /dev/ttyACM0 is already devices\.0's, and a node needs a port of its own",
        ),
    ],
)
def test_a_node_config_is_checked_against_its_profile(tmp_path: Path, devices: list[Any], message: str) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump({"gateway_id": "gw-node", "devices": devices}))
    with pytest.raises(ConfigError, match=message):
        load_gateway_config(path)


def _values(readings: list[Reading]) -> dict[str, tuple[float | None, str]]:
    return {
        r.sensor: (r.value, r.quality.value if r.reason is None else f"{r.quality.value}: {r.reason.value}")
        for r in readings
    }


def test_node_readings_carry_qualities_counters_and_failures(node_line: tuple[str, SimulatedNode]) -> None:
    port, node = node_line
    config = _config(_device(port))

    async def scenario() -> list[dict[str, tuple[float | None, str]]]:
        pollers, _ = make_pollers(config, PROFILES)
        (poller,) = pollers
        seen = [_values(await poller.poll())]  # level 1.234 m, rain gauge at 5.7 mm since boot
        node.set_sensors([(0, 0, ReadingStatus.SENSOR_FAULT), (60, -1, 0)])
        seen.append(_values(await poller.poll()))
        node.set_sensors([(45_000, -3, 0), (61, -1, ReadingStatus.OUT_OF_RANGE)])
        seen.append(_values(await poller.poll()))
        node.kill()  # power cut: no answer
        seen.append(_values(await poller.poll()))
        node.set_sensors([(1500, -3, 0), (2, -1, 0)])  # the gauge counts from 0 again after the reset
        node.start()
        while (values := _values(await poller.poll()))["kg.level"][1] != "good":
            pass  # the poller reopens the link at each poll until the node answers
        seen.append(values)
        seen.append({"errors": (float(poller.errors), "")})
        await poller.close()
        return seen

    seen = asyncio.run(scenario())
    assert seen[0] == {"kg.level": (1.234, "good"), "kg.rain": (0.0, "good"), "kg.rain_total": (5.7, "good")}
    assert seen[1] == {
        "kg.level": (None, "read_failure: sensor_fault"),
        "kg.rain": (0.3, "good"),
        "kg.rain_total": (6.0, "good"),
    }
    assert seen[2] == {
        "kg.level": (45.0, "out_of_range"),
        "kg.rain": (0.1, "out_of_range"),
        "kg.rain_total": (6.1, "out_of_range"),
    }
    assert seen[3] == {s: (None, "read_failure: timeout") for s in ("kg.level", "kg.rain", "kg.rain_total")}
    assert seen[4] == {"kg.level": (1.5, "good"), "kg.rain": (0.2, "good"), "kg.rain_total": (6.3, "good")}
    assert seen[5]["errors"][0] >= 1


def test_a_node_goes_through_the_disk_buffer_to_the_broker_with_its_heartbeat(
    node_line: tuple[str, SimulatedNode], mosquitto: Mosquitto, unique_name: str, tmp_path: Path
) -> None:
    port, node = node_line
    gateway = f"gw-{unique_name}"
    config = GatewayConfig.model_validate(
        {
            "gateway_id": gateway,
            "mqtt": mosquitto.gateway_mqtt(gateway),
            "publish": {"heartbeat_s": 0.2, "max_wait_ms": 50},
            "buffer": {"path": str(tmp_path / "buffer.sqlite")},
            "devices": [_device(port, poll_s=0.1)],
        }
    )
    readings: list[Reading] = []
    beats: list[GatewayStatus] = []
    client = mosquitto.client("monitor")

    def on_message(_c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/status"):
            beats.append(decode_status(bytes(message.payload)))
        else:
            readings.extend(decode_telemetry(bytes(message.payload)).readings)

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe([(telemetry_topic(gateway), 1), (status_topic(gateway), 1)])
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()

    def failures() -> int:
        return max((b.device_errors.get("node", 0) for b in beats if b.state == "online" and b.uptime_s), default=0)

    async def until(condition: Any, what: str, timeout_s: float = 15) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)

    async def scenario() -> None:
        agent, stop = Agent(config, PROFILES), asyncio.Event()
        running = asyncio.create_task(agent.run(stop))
        await until(lambda: any(r.sensor == "kg.level" and r.quality.value == "good" for r in readings), "a reading")
        node.kill()
        await until(lambda: failures() >= 1, "a heartbeat counting the node's failures")
        await until(lambda: any(r.quality.value == "read_failure" for r in readings), "a read_failure reading")
        node.set_sensors([(2222, -3, 0), (57, -1, 0)])
        node.start()
        await until(lambda: any(r.value == 2.222 for r in readings), "readings after the node came back")
        stop.set()
        await running

    try:
        asyncio.run(scenario())
    finally:
        client.loop_stop()
    level = [r for r in readings if r.sensor == "kg.level"]
    assert {r.unit for r in level} == {"m"} and {r.station for r in level} == {"kien_giang"}
    assert {r.quality.value for r in level} >= {"good", "read_failure"}


def test_floodwatch_edge_node_identifies_and_shows_live_readings(node_line: tuple[str, SimulatedNode]) -> None:
    port, _ = node_line
    result = runner.invoke(app, ["node", port, "--polls", "2", "--interval-s", "0"])
    assert result.exit_code == 0, result.output
    assert "fb-ref-level serial SIM-0001, firmware 1.0.0 (confirmed), protocol 1" in result.output
    assert "heartbeat_s 10" in result.output and "channel_count 2" in result.output
    assert result.output.count("1.234") == 2 and "5.7" in result.output
    assert re.search(r"line: \d+ frames good, 0 CRC errors, 0 framing errors", result.output)


def test_floodwatch_edge_node_on_a_silent_port_says_so_in_one_line(tmp_path: Path) -> None:
    with PtyPair(tmp_path, "silent") as pair:
        result = runner.invoke(app, ["node", pair.master_end, "--timeout-ms", "50", "--polls", "1"])
    assert result.exit_code == 2
    assert "IDENTIFY: no response in 3 × 0.05 s: check the port" in result.output
    assert "Traceback" not in result.output


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.sampled_from(["--polls", "--interval-s", "--timeout-ms", "--baud", "-1", "0", "x", "5", ""]), max_size=4
    )
)
@example(["--baud", "-1"])  # once printed a traceback (pyserial refused it after the checks)
def test_floodwatch_edge_node_never_prints_a_traceback(arguments: list[str]) -> None:
    result = runner.invoke(app, ["node", "/nonexistent/tty", *arguments])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_floodwatch_edge_node_update_switches_and_confirms(
    node_line: tuple[str, SimulatedNode], tmp_path: Path
) -> None:
    port, _ = node_line
    image = tmp_path / "fw-1.2.0.bin"
    image.write_bytes(sim_image((1, 2, 0), size=2000))
    result = runner.invoke(app, ["node-update", port, str(image), "--version", "1.2.0", "--report-in-s", "10"])
    assert result.exit_code == 0, result.output
    assert "firmware 1.0.0 -> 1.2.0" in result.output
    assert "firmware 1.2.0 reported in and is confirmed" in result.output
    after = runner.invoke(app, ["node", port, "--polls", "1"])
    assert "firmware 1.2.0 (confirmed)" in after.output


def test_floodwatch_edge_node_update_says_when_the_node_rolled_back(
    node_line: tuple[str, SimulatedNode], tmp_path: Path
) -> None:
    port, _ = node_line
    image = tmp_path / "fw-bad.bin"
    image.write_bytes(sim_image((1, 3, 0), size=1000, hang=True))  # never reaches its UART
    result = runner.invoke(app, ["node-update", port, str(image), "--version", "1.3.0", "--report-in-s", "10"])
    assert result.exit_code == 2
    output = " ".join(result.output.split())  # rich wraps long lines
    assert "the new image did not report in; the node rolled back (running 1.0.0 again)" in output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [(["--version", "1.2"], "expected MAJOR.MINOR.PATCH"), (["--version", "1.2.300"], "expected MAJOR.MINOR.PATCH")],
)
def test_floodwatch_edge_node_update_refuses_a_bad_version(tmp_path: Path, arguments: list[str], message: str) -> None:
    image = tmp_path / "fw.bin"
    image.write_bytes(b"x")
    result = runner.invoke(app, ["node-update", "/nonexistent/tty", str(image), *arguments])
    assert result.exit_code == 2 and message in result.output

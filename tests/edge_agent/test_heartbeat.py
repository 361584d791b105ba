"""The gateway's retained status: a heartbeat with its figures, and `offline` as the last will."""

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import yaml

from devstack.replay_data import Series
from devstack.services import Mosquitto, free_port
from devstack.station_sim import ReplayClock, StationSimulator
from edge_agent.agent import Agent
from edge_agent.config import GatewayConfig
from hardware_specs import load_profiles
from wire_contract import GatewayStatus, decode_status, status_topic

PROFILES = load_profiles()


def _listen(broker: Mosquitto, topic: str, seen: list[GatewayStatus]) -> mqtt.Client:
    client = broker.client("monitor")
    client.on_message = lambda _c, _u, m: seen.append(decode_status(bytes(m.payload)))
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def _beats(seen: list[GatewayStatus]) -> list[GatewayStatus]:
    """The heartbeats sent after the first polls (the first `online` comes before any)."""
    return [s for s in list(seen) if s.state == "online" and s.uptime_s and s.uptime_s > 0.2]


async def _until(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "not within the timeout"
        await asyncio.sleep(0.02)


def _config(gateway: str, broker: Mosquitto, live_port: int, buffer: Path) -> dict[str, object]:
    device = {"profile": "river_level_radar", "station": "s", "poll_s": 0.1, "timeout_ms": 100, "retries": 0}
    return {
        "gateway_id": gateway,
        "mqtt": broker.gateway_mqtt(gateway),
        "publish": {"heartbeat_s": 0.3},
        "buffer": {"path": str(buffer)},
        "devices": [
            device | {"name": "live", "transport": {"host": "127.0.0.1", "port": live_port}, "sensors": {"level": "a"}},
            device
            | {"name": "dead", "transport": {"host": "127.0.0.1", "port": free_port()}, "sensors": {"level": "b"}},
        ],
    }


def test_heartbeat_reports_buffer_devices_and_clock(mosquitto: Mosquitto, unique_name: str, tmp_path: Path) -> None:
    gateway = f"gw-{unique_name}"
    seen: list[GatewayStatus] = []
    listener = _listen(mosquitto, status_topic(gateway), seen)

    async def scenario() -> None:
        station = await StationSimulator(
            PROFILES["river_level_radar"], Series("x", (0.0,), (1.5,)), ReplayClock(0, 1), free_port()
        ).start()
        config = GatewayConfig.model_validate(_config(gateway, mosquitto, station.port, tmp_path / "b.sqlite"))
        agent, stop = Agent(config, PROFILES), asyncio.Event()
        running = asyncio.create_task(agent.run(stop))
        await _until(lambda: len(_beats(seen)) >= 2 and _beats(seen)[-1].device_errors.get("dead", 0) >= 3)
        stop.set()
        await running
        await station.stop()
        await _until(lambda: seen[-1].state == "offline")

    try:
        asyncio.run(scenario())
    finally:
        listener.loop_stop()
    beats = _beats(seen)
    assert len(beats) >= 2
    beat = beats[-1]
    assert beat.device_errors["dead"] >= 3 and beat.device_errors["live"] == 0
    assert beat.buffer_depth is not None and beat.disk_free_mb and beat.disk_free_mb > 0
    assert beat.clock_synced in (True, False) and (beat.clock_synced or beat.clock_problem)
    assert beat.load_1m is not None and beat.dropped_readings == {}
    assert seen[-1].state == "offline"  # a clean stop says so itself


def test_the_broker_publishes_offline_when_the_gateway_dies(
    mosquitto: Mosquitto, unique_name: str, tmp_path: Path
) -> None:
    gateway = f"gw-{unique_name}"
    config = _config(gateway, mosquitto, free_port(), tmp_path / "b.sqlite")
    config["mqtt"] = mosquitto.gateway_mqtt(gateway) | {"keepalive_s": 5}
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    seen: list[GatewayStatus] = []
    listener = _listen(mosquitto, status_topic(gateway), seen)
    edge = str(Path(sys.executable).parent / "floodwatch-edge")
    agent = subprocess.Popen([edge, "run", str(path)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not any(s.state == "online" for s in seen) and time.monotonic() < deadline:
            time.sleep(0.1)
        agent.send_signal(signal.SIGKILL)
        agent.wait()
        deadline = time.monotonic() + 15  # the broker notices within 1.5 keepalives
        while seen[-1].state != "offline" and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        listener.loop_stop()
        if agent.poll() is None:
            agent.kill()
    assert seen[-1].state == "offline" and seen[-1].uptime_s is None  # the will, not a heartbeat


def test_a_device_not_attempted_for_three_poll_periods_is_reported(mosquitto: Mosquitto, unique_name: str) -> None:
    """A peer that takes the request and never answers, with a timeout of 20 poll periods: the
    device's poll is stuck inside one request, and the heartbeat says so before the timeout."""

    async def scenario() -> list[str]:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # takes every request, answers none
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        device = {"name": "stuck", "profile": "river_level_radar", "station": "s", "poll_s": 0.1,
                  "timeout_ms": 2000, "retries": 0, "transport": {"host": "127.0.0.1", "port": port},
                  "sensors": {"level": "s.level"}}  # fmt: skip
        config = GatewayConfig.model_validate(
            {"gateway_id": f"gw-{unique_name}", "mqtt": mosquitto.gateway_mqtt(f"gw-{unique_name}"),
             "buffer": {"in_memory": True}, "devices": [device]}
        )  # fmt: skip
        agent, stop = Agent(config, PROFILES), asyncio.Event()
        running = asyncio.create_task(agent.run(stop, flush_timeout_s=2, stop_grace_s=0.5))
        while not agent.publisher.connected:  # the buffer is open, the heartbeat can be read
            await asyncio.sleep(0.01)
        states = []
        deadline = time.monotonic() + 1.5  # well inside the 2 s timeout
        while time.monotonic() < deadline and "not_attempted" not in states:
            states.append((await agent.status("online")).devices["stuck"].state)
            await asyncio.sleep(0.05)
        stop.set()
        await running
        server.close()
        await server.wait_closed()
        return states

    states = asyncio.run(scenario())
    assert states[0] == "polling" and states[-1] == "not_attempted"

"""systemd's notify protocol from `floodwatch-edge run`: READY, the watchdog's pings from the
event loop, STOPPING, and an exit within the bound after SIGTERM; a real process, a real
datagram socket where systemd's would be."""

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from devstack.services import Mosquitto, free_port
from edge_agent.watchdog import Notifier

EDGE = str(Path(sys.executable).parent / "floodwatch-edge")


def _messages(sock: socket.socket, until: str, timeout_s: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while until not in seen:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            seen.append(sock.recv(256).decode())
        except TimeoutError:
            raise AssertionError(f"no {until} within {timeout_s} s; got {seen}") from None
    return seen


def test_ready_pings_stopping_and_a_bounded_stop(tmp_path: Path, mosquitto: Mosquitto, unique_name: str) -> None:
    device = {"name": "d", "profile": "river_level_radar", "station": "s", "poll_s": 0.2, "timeout_ms": 5000,
              "transport": {"host": "127.0.0.1", "port": free_port()}, "sensors": {"level": "s.level"}}  # fmt: skip
    config = {
        "gateway_id": f"gw-{unique_name}",
        "mqtt": mosquitto.gateway_mqtt(f"gw-{unique_name}"),
        "devices": [device],
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    notify = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(notify))
        env = {"NOTIFY_SOCKET": str(notify), "WATCHDOG_USEC": "200000", "PATH": "/usr/bin:/bin"}
        agent = subprocess.Popen([EDGE, "run", str(path)], env=env, stderr=subprocess.DEVNULL)
        try:
            seen = _messages(sock, "READY=1", 20)
            pings = _messages(sock, "WATCHDOG=1", 5) + _messages(sock, "WATCHDOG=1", 5)
            assert pings.count("WATCHDOG=1") >= 2
            agent.send_signal(signal.SIGTERM)
            stopped_at = time.monotonic()
            seen = _messages(sock, "STOPPING=1", 5)
            # The poll in hand waits on a device that never answers (5 s timeout): the stop does not.
            assert agent.wait(timeout=20) == 0
            assert time.monotonic() - stopped_at < 10
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
    assert "STOPPING=1" in seen


def test_outside_systemd_the_notifier_does_nothing() -> None:
    notifier = Notifier({})
    assert notifier.ping_interval_s is None
    notifier.ready()  # no socket: nothing sent, nothing raised
    assert Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}).ping_interval_s is None  # another process's
    assert Notifier({"WATCHDOG_USEC": "30000000"}).ping_interval_s == 15

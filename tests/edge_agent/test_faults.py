"""Faults injected under a running gateway, on real serial lines (socat ptys) served by
pymodbus, with the real Mosquitto: the port's line settings refused (`termios.error`),
the port vanishing mid-run (EIO) and returning, the port locked by another process, a
device answering "server device busy", and a task that crashes.

In each, the device on the other bus keeps its cadence (no gap between its good
readings longer than `CADENCE_LIMIT_S`), the fault is named in the status heartbeat
by the second heartbeat after the first failed read, and the faulty device recovers
by itself when the fault is lifted. Every phase waits on what the centre sees.
"""

import asyncio
import contextlib
import errno
import fcntl
import itertools
import os
import signal
import subprocess
import termios
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from devstack.replay_data import Series
from devstack.serial_line import PtyPair, RtuStations
from devstack.services import Mosquitto
from devstack.station_sim import ReplayClock, StationSimulator
from edge_agent.agent import Agent
from edge_agent.config import GatewayConfig
from hardware_specs import load_profiles
from wire_contract import (
    CONTENT_TYPES,
    FailureReason,
    GatewayStatus,
    PayloadForm,
    Quality,
    Reading,
    decode_status,
    decode_telemetry,
    status_topic,
    telemetry_topic,
)

PROFILES = load_profiles()
POLL_S = 0.25
HEARTBEAT_S = 0.3
CADENCE_LIMIT_S = 4 * POLL_S
WAIT_S = 15.0


@dataclass
class Centre:
    """What a subscriber at the centre sees of one gateway: its statuses and its readings."""

    statuses: list[tuple[float, GatewayStatus]] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)

    def on_message(self, _client: object, _userdata: object, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/status"):
            self.statuses.append((time.monotonic(), decode_status(bytes(message.payload))))
        else:  # the form is announced in the MQTT 5 content type
            content_type = message.properties.ContentType  # type: ignore[union-attr]
            assert content_type == CONTENT_TYPES[PayloadForm.packed]
            self.readings += decode_telemetry(bytes(message.payload), content_type).readings

    def heartbeats_since(self, since: float) -> list[GatewayStatus]:
        return [s for at, s in self.statuses if at >= since and s.state == "online" and s.devices]

    def good(self, sensor: str, after_ms: int = 0) -> list[Reading]:
        return [r for r in self.readings if r.sensor == sensor and r.quality is Quality.good and r.ts_ms > after_ms]


async def until(condition: Callable[[], object], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        await asyncio.sleep(0.02)


@dataclass
class Site:
    """Two RS-485 buses: `steady` on one, `faulty` on the other, and a gateway polling both."""

    folder: Path
    centre: Centre
    agent: Agent
    faulty_pair: PtyPair
    faulty_server: RtuStations | None = None

    async def serve_faulty(self) -> None:
        station = StationSimulator(PROFILES["river_level_radar"], Series("f", (0.0,), (2.5,)), ReplayClock(0, 1), 0)
        self.faulty_server = await RtuStations([station], self.faulty_pair.device_end, baud=19200).start()

    async def unplug(self) -> None:
        """The faulty bus's adapter pulled while it works: socat killed (EIO), the port gone."""
        await until(lambda: self.centre.good("f.level"), "the faulty device reads good first")
        await self.stop_faulty_server()
        vanished_ms = _now_ms()
        self.faulty_pair.__exit__(None, None, None)
        await self.fault_is_named(FailureReason.port_missing, vanished_ms)

    async def stop_faulty_server(self) -> None:
        if self.faulty_server is not None:
            await self.faulty_server.stop()
            self.faulty_server = None

    def faulty_status(self, status: GatewayStatus) -> FailureReason | None:
        return status.devices["faulty"].last_error

    async def fault_is_named(self, reason: FailureReason, since_failure_ms: int) -> None:
        """By the second heartbeat after the faulty device's first failed read (one that met the
        wire or the port: not a quarantined one, which waits out a backoff), its status names `reason`."""
        first_failure: list[float] = []

        def failed() -> bool:
            if not first_failure and any(
                r.sensor == "f.level"
                and r.quality is Quality.read_failure
                and r.reason is not FailureReason.quarantined
                and r.ts_ms >= since_failure_ms
                for r in self.centre.readings
            ):
                first_failure.append(time.monotonic())
            return bool(first_failure)

        await until(failed, "a failed read of the faulty device reaches the centre")
        # The failure was stamped before it reached us: count heartbeats from a little before.
        start = first_failure[0] - 2 * HEARTBEAT_S
        await until(
            lambda: any(self.faulty_status(s) is reason for s in self.centre.heartbeats_since(start)),
            f"a heartbeat names {reason}",
        )
        beats = self.centre.heartbeats_since(start)
        named = next(i for i, s in enumerate(beats) if self.faulty_status(s) is reason)
        assert named <= 3, f"named only by heartbeat {named + 1} after the failure"
        # The fault holds for a while: the other bus goes on meanwhile.
        polled = len(self.centre.good("s.level"))
        await until(lambda: len(self.centre.good("s.level")) >= polled + 6, "the steady device goes on polling")

    async def recovers(self, after_ms: int) -> None:
        await until(lambda: self.centre.good("f.level", after_ms), "the faulty device reads good again")
        since = time.monotonic()
        await until(
            lambda: any(s.devices["faulty"].state == "polling" for s in self.centre.heartbeats_since(since)),
            "a heartbeat shows the faulty device polling again",
        )

    def assert_steady_cadence(self) -> None:
        steady = sorted(r.ts_ms for r in self.centre.good("s.level"))
        assert len(steady) > 4
        gaps = [(b - a) / 1000 for a, b in itertools.pairwise(steady)]
        assert max(gaps) < CADENCE_LIMIT_S, f"the steady device went quiet for {max(gaps):.2f} s"
        assert not [r for r in self.centre.readings if r.sensor == "s.level" and r.quality is not Quality.good]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@contextlib.asynccontextmanager
async def site(
    tmp_path: Path, mosquitto: Mosquitto, gateway: str, before_start: Callable[[str], None] | None = None
) -> AsyncIterator[Site]:
    centre = Centre()
    listener = mosquitto.client("monitor", protocol=mqtt.MQTTv5)
    listener.on_message = centre.on_message
    listener.connect("127.0.0.1", mosquitto.port)
    listener.subscribe([(status_topic(gateway), 1), (telemetry_topic(gateway), 1)])
    listener.loop_start()
    device = {"profile": "river_level_radar", "station": "x", "poll_s": POLL_S, "timeout_ms": 100, "retries": 0}
    with PtyPair(tmp_path, "steady") as steady_pair, PtyPair(tmp_path, "faulty") as faulty_pair:
        station = StationSimulator(PROFILES["river_level_radar"], Series("s", (0.0,), (1.5,)), ReplayClock(0, 1), 0)
        steady_server = await RtuStations([station], steady_pair.device_end, baud=19200).start()
        config = GatewayConfig.model_validate(
            {
                "gateway_id": gateway,
                "mqtt": mosquitto.gateway_mqtt(gateway),
                "publish": {"heartbeat_s": HEARTBEAT_S, "max_wait_ms": 50},
                "buffer": {"path": str(tmp_path / "buffer.sqlite"), "synchronous": "normal"},
                "bus": {"quarantine_max_s": 1},
                "devices": [
                    device
                    | {
                        "name": name,
                        "transport": {"kind": "serial", "port": pair.master_end, "baud": 19200},
                        "sensors": {"level": f"{name[0]}.level"},
                    }
                    for name, pair in (("steady", steady_pair), ("faulty", faulty_pair))
                ],
            }
        )
        here = Site(tmp_path, centre, Agent(config, PROFILES), faulty_pair)
        await here.serve_faulty()
        if before_start is not None:
            before_start(faulty_pair.master_end)
        stop = asyncio.Event()
        running = asyncio.create_task(here.agent.run(stop, flush_timeout_s=5, stop_grace_s=1))
        try:
            yield here
        finally:
            stop.set()
            await running
            await here.stop_faulty_server()
            await steady_server.stop()
            listener.loop_stop()


class RefusedSettings:
    """`termios.tcsetattr` refusing the line settings of one port, as a driver does
    (a USB adapter resetting while it is opened): the only stand-in in these tests."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, port: str) -> None:
        self.port = os.path.realpath(port)
        self.active = True
        real = termios.tcsetattr

        def tcsetattr(fd: int, when: int, attributes: list[object]) -> None:
            if self.active and os.path.realpath(f"/proc/self/fd/{fd}") == self.port:
                raise termios.error(22, "Invalid argument")
            real(fd, when, attributes)

        monkeypatch.setattr(termios, "tcsetattr", tcsetattr)


def test_refused_line_settings_at_open_are_named_and_the_other_bus_keeps_polling(
    tmp_path: Path, mosquitto: Mosquitto, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> Site:
        async with site(tmp_path, mosquitto, f"gw-{unique_name}") as here:
            refused = RefusedSettings(monkeypatch, here.faulty_pair.master_end)
            await here.fault_is_named(FailureReason.port_settings_refused, 0)
            refused.active = False
            await here.recovers(_now_ms())
            return here

    asyncio.run(scenario()).assert_steady_cadence()


def test_a_port_that_vanishes_mid_run_and_returns(tmp_path: Path, mosquitto: Mosquitto, unique_name: str) -> None:
    """socat killed under the gateway: EIO on the open port, then the port is missing; it returns."""

    async def scenario() -> Site:
        async with site(tmp_path, mosquitto, f"gw-{unique_name}") as here:
            await here.unplug()
            here.faulty_pair.__enter__()  # and plugged in again, at the same path
            await here.serve_faulty()
            await here.recovers(_now_ms())
            reasons = [r.reason for r in here.centre.readings if r.sensor == "f.level" and r.reason is not None]
            # The open port failed with EIO first, then it was missing until it returned.
            assert reasons.index(FailureReason.port_error) < reasons.index(FailureReason.port_missing)
            return here

    asyncio.run(scenario()).assert_steady_cadence()


def test_a_port_locked_by_another_process(tmp_path: Path, mosquitto: Mosquitto, unique_name: str) -> None:
    holders: list[subprocess.Popen[bytes]] = []

    def lock(port: str) -> None:  # before the gateway opens the port: flock(1), in its own process
        holders.append(subprocess.Popen(["flock", "--exclusive", port, "sleep", "60"], start_new_session=True))
        deadline = time.monotonic() + WAIT_S
        while not _locked(port):
            assert time.monotonic() < deadline, "flock did not take the port"
            time.sleep(0.01)

    async def scenario() -> Site:
        async with site(tmp_path, mosquitto, f"gw-{unique_name}", before_start=lock) as here:
            await here.fault_is_named(FailureReason.port_locked, 0)
            os.killpg(holders[0].pid, signal.SIGTERM)  # flock and its sleep, which holds the lock too
            holders[0].wait()
            await here.recovers(_now_ms())
            return here

    try:
        asyncio.run(scenario()).assert_steady_cadence()
    finally:
        for holder in holders:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(holder.pid, signal.SIGKILL)
            holder.wait()


def test_a_busy_device_is_named_in_modbus_words(tmp_path: Path, mosquitto: Mosquitto, unique_name: str) -> None:
    async def scenario() -> Site:
        async with site(tmp_path, mosquitto, f"gw-{unique_name}") as here:
            await until(lambda: here.centre.good("f.level"), "the faulty device reads good first")
            assert here.faulty_server is not None
            here.faulty_server.stations[0].fail_reads = True
            busy_ms = _now_ms()
            await here.fault_is_named(FailureReason.server_device_busy, busy_ms)
            detail = [s.devices["faulty"].last_error_detail for s in here.centre.heartbeats_since(0)]
            assert "server device busy (exception 6)" in detail
            here.faulty_server.stations[0].fail_reads = False
            await here.recovers(_now_ms())
            return here

    asyncio.run(scenario()).assert_steady_cadence()


def _locked(port: str) -> bool:
    fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_crashing_poll_loop_is_restarted_and_shown(
    tmp_path: Path, mosquitto: Mosquitto, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in a poll loop (here: its poll raises twice) kills the loop; the supervisor restarts it."""

    async def scenario() -> Site:
        async with site(tmp_path, mosquitto, f"gw-{unique_name}") as here:
            await until(lambda: here.centre.good("f.level"), "the faulty device reads good first")
            (poller,) = [p for p in here.agent.pollers if p.device.name == "faulty"]
            real, crashes = poller.poll, [RuntimeError("bug one"), RuntimeError("bug two")]

            async def poll() -> list[Reading]:
                if crashes:
                    raise crashes.pop(0)
                return await real()

            monkeypatch.setattr(poller, "poll", poll)
            since = time.monotonic()
            await until(
                lambda: any(s.tasks["poll-faulty"].restarts == 2 for s in here.centre.heartbeats_since(since)),
                "the heartbeat shows the poll loop restarted twice",
            )
            (beat,) = [s for s in here.centre.heartbeats_since(since) if s.tasks["poll-faulty"].restarts == 2][:1]
            assert beat.tasks["poll-faulty"].last_error == "RuntimeError: bug two"
            await here.recovers(_now_ms())
            return here

    asyncio.run(scenario()).assert_steady_cadence()


class OpenFails:
    """`os.open` of one port failing with `errno`: the stand-in for EIO at open (an adapter
    resetting) and for EACCES (the tests run as root, whom no file mode stops)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, port: str, error: int) -> None:
        self.port = os.path.realpath(port)
        self.active = True
        real = os.open

        def fake_open(path: str, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
            if self.active and os.path.realpath(path) == self.port:
                raise OSError(error, os.strerror(error), path)
            return real(path, flags, mode, dir_fd=dir_fd)

        monkeypatch.setattr(os, "open", fake_open)


@pytest.mark.parametrize(
    ("error", "reason"), [(errno.EIO, FailureReason.port_error), (errno.EACCES, FailureReason.permission_denied)]
)
def test_a_port_that_fails_to_open_is_named(
    tmp_path: Path,
    mosquitto: Mosquitto,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
    error: int,
    reason: FailureReason,
) -> None:
    async def scenario() -> Site:
        async with site(tmp_path, mosquitto, f"gw-{unique_name}") as here:
            failing = OpenFails(monkeypatch, here.faulty_pair.master_end, error)
            await here.fault_is_named(reason, 0)
            failing.active = False
            await here.recovers(_now_ms())
            return here

    asyncio.run(scenario()).assert_steady_cadence()


def test_line_settings_refused_when_a_vanished_port_returns(
    tmp_path: Path, mosquitto: Mosquitto, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """termios.error mid-run: the adapter comes back but refuses its settings for a while."""

    async def scenario() -> Site:
        async with site(tmp_path, mosquitto, f"gw-{unique_name}") as here:
            await here.unplug()
            here.faulty_pair.__enter__()
            refused = RefusedSettings(monkeypatch, here.faulty_pair.master_end)
            await here.serve_faulty()
            await here.fault_is_named(FailureReason.port_settings_refused, _now_ms())
            refused.active = False
            await here.recovers(_now_ms())
            return here

    asyncio.run(scenario()).assert_steady_cadence()

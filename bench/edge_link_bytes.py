"""Payload bytes per reading on the gateway's 4G link: the JSON form against the packed form.

    .venv/bin/python bench/edge_link_bytes.py [seconds per run]

20 stations (Modbus TCP pymodbus servers in a process of their own, river levels that
move), each read for level, air gap and installation height every 5 s: 720 readings a
minute, as in the side-by-side with the ThingsBoard IoT Gateway (about 29 bytes per
reading there; 153 here before the packed form). `floodwatch-edge run` publishes to a
real Mosquitto; a subscriber counts the telemetry payload bytes and the readings in them.
Each form runs with the default `max_wait_ms` (500 ms: a batch soon after each poll)
and with 5000 ms (a batch per poll cycle). Aim: at most 25 payload bytes per reading.
"""

import asyncio
import multiprocessing
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from devstack.replay_data import Series
from devstack.services import Mosquitto, free_port
from devstack.station_sim import ReplayClock, StationSimulator
from hardware_specs import load_profiles
from wire_contract import decode_telemetry, telemetry_topic

STATIONS = 20
POLL_S = 5


def serve_moving_rivers(ports: list[int]) -> None:
    """One station per port; each river wanders by centimetres, 60x faster than real time."""
    profile = load_profiles()["river_level_radar"]
    rng = random.Random(7)

    async def forever() -> None:
        for n, port in enumerate(ports):
            level, times, values = 1.0 + n / 10, [], []
            for minute in range(0, 24 * 60):
                level = max(0.0, level + rng.uniform(-0.03, 0.03))
                times.append(minute * 60.0)
                values.append(round(level, 3))
            series = Series(f"river{n}", tuple(times), tuple(values))
            await StationSimulator(profile, series, ReplayClock(0, 60), port).start()
        await asyncio.Event().wait()

    asyncio.run(forever())


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.payload_bytes = 0
        self.readings = 0
        self.batches = 0

    def on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        content_type = getattr(message.properties, "ContentType", None)
        readings = len(decode_telemetry(bytes(message.payload), content_type).readings)
        with self.lock:
            self.payload_bytes += len(message.payload)
            self.readings += readings
            self.batches += 1


def run(root: Path, broker: Mosquitto, ports: list[int], form: str, max_wait_ms: int, seconds: float) -> Counter:
    gateway = f"gw-bytes-{form}-{max_wait_ms}"
    devices = [
        {"name": f"d{i}", "profile": "river_level_radar", "station": f"st{i:02}", "poll_s": POLL_S,
         "transport": {"kind": "tcp", "host": "127.0.0.1", "port": port},
         "sensors": {"level": f"st{i:02}.level", "air_gap": f"st{i:02}.air_gap",
                     "install_height": f"st{i:02}.install_height"}}
        for i, port in enumerate(ports)
    ]  # fmt: skip
    config = {"gateway_id": gateway, "mqtt": {"port": broker.port}, "devices": devices,
              "publish": {"payload": form, "max_wait_ms": max_wait_ms},
              "buffer": {"path": str(root / f"{gateway}.sqlite"), "synchronous": "normal"}}  # fmt: skip
    path = root / f"{gateway}.yaml"
    path.write_text(yaml.safe_dump(config))
    counter = Counter()
    listener = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    listener.on_message = counter.on_message
    listener.connect("127.0.0.1", broker.port)
    listener.subscribe(telemetry_topic(gateway), qos=1)
    listener.loop_start()
    edge = str(Path(sys.executable).parent / "floodwatch-edge")
    agent = subprocess.Popen([edge, "run", str(path)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while counter.readings < 3 * STATIONS:  # warm-up: connected, the first poll through
            assert time.monotonic() < deadline, "no telemetry from the gateway"
            time.sleep(0.1)
        with counter.lock:
            counter.payload_bytes = counter.readings = counter.batches = 0
        time.sleep(seconds)
        with counter.lock:
            measured = Counter()
            measured.payload_bytes, measured.readings, measured.batches = (
                counter.payload_bytes,
                counter.readings,
                counter.batches,
            )
    finally:
        agent.terminate()
        agent.wait(30)
        listener.loop_stop()
    return measured


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30
    ports = [free_port() for _ in range(STATIONS)]
    stations = multiprocessing.Process(target=serve_moving_rivers, args=(ports,), daemon=True)
    stations.start()
    results: dict[tuple[str, int], Counter] = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        root.chmod(0o777)
        broker = Mosquitto(root).start()
        try:
            for max_wait_ms in (500, 5000):
                for form in ("json", "packed"):
                    results[form, max_wait_ms] = run(root, broker, ports, form, max_wait_ms, seconds)
        finally:
            broker.stop()
            stations.terminate()
    print(f"{STATIONS} stations x 3 registers every {POLL_S} s, real agent and Mosquitto, {seconds:g} s per run")
    print(f"{'form':8} {'max_wait_ms':>11} {'readings':>9} {'batches':>8} {'bytes':>9} {'B/reading':>10} {'B/min':>9}")
    for (form, max_wait_ms), c in results.items():
        per = c.payload_bytes / max(c.readings, 1)
        per_min = c.payload_bytes / seconds * 60
        counts = f"{c.readings:>9} {c.batches:>8} {c.payload_bytes:>9}"
        print(f"{form:8} {max_wait_ms:>11} {counts} {per:>10.1f} {per_min:>9.0f}")
    for max_wait_ms in (500, 5000):
        j, p = results["json", max_wait_ms], results["packed", max_wait_ms]
        ratio = (j.payload_bytes / max(j.readings, 1)) / (p.payload_bytes / max(p.readings, 1))
        print(f"max_wait_ms {max_wait_ms}: packed is {ratio:.1f}x smaller per reading than JSON (aim: <= 25 B)")


if __name__ == "__main__":
    main()

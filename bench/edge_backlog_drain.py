"""Backlog drain after a 24-hour outage of 20 devices polled every 5 s (345,600 readings),
while live readings keep flowing: readings per second from the gateway's disk buffer to
InfluxDB, through the real Mosquitto and ingest.

    .venv/bin/python bench/edge_backlog_drain.py [hours]

The buffer is filled as the outage would have left it (20 sensors, one reading each
every 5 s, stamped over the last `hours`), then `floodwatch-edge run` starts with the
link up. Prints the drain rate, and how old the newest live reading in InfluxDB was
while the backlog drained (the centre must see the present at once).
"""

import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from devstack.services import InfluxDB, Mosquitto, free_port
from devstack.station_sim import serve_steady_stations
from edge_agent.buffer import DiskBuffer, Row
from ingest import IngestConfig, IngestService
from wire_contract import Quality, Reading

DEVICES = 20
POLL_S = 5


def fill(path: Path, hours: float) -> int:
    buffer = DiskBuffer(path, 4 << 30, synchronous="normal").open()
    now_ms = int(time.time() * 1000)
    polls = int(hours * 3600 / POLL_S)
    start_ms = now_ms - polls * POLL_S * 1000
    for first in range(0, polls, 500):
        rows = []
        for k in range(first, min(first + 500, polls)):
            for i in range(DEVICES):
                ts = start_ms + k * POLL_S * 1000
                reading = Reading(sensor=f"s{i}.level", station=f"s{i}", quantity="water_level", value=1 + k / 1e5,
                                  unit="m", ts_ms=ts, quality=Quality.good, clock_synced=True)  # fmt: skip
                rows.append(Row(9, ts, reading.model_dump_json().encode()))
        buffer.add(rows)
    buffer.close()
    return polls * DEVICES


def main() -> None:
    hours = float(sys.argv[1]) if len(sys.argv) > 1 else 24.0
    ports = [free_port() for _ in range(DEVICES)]
    stations = multiprocessing.Process(
        target=serve_steady_stations, args=("river_level_radar", ports, 2.5), daemon=True
    )
    stations.start()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        root.chmod(0o777)
        backlog = fill(root / "buffer.sqlite", hours)
        broker, influx = Mosquitto(root).start(), InfluxDB(root, auth=False).start()
        ingest = IngestService(
            IngestConfig.model_validate(
                {"broker": {"port": broker.port}, "influx": {"url": influx.url, "database": "drain"},
                 "dead_letter_file": str(root / "dead.jsonl"), "max_batch_messages": 200}
            )
        ).start()  # fmt: skip
        ingest.consumer.connected.wait(10)
        devices = [
            {"name": f"d{i}", "profile": "river_level_radar", "station": f"s{i}", "poll_s": POLL_S,
             "transport": {"kind": "tcp", "host": "127.0.0.1", "port": port}, "sensors": {"level": f"s{i}.level"}}
            for i, port in enumerate(ports)
        ]  # fmt: skip
        config = {
            "gateway_id": "gw-drain", "mqtt": {"port": broker.port}, "devices": devices,
            "publish": {"max_batch": 1000, "max_inflight": 8, "backlog_rate_per_s": 100_000},
            "buffer": {"path": str(root / "buffer.sqlite"), "max_mb": 4096},
        }  # fmt: skip
        (root / "gateway.yaml").write_text(yaml.safe_dump(config))
        edge = str(Path(sys.executable).parent / "floodwatch-edge")
        started = time.monotonic()
        agent = subprocess.Popen([edge, "run", str(root / "gateway.yaml")], stderr=subprocess.DEVNULL)
        live_ages: list[float] = []
        try:
            stored = 0
            while stored < backlog and time.monotonic() - started < 1800:
                time.sleep(2)
                rows = ingest.influx.query("SELECT count(value) FROM water_level WHERE value < 2")
                stored = int(rows[0]["values"][0][1]) if rows else 0
                newest = ingest.influx.query("SELECT last(value) FROM water_level WHERE value = 2.5")
                if newest and stored < backlog:
                    live_ages.append(time.time() - newest[0]["values"][0][0] / 1000)
            elapsed = time.monotonic() - started
        finally:
            agent.terminate()
            agent.wait(60)
            ingest.stop()
            influx.stop()
            broker.stop()
            stations.terminate()
    print(f"Backlog of {backlog} readings ({hours:g} h x {DEVICES} devices every {POLL_S} s), live polling on")
    print(f"  drained to InfluxDB in {elapsed:6.1f} s: {backlog / elapsed:8.0f} readings/s (buffer -> MQTT -> ingest)")
    if live_ages:
        print(f"  newest live reading in InfluxDB during the drain: at most {max(live_ages):.1f} s old")


if __name__ == "__main__":
    main()

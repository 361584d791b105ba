"""Agent resident memory and CPU at steady state with 20 devices polled every 5 s.

    .venv/bin/python bench/edge_footprint.py [seconds]

20 pymodbus stations (Modbus TCP, in a process of their own), a real Mosquitto, and
`floodwatch-edge run` as its own process with a disk buffer. After a warm-up, reads
the agent's RSS and CPU time from /proc. Aim: under 60 MB and under 3 % of one core
(a Pi Zero 2 W).
"""

import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from devstack.services import Mosquitto, free_port
from devstack.station_sim import serve_steady_stations

DEVICES = 20


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60
    ports = [free_port() for _ in range(DEVICES)]
    stations = multiprocessing.Process(
        target=serve_steady_stations, args=("river_level_radar", ports, 2.5), daemon=True
    )
    stations.start()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        root.chmod(0o777)
        broker = Mosquitto(root).start()
        devices = [
            {"name": f"d{i}", "profile": "river_level_radar", "station": f"s{i}", "poll_s": 5,
             "transport": {"kind": "tcp", "host": "127.0.0.1", "port": port}, "sensors": {"level": f"s{i}.level"}}
            for i, port in enumerate(ports)
        ]  # fmt: skip
        config = {"gateway_id": "gw-bench", "mqtt": {"port": broker.port}, "devices": devices,
                  "buffer": {"path": str(root / "buffer.sqlite")}}  # fmt: skip
        (root / "gateway.yaml").write_text(yaml.safe_dump(config))
        edge = str(Path(sys.executable).parent / "floodwatch-edge")
        agent = subprocess.Popen([edge, "run", str(root / "gateway.yaml")], stderr=subprocess.DEVNULL)
        try:
            time.sleep(10)  # warm-up: imports, connections, first polls
            cpu_start, wall_start = cpu_s(agent.pid), time.monotonic()
            peak = 0.0
            while time.monotonic() - wall_start < seconds:
                time.sleep(1)
                peak = max(peak, rss_mb(agent.pid))
            cpu = (cpu_s(agent.pid) - cpu_start) / (time.monotonic() - wall_start)
        finally:
            agent.terminate()
            agent.wait(30)
            broker.stop()
            stations.terminate()
    print(f"Agent with {DEVICES} Modbus TCP devices polled every 5 s, disk buffer, Mosquitto, {seconds:g} s")
    print(f"  resident memory (peak): {peak:5.1f} MB   (aim < 60 MB)")
    print(f"  CPU:                    {cpu * 100:5.2f} % of one core   (aim < 3 %)")


if __name__ == "__main__":
    main()

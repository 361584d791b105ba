"""50 operators' pages polling the board and the warnings list, 1,000 stations: p50 and p99.

    .venv/bin/python bench/ioc_board_poll.py [--clients 50] [--stations 1000] [--seconds 20]

Starts Mosquitto and InfluxDB, writes an alarm-level table of `stations` stations and a
latest water level for each, then serves `floodwatch-ioc run` in its own process, once on
SQLite and once on PostgreSQL (Debian's, started here), each database holding 200
active and 2,000 past warnings. `clients` concurrent clients (asyncio, one keep-alive
connection each, one process) each poll GET /api/stations then GET /api/warnings?active=true: first paced (each
client every `interval_s`, five times as often as the page polls), then flat out (back to
back, the saturation point: there latency is clients / throughput). The two back-ends are
printed side by side. The aim: p99 < 50 ms. Server and clients share this machine's two
cores, so the flat-out figures are the pair's, not the server's alone.
"""

import argparse
import asyncio
import os
import random
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy as sa
import yaml

from centre.influx import InfluxV1
from centre.line_protocol import Point
from devstack.ioc_process import IocProcess
from devstack.services import InfluxDB, Mosquitto, PostgreSQL, free_port
from ioc.accounts import Role, add_user
from ioc.database import migrate, open_engine, session_factory
from ioc.lifecycle import take_transition
from wire_contract import WarningMessage

PASSWORD = "benchmark-password"


def alarm_levels(path: Path, stations: int) -> list[str]:
    ids = [f"st_{n:04d}" for n in range(stations)]
    entries = [
        {
            "station": sid,
            "river": f"river {n % 40}",
            "display_name": f"Station {n}",
            "bd1_m": 1.0,
            "bd2_m": 2.0,
            "bd3_m": 3.0,
            "source": "benchmark",
            "effective_from": "2020-01-01",
        }
        for n, sid in enumerate(ids)
    ]
    path.write_text(yaml.safe_dump({"stations": entries}))
    return ids


def seed_database(url: str, ids: list[str]) -> None:
    engine = open_engine(url)
    migrate(engine)
    sessions = session_factory(engine)
    now = int(time.time() * 1000)
    with sessions.begin() as db:
        add_user(db, "bench", PASSWORD, Role.viewer, actor="bench")
        for n in range(2200):
            station = ids[n % len(ids)]
            rule = f"{station}_level_{n // len(ids)}"
            ts = now - (2200 - n) * 60_000
            for level, previous, at in ((1 + n % 3, 0, ts), (0, 1 + n % 3, ts + 1000)):
                if n < 2000 or level > 0:  # the last 200 stay active
                    message = WarningMessage(
                        warning_id=f"{rule}:{station}.level:{at}:{previous}->{level}",
                        rule=rule,
                        station=station,
                        sensor=f"{station}.level",
                        level=level,
                        previous_level=previous,
                        value=1.5,
                        ts_ms=at,
                        thresholds_m=(1.0, 2.0, 3.0),
                        thresholds_source="benchmark",
                    )
                    take_transition(db, message)
    engine.dispose()


class KeepAlive:
    """One client's HTTP/1.1 keep-alive connection, kept minimal so that the load generator
    costs little CPU beside the server (httpx spent more CPU reading the 218 kB board than
    the server spent serving it, and the clients' queue showed as latency)."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        assert self.reader is not None
        request = f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {self.token}\r\n\r\n"
        self.writer.write(request.encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def poll(port: int, token: str, clients: int, seconds: float, interval_s: float | None) -> dict[str, list[float]]:
    """Each client polls both lists every `interval_s` (from a random offset), or back to back if None."""
    latencies: dict[str, list[float]] = {"board": [], "warnings": []}
    deadline = time.monotonic() + seconds

    async def one_client() -> None:
        connection = KeepAlive("127.0.0.1", port, token)
        if interval_s is not None:
            await asyncio.sleep(random.uniform(0, interval_s))
        try:
            while time.monotonic() < deadline:
                began = time.monotonic()
                for name, path in (("board", "/api/stations"), ("warnings", "/api/warnings?active=true")):
                    start = time.perf_counter()
                    status = await connection.get(path)
                    latencies[name].append((time.perf_counter() - start) * 1000)
                    if status != 200:
                        raise RuntimeError(f"GET {path}: HTTP {status}")
                if interval_s is not None:
                    await asyncio.sleep(max(0.0, began + interval_s - time.monotonic()))
        finally:
            connection.close()

    await asyncio.gather(*(one_client() for _ in range(clients)))
    return latencies


def run_backend(name: str, db_url: str, args: argparse.Namespace, root: Path, services: dict[str, object]) -> dict:
    ids = alarm_levels(root / "levels.yaml", args.stations)
    seed_database(db_url, ids)
    port = free_port()
    influx: InfluxDB = services["influx"]  # type: ignore[assignment]
    mosquitto: Mosquitto = services["mosquitto"]  # type: ignore[assignment]
    server = IocProcess(
        root,
        f"ioc-{name}",
        {
            "database": {"url": db_url},
            "broker": {"port": mosquitto.port, "client_id": f"bench-ioc-{name}"},
            "influx": {"url": influx.url, "database": "bench", "latest_refresh_s": 5},
            "http": {"port": port},
            "alarm_levels": str(root / "levels.yaml"),
        },
    ).start()
    try:
        time.sleep(6)  # the first refresh of the latest readings has run
        login = httpx.post(f"{server.url}/api/login", json={"username": "bench", "password": PASSWORD})
        token = login.raise_for_status().headers["x-session-token"]
        asyncio.run(poll(port, token, 5, 2, None))  # warm up
        paced = asyncio.run(poll(port, token, args.clients, args.seconds, args.interval_s))
        flat_out = asyncio.run(poll(port, token, args.clients, args.seconds, None))
    finally:
        server.stop()
    figures: dict[str, float] = {}
    for phase, latencies in (("paced", paced), ("flat_out", flat_out)):
        figures[f"{phase}: requests/s"] = sum(len(v) for v in latencies.values()) / args.seconds
        for endpoint, values in latencies.items():
            figures[f"{phase}: {endpoint} p50 ms"] = float(np.percentile(values, 50))
            figures[f"{phase}: {endpoint} p99 ms"] = float(np.percentile(values, 99))
    return {name: figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--interval-s", type=float, default=1.0, help="paced phase: each client polls this often")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-ioc-"))
    mosquitto = Mosquitto(root).start()
    influx = InfluxDB(root, auth=False).start()
    postgres = PostgreSQL(root).start()
    try:
        client = InfluxV1(influx.url, "bench")
        client.create_database()
        now = int(time.time() * 1000)
        client.write(
            [
                Point(
                    "water_level",
                    {"station": f"st_{n:04d}", "sensor": f"st_{n:04d}.level", "gateway": "gw"},
                    {"value": 0.5 + (n % 30) / 10, "quality": "good"},
                    now - 60_000,
                )
                for n in range(args.stations)
            ]
        )
        client.close()
        admin = sa.create_engine(postgres.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text('CREATE DATABASE "bench"'))
        admin.dispose()
        services = {"influx": influx, "mosquitto": mosquitto}
        results: dict[str, dict] = {}
        results |= run_backend("sqlite", f"sqlite:///{root / 'ioc.sqlite'}", args, root, services)
        results |= run_backend("postgresql", postgres.url.rsplit("/", 1)[0] + "/bench", args, root, services)
    finally:
        postgres.stop()
        influx.stop()
        mosquitto.stop()
    print(
        f"{args.clients} clients, {args.stations} stations, {args.seconds:g} s per phase, cores: {os.cpu_count()}; "
        f"paced: each client polls both every {args.interval_s:g} s; flat out: back to back"
    )
    print(f"{'':34}{'SQLite':>10}{'PostgreSQL':>12}{'PG/SQLite':>11}")
    for key, a in results["sqlite"].items():
        b = results["postgresql"][key]
        print(f"{key:34}{a:>10.1f}{b:>12.1f}{b / a:>10.2f}x")


if __name__ == "__main__":
    main()

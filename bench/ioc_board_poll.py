"""50 operators' pages polling the board and the warnings list, 1,000 stations: p50 and p99.

    .venv/bin/python bench/ioc_board_poll.py [--clients 50] [--stations 1000] [--seconds 20]

Starts Mosquitto and InfluxDB, writes an alarm-level table of `stations` stations and a
latest water level for each, then serves `floodwatch-ioc run` in its own process, once on
SQLite and once on PostgreSQL (Debian's, started here), each database holding 200
active and 2,000 past warnings. `clients` concurrent clients (asyncio + httpx, one
process) each poll GET /api/stations then GET /api/warnings?active=true, back to back,
for `seconds`; the two back-ends are printed side by side. The aim: p99 < 50 ms.
Server and clients share this machine's two cores.
"""

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy as sa
import yaml

from centre.influx import InfluxV1
from centre.line_protocol import Point
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


def serve(config: Path, log: Path) -> subprocess.Popen[bytes]:
    script = Path(sys.executable).parent / "floodwatch-ioc"
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(script), "run", "--config", str(config), "--log-level", "WARNING"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def poll(url: str, clients: int, seconds: float) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {"board": [], "warnings": []}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        login = await client.post("/api/login", json={"username": "bench", "password": PASSWORD})
        login.raise_for_status()
        deadline = time.monotonic() + seconds

        async def one_client() -> None:
            while time.monotonic() < deadline:
                for name, path in (("board", "/api/stations"), ("warnings", "/api/warnings?active=true")):
                    start = time.perf_counter()
                    response = await client.get(path)
                    latencies[name].append((time.perf_counter() - start) * 1000)
                    response.raise_for_status()

        await asyncio.gather(*(one_client() for _ in range(clients)))
    return latencies


def run_backend(name: str, db_url: str, args: argparse.Namespace, root: Path, services: dict[str, object]) -> dict:
    ids = alarm_levels(root / "levels.yaml", args.stations)
    seed_database(db_url, ids)
    port = free_port()
    influx: InfluxDB = services["influx"]  # type: ignore[assignment]
    mosquitto: Mosquitto = services["mosquitto"]  # type: ignore[assignment]
    config = root / f"ioc-{name}.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": {"url": db_url},
                "broker": {"port": mosquitto.port, "client_id": f"bench-ioc-{name}"},
                "influx": {"url": influx.url, "database": "bench", "latest_refresh_s": 5},
                "http": {"port": port},
                "alarm_levels": str(root / "levels.yaml"),
            }
        )
    )
    process = serve(config, root / f"ioc-{name}.log")
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"floodwatch-ioc did not start; see {root}/ioc-{name}.log")
            time.sleep(0.1)
        time.sleep(6)  # the first refresh of the latest readings has run
        asyncio.run(poll(url, 5, 2))  # warm up
        latencies = asyncio.run(poll(url, args.clients, args.seconds))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    return {
        name: {
            "requests": sum(len(v) for v in latencies.values()),
            **{f"{k}_p50": float(np.percentile(v, 50)) for k, v in latencies.items()},
            **{f"{k}_p99": float(np.percentile(v, 99)) for k, v in latencies.items()},
        }
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-ioc-"))
    mosquitto = Mosquitto(root).start()
    influx = InfluxDB(root).start()
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
    print(f"{args.clients} clients, {args.stations} stations, {args.seconds:g} s each, cores: {os.cpu_count()}")
    print(f"{'':24}{'SQLite':>12}{'PostgreSQL':>12}{'PG/SQLite':>11}")
    for key in ("requests", "board_p50", "board_p99", "warnings_p50", "warnings_p99"):
        a, b = results["sqlite"][key], results["postgresql"][key]
        unit = "" if key == "requests" else " ms"
        print(f"{key + unit:24}{a:>12.1f}{b:>12.1f}{b / a:>10.2f}x")


if __name__ == "__main__":
    main()

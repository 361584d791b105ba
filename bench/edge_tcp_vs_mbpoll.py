"""Modbus TCP poll rate: the gateway's reader against Debian's mbpoll (C, libmodbus),
reading the same 3 registers from the same pymodbus server, side by side in one run.

    .venv/bin/python bench/edge_tcp_vs_mbpoll.py [reads]

Prints reads per second of each and the ratio (aim: gateway >= 0.8 x mbpoll). Both
are bound by the pymodbus server; the ratio shows what our client side costs.
"""

import asyncio
import multiprocessing
import shutil
import socket
import subprocess
import sys
import time

from devstack.replay_data import Series
from devstack.services import free_port
from devstack.station_sim import ReplayClock, StationSimulator
from edge_agent.poller import TcpReader
from hardware_specs import load_profiles


async def gateway_reads(port: int, reads: int) -> float:
    reader = TcpReader.for_address("127.0.0.1", port, 1, 1.0)
    await reader.read("holding", 0, 3)  # connect
    started = time.perf_counter()
    for _ in range(reads):
        await reader.read("holding", 0, 3)
    elapsed = time.perf_counter() - started
    await reader.close()
    return reads / elapsed


def mbpoll_reads(port: int, reads: int) -> float:
    # One process, one connection: the slave list repeats unit 1, so one poll cycle makes `reads` requests.
    argv = ["mbpoll", "-m", "tcp", "-p", str(port), "-a", ",".join(["1"] * reads), "-0", "-r", "0", "-c", "3"]
    argv += ["-1", "-t", "4", "127.0.0.1"]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    assert done.stdout.count("[0]:") == reads, done.stdout[-500:]
    return reads / elapsed


def serve(port: int) -> None:
    radar = load_profiles()["river_level_radar"]

    async def forever() -> None:
        await StationSimulator(radar, Series("l", (0.0,), (4.88,)), ReplayClock(0, 1), port).start()
        await asyncio.Event().wait()

    asyncio.run(forever())


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def main() -> None:
    reads = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    if shutil.which("mbpoll") is None:
        sys.exit("mbpoll not found: scripts/bootstrap installs it")
    port = free_port()
    # The server in a process of its own: neither client shares its interpreter.
    server = multiprocessing.Process(target=serve, args=(port,), daemon=True)
    server.start()
    try:
        wait_listening(port)
        rates: dict[str, list[float]] = {"mbpoll": [], "gateway": []}
        for _ in range(3):  # alternate, best of three each
            rates["mbpoll"].append(mbpoll_reads(port, reads))
            rates["gateway"].append(asyncio.run(gateway_reads(port, reads)))
    finally:
        server.terminate()
        server.join()
    mb, gw = max(rates["mbpoll"]), max(rates["gateway"])
    print(f"Modbus TCP, {reads} reads of 3 holding registers, same pymodbus server, best of 3")
    print(f"  mbpoll (libmodbus, C): {mb:8.0f} reads/s")
    print(f"  floodwatch gateway   : {gw:8.0f} reads/s")
    print(f"  ratio gateway/mbpoll : {gw / mb:8.2f}  (aim >= 0.80)")


if __name__ == "__main__":
    main()

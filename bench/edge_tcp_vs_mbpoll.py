"""Modbus TCP poll rate: the gateway's reader against Debian's mbpoll (C, libmodbus),
reading the same 3 holding registers from the same pymodbus server, side by side in one run.

    .venv/bin/python bench/edge_tcp_vs_mbpoll.py [reads] [rounds]

Both clients make `reads` requests, one at a time, on one connection, alternating round
by round; each figure is the best of `rounds` (and the spread over the rounds is shown).
Both are bound by the pymodbus server; the ratio shows what our client side costs.

Like with like:
- mbpoll runs as a process of its own: its start, connect and exit (about 20 ms, some
  10% of a 2000-read run) are measured with a one-read run and subtracted, as the
  gateway's connect is left out of its timing.
- `raw requests` is `TcpReader.read` alone: frame, send, await, check and unpack the
  words, about what mbpoll does (it also prints the words). This is the ratio to aim
  at (>= 0.8 x mbpoll).
- `full poll` is `DevicePoller.poll()` for the radar's level and air gap, which plan to
  the same one request: plus the clock stamp, decoding to metres, quality and `Reading`s.
- `poll + store` adds what the agent does with each poll's readings: JSON rows committed
  to the buffer (in memory here, so no fsync; on its thread) and the publisher told.
  mbpoll does neither; these two lines are the gateway's own cost, not a like-for-like ratio.
"""

import asyncio
import multiprocessing
import shutil
import socket
import subprocess
import sys
import time

from devstack.services import free_port
from devstack.station_sim import serve_steady_stations
from edge_agent.agent import Agent
from edge_agent.config import BufferConfig, Device, GatewayConfig, TcpTransport
from edge_agent.poller import DevicePoller, TcpReader
from hardware_specs import load_profiles

PROFILE = "river_level_radar"
SENSORS = {"level": "bench.level", "air_gap": "bench.air_gap"}  # holding 0..2: one request of 3 registers


def device(port: int) -> Device:
    return Device(
        name="radar",
        profile=PROFILE,
        station="bench",
        transport=TcpTransport(host="127.0.0.1", port=port),
        timeout_ms=1000,
        retries=0,
        sensors=SENSORS,
    )


async def raw_reads(port: int, reads: int) -> float:
    reader = TcpReader.for_address("127.0.0.1", port, 1, 1.0)
    await reader.read("holding", 0, 3)  # connect
    started = time.perf_counter()
    for _ in range(reads):
        await reader.read("holding", 0, 3)
    elapsed = time.perf_counter() - started
    await reader.close()
    return reads / elapsed


async def full_polls(port: int, reads: int) -> float:
    poller = DevicePoller(device(port), load_profiles()[PROFILE])
    assert [(r.table, r.address, r.count) for r in poller.requests] == [("holding", 0, 3)]
    await poller.poll()  # connect
    started = time.perf_counter()
    for _ in range(reads):
        await poller.poll()
    elapsed = time.perf_counter() - started
    await poller.close()
    return reads / elapsed


async def stored_polls(port: int, reads: int) -> float:
    config = GatewayConfig(gateway_id="bench-gw", buffer=BufferConfig(in_memory=True), devices=(device(port),))
    agent = Agent(config, load_profiles())
    (poller,) = agent.pollers
    await agent.buffer.open()
    await agent.store(poller.device, await poller.poll())  # connect
    started = time.perf_counter()
    for _ in range(reads):
        await agent.store(poller.device, await poller.poll())
    elapsed = time.perf_counter() - started
    await poller.close()
    await agent.buffer.close()
    assert agent.stored_readings == 2 * (reads + 1)
    return reads / elapsed


def mbpoll_seconds(port: int, reads: int) -> float:
    # One process, one connection: the slave list repeats unit 1, so one poll cycle makes `reads` requests.
    argv = ["mbpoll", "-m", "tcp", "-p", str(port), "-a", ",".join(["1"] * reads), "-0", "-r", "0", "-c", "3"]
    argv += ["-1", "-t", "4", "127.0.0.1"]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    assert done.stdout.count("[0]:") == reads, done.stdout[-500:]
    return elapsed


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
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    if shutil.which("mbpoll") is None:
        sys.exit("mbpoll not found: scripts/bootstrap installs it")
    port = free_port()
    # The server in a process of its own: neither client shares its interpreter.
    server = multiprocessing.Process(target=serve_steady_stations, args=(PROFILE, [port], 4.88), daemon=True)
    server.start()
    try:
        wait_listening(port)
        startup_s = min(mbpoll_seconds(port, 1) for _ in range(3))  # start, connect, one read, exit
        runs: dict[str, list[float]] = {"mbpoll": [], "raw": [], "full": [], "stored": []}
        for _ in range(rounds):  # alternate, best of `rounds` each
            runs["mbpoll"].append((reads - 1) / (mbpoll_seconds(port, reads) - startup_s))
            runs["raw"].append(asyncio.run(raw_reads(port, reads)))
            runs["full"].append(asyncio.run(full_polls(port, reads)))
            runs["stored"].append(asyncio.run(stored_polls(port, reads)))
    finally:
        server.terminate()
        server.join()
    mb = max(runs["mbpoll"])

    def line(label: str, key: str) -> str:
        best, worst = max(runs[key]), min(runs[key])
        return f"  {label:<34}{best:8.0f} reads/s  (rounds {worst:.0f}..{best:.0f})  x{best / mb:.2f}"

    print(f"Modbus TCP, {reads} sequential reads of 3 holding registers, same pymodbus server, best of {rounds}")
    print(line("mbpoll (libmodbus, C)", "mbpoll") + f"  [{startup_s * 1000:.0f} ms process start subtracted]")
    print(line("gateway raw requests (TcpReader)", "raw") + "  <- like for like (aim >= 0.80)")
    print(line("gateway full poll (readings)", "full") + "  decoding + quality: mbpoll does none")
    print(line("gateway poll + store (buffer)", "stored") + "  + JSON rows into the buffer")


if __name__ == "__main__":
    main()

"""Poll -> warning on MQTT over the demo's replay, with the rule service's batch window at 200 ms and at 20 ms.

    .venv/bin/python bench/warning_latency.py [--from ISO] [--to ISO] [--speedup 7200] [--poll-s 0.25]

Each run is the demo's whole stack (`devstack.stack.FloodStack`: simulated stations,
two gateways with their default publish settings, Mosquitto, ingest, the rule service,
InfluxDB), replaying the same span of October 2020. A warning carries the time of the
reading that decided it, which the gateway stamps when the station's response arrived
(its wall clock); a subscriber on the warnings topic notes when each warning arrives.
The difference is poll -> warning: the gateway's batching wait, the broker, and the
rule service (its batch window, evaluation, commit, InfluxDB write, publish).
"""

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devstack.stack import FloodStack
from wire_contract import WARNINGS_TOPIC, decode_warning


async def run(args: argparse.Namespace, window_ms: int) -> list[float]:
    root = Path(tempfile.mkdtemp(prefix="warning-bench-"))
    stack = FloodStack(
        root, datetime.fromisoformat(args.start), datetime.fromisoformat(args.end), args.speedup, args.poll_s,
        rules_batch_window_ms=window_ms,
    )  # fmt: skip
    delays: list[float] = []
    stack.start_centre()
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.on_message = lambda _c, _u, m: delays.append(time.time() - decode_warning(m.payload).ts_ms / 1000)
    client.on_connect = lambda c, *_: c.subscribe(WARNINGS_TOPIC, qos=1)
    client.connect("127.0.0.1", stack.mosquitto.port)
    client.loop_start()
    try:
        await stack.start_stations()
        while not stack.replay_done:
            await asyncio.sleep(0.2)
        await stack.stop_stations()
        stack.wait_until_ingested()
    finally:
        client.loop_stop()
        stack.stop_centre()
        shutil.rmtree(root, ignore_errors=True)
    return delays


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--from", dest="start", default="2020-10-06T00:00:00+07:00")
    parser.add_argument("--to", dest="end", default="2020-11-01T00:00:00+07:00")
    parser.add_argument("--speedup", type=float, default=7200.0)
    parser.add_argument("--poll-s", type=float, default=0.25)
    args = parser.parse_args()
    print(f"replay {args.start} -> {args.end} at {args.speedup:g}x, poll every {args.poll_s} s")
    print(f"{'batch window':>14}{'warnings':>10}{'p50 ms':>9}{'max ms':>9}")
    for window_ms in (200, 20):
        delays = [d * 1000 for d in asyncio.run(run(args, window_ms))]
        median = statistics.median(delays) if delays else float("nan")
        print(f"{window_ms:>11} ms{len(delays):>10}{median:>9.0f}{max(delays, default=float('nan')):>9.0f}", flush=True)


if __name__ == "__main__":
    main()

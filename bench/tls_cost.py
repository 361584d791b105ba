"""What TLS and authentication cost: ingest throughput and gateway CPU, plain against TLS,
side by side in one run.

    .venv/bin/python bench/tls_cost.py [--messages 20000] [--gateway-s 15] [--rounds 2]

Each round starts one Mosquitto per mode on the same machine and InfluxDB: `plain` (no TLS,
anonymous, as before issue 15) and `tls` (TLS 1.2+, passwords, ACLs from the registry: the
default now). In each mode:

1. ingest drain: `floodwatch-ingest run` (a real process) drains a backlog of `--messages`
   telemetry messages published by 500 simulated gateways (bench/ingest_throughput.py's
   `drain`: readings/s from launch to the last point visible, CPU per 1,000 readings of
   ingest, mosquitto and influxd).
2. gateway CPU: the edge agent's own store-and-forward path (`BufferedGateway`: disk buffer,
   aiomqtt publisher, acknowledgements from ingest) publishes 20 readings every 50 ms for
   `--gateway-s` seconds; CPU seconds of this process (it holds only the gateway) per
   1,000 readings confirmed.
Rounds alternate the modes so drift of a shared machine falls on both.
"""

import argparse
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ingest_throughput import Ours, drain, stage  # bench/ is the script's directory

from broker_access.directory import AccessDirectory
from broker_access.registry import Role, ServiceAccount
from centre.influx import InfluxV1
from devstack.buffered_gateway import BufferedGateway
from devstack.services import InfluxDB, Mosquitto

MODES = ("plain", "tls")


def process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def gateway_cpu(broker: Mosquitto, root: Path, seconds: float, name: str) -> dict[str, float]:
    gateway = BufferedGateway(name, broker, root / f"{name}.sqlite", readings_per_tick=20, tick_s=0.05)
    gateway.start()
    deadline = time.monotonic() + 30
    while not gateway.publisher.connected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: the gateway did not connect")
        time.sleep(0.05)
    cpu0, confirmed0 = process_cpu_s(), gateway.publisher.confirmed_readings
    time.sleep(seconds)  # a steady load for a fixed time: this is what is measured
    cpu, confirmed = process_cpu_s() - cpu0, gateway.publisher.confirmed_readings - confirmed0
    gateway.close()
    return {"confirmed_readings": confirmed, "gateway_cpu_ms_per_1k": cpu / confirmed * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--gateways", type=int, default=500)
    parser.add_argument("--readings", type=int, default=10, help="readings per message")
    parser.add_argument("--gateway-s", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    args.workers, args.writers, args.max_batch = 1, 2, 500
    args.inflight = 4 * args.max_batch
    root = Path(tempfile.mkdtemp(prefix="tls-bench-"))
    access = AccessDirectory(root / "access")
    access.init(["127.0.0.1"], extra_services=[ServiceAccount(name="harness", role=Role.HARNESS)])
    influxd = InfluxDB(root, auth=False).start()
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    try:
        for round_number in range(args.rounds):
            for mode in MODES if round_number % 2 == 0 else reversed(MODES):
                where = root / f"{mode}-{round_number}"
                where.mkdir()
                broker = Mosquitto(
                    where, max_inflight_messages=args.inflight, access=access if mode == "tls" else None
                ).start()
                database = f"bench_{mode}_{round_number}"
                influx = InfluxV1(influxd.url, database)
                influx.create_database()
                consumer = Ours(where, broker, influxd.url, database, args)
                try:
                    result = drain(consumer, broker, influxd, influx, args, args.messages)
                    stage(f"{mode}: gateway CPU for {args.gateway_s} s")
                    consumer.start()  # acknowledgements for the gateway
                    result |= gateway_cpu(broker, where, args.gateway_s, f"cpu-{mode}-{round_number}")
                finally:
                    consumer.stop()
                    broker.stop()
                print(mode, round_number, json.dumps(result), flush=True)
                results[mode].append(result)
    finally:
        influxd.stop()
        shutil.rmtree(root, ignore_errors=True)
    report(results)


def report(results: dict[str, list[dict[str, float]]]) -> None:
    rows = [
        ("ingest drain, readings/s", "readings_per_s"),
        ("ingest CPU, ms per 1k readings", "consumer_cpu_ms_per_1k"),
        ("mosquitto CPU, ms per 1k readings", "mosquitto_cpu_ms_per_1k"),
        ("gateway CPU, ms per 1k readings", "gateway_cpu_ms_per_1k"),
    ]
    print(f"\n{'median of ' + str(len(results['plain'])) + ' rounds':38} {'plain':>10} {'tls':>10} {'tls/plain':>10}")
    for label, key in rows:
        plain = statistics.median(r[key] for r in results["plain"])
        tls = statistics.median(r[key] for r in results["tls"])
        print(f"{label:38} {plain:10.1f} {tls:10.1f} {tls / plain:10.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

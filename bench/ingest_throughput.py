"""Ingest throughput, ours against two baselines, side by side in one run.

    .venv/bin/python bench/ingest_throughput.py [--gateways 500] [--readings 10] [--messages 30000]
                                                [--baseline-messages 3000] [--live-s 15] [--workers 1]

Real Mosquitto and InfluxDB 1.6 (devstack), real processes: `floodwatch-ingest run` (ours,
with end-to-end acknowledgements to the gateways, the bounded queue and dead letters on)
and bench/ingest_baseline.py twice: a paho callback writing each message as it arrives,
and a batching consumer shaped like Telegraf's mqtt_consumer -> influxdb output (up to
5,000 lines a write, flushed every second, acknowledged after the write). For each:

1. drain: the consumer's session exists, it is stopped, the simulated gateways publish a
   backlog into the broker, the consumer starts; readings/s from its launch to the last point
   visible (less its start-up time without a backlog), and CPU seconds of the consumer,
   influxd and mosquitto per 1,000 readings.
2. live: the gateways publish at 70 % of that drain rate for `--live-s` seconds (ours also
   at the baseline's rate, for latency at equal load) while a probe polls InfluxDB for points
   per 20 ms of their stamps: the latency of a reading is when the probe first saw it minus
   its stamp (an upper bound; its resolution is the probe period, printed at the end).
After each phase the points are counted: every published reading must be there once.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from centre.influx import InfluxV1
from devstack.services import InfluxDB, Mosquitto, free_port

BENCH = Path(__file__).resolve().parent
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def count(influx: InfluxV1) -> int:
    series = influx.query('SELECT count("value") FROM "water_level"')
    return int(series[0]["values"][0][1]) if series else 0


class Ours:
    name = "ours (floodwatch-ingest)"

    def __init__(self, root: Path, broker: Mosquitto, influx_url: str, database: str, args: argparse.Namespace) -> None:
        workers = args.workers
        self.configs = []
        for n in range(workers):
            port = free_port()
            config = root / f"ingest-{n}.yaml"
            group = {"shared_group": "bench" if workers > 1 else None}
            config.write_text(
                f"broker: {json.dumps(broker.broker_config('ingest', f'bench-ingest-{n}') | group)}\n"
                f"influx: {{url: '{influx_url}', database: {database}}}\n"
                f"metrics: {{port: {port}}}\n"
                "storage: {manage: false}\n"
                f"max_batch_messages: {args.max_batch}\nmax_inflight_messages: {args.inflight}\n"
                f"writers: {args.writers}\nflush_ms: 100\n"
                f"dead_letter_file: {root / f'dl-{n}.jsonl'}\n"
            )
            self.configs.append((config, port))
        self.log = (root / "ours.log").open("ab")
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        exe = shutil.which("floodwatch-ingest", path=str(Path(sys.executable).parent)) or "floodwatch-ingest"
        for config, _ in self.configs:
            argv = [exe, "run", "--config", str(config), "--log-level", "WARNING"]
            self.processes.append(subprocess.Popen(argv, stdout=self.log, stderr=self.log))
        for _, port in self.configs:
            deadline = time.monotonic() + 30
            while not self._connected(port):
                if time.monotonic() > deadline:
                    raise RuntimeError("ingest did not connect; see ours.log")
                time.sleep(0.1)

    @staticmethod
    def _connected(port: int) -> bool:
        try:
            return bool(httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()["mqtt_connected"])
        except httpx.HTTPError:
            return False

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            process.wait(30)
        self.processes = []


class Baseline:
    name = "baseline (paho callback, one write per message)"

    def __init__(self, root: Path, broker: Mosquitto, influx_url: str, database: str, batch_lines: int = 0) -> None:
        self.argv = [
            sys.executable, str(BENCH / "ingest_baseline.py"), "--port", str(broker.port),
            "--influx-url", influx_url, "--database", database, "--client-id", f"bench-baseline-{batch_lines}",
            "--batch-lines", str(batch_lines), "--flush-s", "1.0",
        ]  # fmt: skip
        if batch_lines:
            self.name = f"batching baseline (Telegraf's shape: {batch_lines} lines a write, flushed every 1 s)"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != b"ready":
            raise RuntimeError("baseline did not subscribe")

    def pids(self) -> list[int]:
        return [self.process.pid] if self.process else []

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


def publish(broker: Mosquitto, args: argparse.Namespace, messages: int, rate: float = 0.0) -> dict[str, float]:
    argv = [
        sys.executable, str(BENCH / "ingest_gateways.py"), "--port", str(broker.port), "--gateways",
        str(args.gateways), "--readings", str(args.readings), "--messages", str(messages), "--rate", str(rate),
    ]  # fmt: skip
    if broker.access is not None:  # TLS and the harness account
        argv += ["--ca-file", str(broker.access.ca_path), "--username", "harness",
                 "--password-file", str(broker.access.secret_path("harness"))]  # fmt: skip
    return json.loads(subprocess.run(argv, check=True, capture_output=True).stdout)  # type: ignore[no-any-return]


def wait_count(influx: InfluxV1, expected: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while count(influx) < expected:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def drain(consumer: Ours | Baseline, broker: Mosquitto, influxd: InfluxDB, influx: InfluxV1,
          args: argparse.Namespace, messages: int) -> dict[str, float]:  # fmt: skip
    """Time and CPU from launching the consumer to the last point visible, less its start-up without a backlog."""
    stage(f"{consumer.name}: registering the session")
    launched = time.monotonic()
    consumer.start()  # the persistent session and its subscription now exist
    startup_s = time.monotonic() - launched
    startup_cpu = sum(cpu_s(pid) for pid in consumer.pids())
    consumer.stop()
    before = count(influx)
    stage(f"{consumer.name}: publishing a backlog of {messages} messages")
    published = publish(broker, args, messages)
    expected = before + int(published["readings"])
    stage(f"{consumer.name}: draining {published}")
    services = [influxd.process.pid, broker.process.pid]  # type: ignore[union-attr]
    cpu0 = {pid: cpu_s(pid) for pid in services}
    launched = time.monotonic()
    consumer.start()
    if not wait_count(influx, expected, 600):
        raise RuntimeError(f"{consumer.name}: drain incomplete, {count(influx)} of {expected}")
    elapsed = time.monotonic() - launched - startup_s
    cpu = {pid: cpu_s(pid) - start for pid, start in cpu0.items()}
    consumer_cpu = sum(cpu_s(pid) for pid in consumer.pids()) - startup_cpu
    drained = expected - before
    per_k = 1000 / drained
    return {
        "readings": published["readings"],
        "readings_per_s": drained / elapsed,
        "startup_s": startup_s,
        "consumer_cpu_ms_per_1k": consumer_cpu * per_k * 1000,
        "influxd_cpu_ms_per_1k": cpu[services[0]] * per_k * 1000,
        "mosquitto_cpu_ms_per_1k": cpu[services[1]] * per_k * 1000,
        "stored": count(influx) - before,
    }


class LatencyProbe:
    """Polls points per 20 ms of stamp; a reading's latency = first poll that saw it - its stamp."""

    def __init__(self, influx: InfluxV1, since_ms: int) -> None:
        self.influx = influx
        self.since_ms = since_ms
        self.seen: dict[int, int] = {}
        self.samples: list[tuple[float, int]] = []  # (latency s, readings)
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "LatencyProbe":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            series = self.influx.query(
                f'SELECT count("value") FROM "water_level" WHERE time >= {self.since_ms}ms AND time > now() - 15s '
                "GROUP BY time(20ms) fill(none)"
            )
            now = time.time()
            self.polls += 1
            for bucket_ms, n in series[0]["values"] if series else []:
                new = n - self.seen.get(bucket_ms, 0)
                if new > 0:
                    self.seen[bucket_ms] = n
                    self.samples.append((now - (bucket_ms + 10) / 1000, new))
            self._stop.wait(0.05)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.samples)
        total = sum(n for _, n in ordered)
        running = 0
        for latency, n in ordered:
            running += n
            if running >= q * total:
                return latency
        return float("nan")


def live(consumer: Ours | Baseline, broker: Mosquitto, influx: InfluxV1, args: argparse.Namespace,
         rate: float) -> dict[str, float]:  # fmt: skip
    before = count(influx)
    messages = int(rate * args.live_s / args.readings)
    stage(f"{consumer.name}: live at {rate:.0f} readings/s")
    probe = LatencyProbe(influx, time.time_ns() // 1_000_000).start()
    cpu0 = sum(cpu_s(pid) for pid in consumer.pids())
    published = publish(broker, args, messages, rate)
    complete = wait_count(influx, before + int(published["readings"]), 120)
    time.sleep(0.3)
    probe.stop()
    cpu = sum(cpu_s(pid) for pid in consumer.pids()) - cpu0
    probed = sum(n for _, n in probe.samples)
    return {
        "offered_readings_per_s": rate,
        "published_readings_per_s": published["readings"] / published["seconds"],
        "complete": float(complete),
        "stored": count(influx) - before,
        "readings": published["readings"],
        "latency_p50_s": probe.percentile(0.5),
        "latency_p99_s": probe.percentile(0.99),
        "probed_share": probed / max(published["readings"], 1),
        "probe_period_s": (args.live_s / max(probe.polls, 1)),
        "consumer_cpu_ms_per_1k": cpu / published["readings"] * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateways", type=int, default=500)
    parser.add_argument("--readings", type=int, default=10, help="readings per message")
    parser.add_argument("--messages", type=int, default=30_000, help="backlog for ours")
    parser.add_argument("--baseline-messages", type=int, default=3_000, help="backlog for the baseline")
    parser.add_argument("--live-s", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=1, help="ingest processes in a shared group")
    parser.add_argument("--writers", type=int, default=2, help="writer threads per ingest process")
    parser.add_argument("--max-batch", type=int, default=500, help="messages per write")
    parser.add_argument("--inflight", type=int, default=0, help="messages unacknowledged at once (0: 4 batches)")
    parser.add_argument("--only", choices=["all", "ours", "baseline", "batching"], default="all")
    args = parser.parse_args()
    args.inflight = args.inflight or 4 * args.max_batch
    root = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    broker = Mosquitto(root, max_inflight_messages=max(2000, args.inflight)).start()
    influxd = InfluxDB(root, auth=False).start()
    results: dict[str, dict[str, dict[str, float]]] = {}
    try:
        for key, make, messages in (
            ("baseline", lambda db: Baseline(root, broker, influxd.url, db), args.baseline_messages),
            ("batching", lambda db: Baseline(root, broker, influxd.url, db, 5000), args.messages),
            ("ours", lambda db: Ours(root, broker, influxd.url, db, args), args.messages),
        ):
            if args.only not in ("all", key):
                continue
            influx = InfluxV1(influxd.url, f"bench_{key}")
            influx.create_database()
            consumer = make(f"bench_{key}")
            try:
                results[key] = {"drain": drain(consumer, broker, influxd, influx, args, messages)}
                print(key, "drain", json.dumps(results[key]["drain"]), flush=True)
                if args.live_s > 0:  # the consumer goes on running from the drain
                    rate = 0.7 * results[key]["drain"]["readings_per_s"]
                    results[key]["live"] = live(consumer, broker, influx, args, rate)
                    print(key, "live", json.dumps(results[key]["live"]), flush=True)
                    if key == "ours" and "baseline" in results:  # the same offered load as the baseline's
                        rate = results["baseline"]["live"]["offered_readings_per_s"]
                        results[key]["live_at_baseline_rate"] = live(consumer, broker, influx, args, rate)
                        print(key, "live_at_baseline_rate", json.dumps(results[key]["live_at_baseline_rate"]))
            finally:
                consumer.stop()
    finally:
        influxd.stop()
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)
    if args.only == "all" and args.live_s > 0:
        report(args, results)


def stage(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def report(args: argparse.Namespace, results: dict[str, dict[str, dict[str, float]]]) -> None:
    base, batching, ours = results["baseline"], results["batching"], results["ours"]
    print(f"\n{args.gateways} gateways, {args.readings} readings per message, {os.cpu_count()} CPUs, InfluxDB 1.6")
    print(f"{'':38}{'one write/msg':>14}{'batching':>11}{'ours':>11}{'ours/1-per-msg':>16}{'ours/batching':>15}")
    rows = [
        ("drain readings/s", "drain", "readings_per_s"),
        ("drain CPU ms/1k readings: consumer", "drain", "consumer_cpu_ms_per_1k"),
        ("drain CPU ms/1k readings: influxd", "drain", "influxd_cpu_ms_per_1k"),
        ("drain CPU ms/1k readings: mosquitto", "drain", "mosquitto_cpu_ms_per_1k"),
        ("live offered readings/s (70% drain)", "live", "offered_readings_per_s"),
        ("live published readings/s", "live", "published_readings_per_s"),
        ("live latency p50 s", "live", "latency_p50_s"),
        ("live latency p99 s", "live", "latency_p99_s"),
        ("live CPU ms/1k readings: consumer", "live", "consumer_cpu_ms_per_1k"),
    ]
    for label, phase, key in rows:
        b, t, o = base[phase][key], batching[phase][key], ours[phase][key]
        ratios = [o / x if x else float("nan") for x in (b, t)]
        print(f"{label:38}{b:>14.2f}{t:>11.2f}{o:>11.2f}{ratios[0]:>15.2f}x{ratios[1]:>14.2f}x")
    for key, result in results.items():
        lost = [phase for phase in ("drain", "live") if result[phase]["stored"] != result[phase]["readings"]]
        print(f"{key}: every reading stored once: {'yes' if not lost else 'NO: ' + ', '.join(lost)}")
    same = ours["live_at_baseline_rate"]
    print(
        f"at the one-write baseline's offered load ({same['offered_readings_per_s']:.0f} readings/s), ours: "
        f"latency p50 {same['latency_p50_s']:.2f} s, p99 {same['latency_p99_s']:.2f} s, "
        f"CPU {same['consumer_cpu_ms_per_1k']:.1f} ms/1k readings, stored once: {same['stored'] == same['readings']}"
    )
    periods = [r["live"]["probe_period_s"] for r in results.values()]
    print(f"probe period ~{statistics.mean(periods):.2f} s")


if __name__ == "__main__":
    main()

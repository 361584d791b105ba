"""What end-to-end acknowledgement costs: reading -> broker PUBACK against reading -> centre confirmation.

    .venv/bin/python bench/ack_latency.py [--gateways 20] [--seconds 30] [--per-tick 5] [--tick-s 0.5]

Real Mosquitto, InfluxDB 1.6 and ingest (in process); `--gateways` gateways run the edge
agent's own buffer and publisher (`devstack.buffered_gateway`, the gateway's default
publish settings) and store `--per-tick` readings every `--tick-s` (the demo's rates:
a few readings per device per poll). For every reading, side by side in one run:

- reading -> PUBACK: when the broker acknowledged its batch (the moment a gateway deleted
  it before end-to-end acknowledgement);
- reading -> confirmed: when ingest's `BatchAck` for its batch arrived (when it leaves the
  gateway's disk now);

and the gateways' buffer depth (readings on disk), sampled every 100 ms after a warm-up.
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from devstack.buffered_gateway import BufferedGateway
from devstack.services import InfluxDB, Mosquitto
from edge_agent.buffer import AsyncBuffer
from edge_agent.config import PublishConfig
from edge_agent.publisher import Unconfirmed
from ingest import IngestConfig, IngestService

# The gateway's own defaults (edge_agent.config.PublishConfig), not BufferedGateway's test settings.
GATEWAY_DEFAULTS = {
    name: getattr(PublishConfig(), name)
    for name in ("max_batch", "max_wait_ms", "confirm_timeout_s", "confirm_timeout_max_s")
}


class Timings:
    def __init__(self) -> None:
        self.puback: dict[tuple[str, int], float] = {}
        self.to_puback: list[float] = []
        self.to_confirmed: list[float] = []
        self.lock = threading.Lock()


class TimedUnconfirmed(Unconfirmed):
    def __init__(self, gateway: str, timings: Timings, base: Unconfirmed) -> None:
        super().__init__(base.timeout_s, base.timeout_max_s)
        self.gateway, self.timings = gateway, timings

    def sent(self, seq: int, now: float) -> None:
        with self.timings.lock:
            self.timings.puback.setdefault((self.gateway, seq), time.time())
        super().sent(seq, now)


class TimedBuffer(AsyncBuffer):
    """The gateway's buffer; at each confirmation, each reading's PUBACK and confirmation delays."""

    def __init__(self, base: AsyncBuffer, gateway: str, timings: Timings) -> None:
        super().__init__(base.buffer)
        self.gateway, self.timings = gateway, timings

    async def confirm(self, seqs: Sequence[int]) -> int:
        now = time.time()
        stamps = await self._call(self._stamps, list(seqs))
        with self.timings.lock:
            for seq, ts_ms in stamps:
                acked = self.timings.puback.get((self.gateway, seq))
                if acked is not None:
                    self.timings.to_puback.append(acked - ts_ms / 1000)
                    self.timings.to_confirmed.append(now - ts_ms / 1000)
        return await super().confirm(seqs)

    def _stamps(self, seqs: list[int]) -> list[tuple[int, int]]:
        marks = ",".join("?" * len(seqs))
        query = f"SELECT batch, ts_ms FROM readings WHERE batch IN ({marks})"
        return [(int(b), int(t)) for b, t in self.buffer.db.execute(query, seqs)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateways", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--per-tick", type=int, default=5)
    parser.add_argument("--tick-s", type=float, default=0.5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ack-bench-"))
    broker, influxd = Mosquitto(root).start(), InfluxDB(root, auth=False).start()
    ingest = IngestService(
        IngestConfig.model_validate(
            {"broker": {"port": broker.port}, "influx": {"url": influxd.url}, "dead_letter_file": str(root / "dl")}
        )
    ).start()
    timings, gateways, depths = Timings(), [], []
    try:
        for n in range(args.gateways):
            gateway = BufferedGateway(
                f"bench-{n}", broker, root / f"g{n}.sqlite", readings_per_tick=args.per_tick,
                tick_s=args.tick_s, publish=GATEWAY_DEFAULTS, wall_clock=True,
            )  # fmt: skip
            gateway.buffer = gateway.publisher.buffer = TimedBuffer(gateway.buffer, gateway.gateway, timings)
            gateway.publisher.unconfirmed = TimedUnconfirmed(gateway.gateway, timings, gateway.publisher.unconfirmed)
            gateways.append(gateway.start())
        warm_until = time.monotonic() + 3
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            if time.monotonic() > warm_until:
                depths.append(sum(g.depth for g in gateways))
            time.sleep(0.1)
    finally:
        for gateway in gateways:
            gateway.close()
        ingest.stop()
        influxd.stop()
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)
    produced = sum(g.produced for g in gateways)
    print(f"{args.gateways} gateways x {args.per_tick / args.tick_s:.0f} readings/s, {args.seconds:.0f} s: "
          f"{produced} readings, {len(timings.to_confirmed)} timed")  # fmt: skip
    print(f"{'':24}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for label, values in (("reading -> PUBACK", timings.to_puback), ("reading -> confirmed", timings.to_confirmed)):
        ms = [v * 1000 for v in values]
        print(f"{label:24}{percentile(ms, 0.5):>10.0f}{percentile(ms, 0.99):>10.0f}{max(ms, default=0):>10.0f}")
    extra = [c - p for c, p in zip(timings.to_confirmed, timings.to_puback, strict=True)]
    p50, p99 = percentile(extra, 0.5) * 1000, percentile(extra, 0.99) * 1000
    print(f"confirmation after PUBACK: p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    if depths:
        per_gateway = [d / args.gateways for d in depths]
        print(
            f"buffer depth per gateway in steady state: mean {statistics.mean(per_gateway):.1f}, "
            f"max {max(per_gateway):.0f} readings (produced {args.per_tick / args.tick_s:.0f}/s each)"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()

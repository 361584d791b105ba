"""Live evaluation tick: 10,000 sensors x the example rule set, p50 and p99.

    .venv/bin/python bench/rules_live.py [--copies 2500] [--ticks 60]

The Quảng Bình example rule set (rules/examples/quang_binh.yaml: 9 rules on 4 sensors)
is copied `copies` times with its sensors renamed, so 2,500 copies are 10,000 sensors and
22,500 rules. One tick is what the live service does when every sensor has sent one new
reading: `RuleBookEvaluator.feed` (every rule through its numba kernel, one batched call
per kind, with the history the windows need) and `tick(now)` (staleness); then, timed
apart, the commit to SQLite of the state of every rule fed this tick (`take_changes` +
`StateStore.commit`, as the service does: the carry pages of those rules and the
readings the windows admitted). Readings every 5 minutes; the first ticks fill the
windows and are not timed. Before the ticks the rule book is frozen out of the garbage
collector's sight, as `RulesService.start` does (`--no-gc-freeze` leaves it in: full
collections then walk it, about 95 ms each, and show in p99).
"""

import argparse
import gc
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

from devstack.many_rules import copies_of_example
from rules.evaluator import RuleBookEvaluator
from rules.levels import SHIPPED_ALARM_LEVELS, load_alarm_levels
from rules.store import StateStore

T0 = 1_602_086_400_000
STEP_MS = 300_000


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=2500)
    parser.add_argument("--ticks", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--no-gc-freeze", action="store_true", help="leave the rule book to the collector")
    args = parser.parse_args()
    book = copies_of_example(args.copies)
    sensors = sorted({sensor for rule in book.rules for sensor in rule.sensors()})
    evaluator = RuleBookEvaluator(book, load_alarm_levels(SHIPPED_ALARM_LEVELS), watch_from_ms=T0)
    rng = np.random.default_rng(1)
    levels = dict.fromkeys(sensors, 1.0)
    store = StateStore(Path(tempfile.mkdtemp(prefix="floodwatch-bench-")) / "state.sqlite")
    if not args.no_gc_freeze:
        gc.freeze()  # as RulesService.start does
    feed_s, dump_s, transitions = [], [], 0
    for tick in range(args.warmup + args.ticks):
        now = T0 + tick * STEP_MS
        series = {}
        for sensor in sensors:
            if sensor.endswith(".rain"):
                value = float(rng.gamma(1.0, 3.0)) if rng.random() < 0.3 else 0.0
            else:
                levels[sensor] = max(0.0, levels[sensor] + float(rng.normal(0.01, 0.05)))
                value = levels[sensor]
            series[sensor] = ([now], [value])
        start = time.perf_counter()
        out = evaluator.feed(series)
        out += evaluator.tick(now)
        middle = time.perf_counter()
        store.commit(evaluator.take_changes(), [])
        end = time.perf_counter()
        if tick >= args.warmup:
            feed_s.append(middle - start)
            dump_s.append(end - middle)
            transitions += len(out)
    print(f"{len(sensors):,} sensors, {len(book.rules):,} rules; {args.ticks} timed ticks, one reading per sensor each")
    for name, times in (("evaluate (feed + staleness tick)", feed_s), ("commit state to SQLite", dump_s)):
        p50, p99 = percentile(times, 50) * 1e3, percentile(times, 99) * 1e3
        print(f"{name:32}: p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")
    print(f"transitions in the timed ticks: {transitions:,}")
    restart(store, args.copies, args.warmup + args.ticks)


def restart(store: StateStore, copies: int, ticks: int) -> None:
    """A restart with one more copy in the rule book: loading the state, then the first
    save, which writes everything anew (a new layout: every carry and the whole window history)."""
    started = time.perf_counter()
    saved = store.load()
    assert saved is not None
    bigger = RuleBookEvaluator(copies_of_example(copies + 1), load_alarm_levels(SHIPPED_ALARM_LEVELS), watch_from_ms=T0)
    bigger.load(saved)
    loaded = time.perf_counter()
    changes = bigger.take_changes()
    store.commit(changes, [])
    saved_s = time.perf_counter() - loaded
    print(
        f"restart after {ticks} ticks: load state and rule book {1e3 * (loaded - started):.0f} ms; "
        f"first save after a rule-book change ({len(changes.appended):,} window readings) {1e3 * saved_s:.0f} ms"
    )


if __name__ == "__main__":
    main()

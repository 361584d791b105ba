"""Backtest throughput of the rule kinds: numba kernels vs the pure-Python reference vs pandas.

    .venv/bin/python bench/rules_throughput.py [--readings 200000] [--reference-readings 20000]

One core (numba is single-threaded here; pandas and numpy are pinned to one thread by
the environment variables set below). The six single-sensor flood rules of
rules/examples/quang_binh.yaml run over a synthetic 5-minute level series and an
hourly-ish rain series (random walks that hover at the thresholds, 2 % NaN). Throughput is
readings x rules per second. Compile time is measured separately: the numba cache is
pointed at an empty directory, so the first call compiles. All three implementations are
checked to give the same states before any time is reported.
"""

import os
import tempfile

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = "1"
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="floodwatch-bench-numba-")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rules_pandas_impl as pandas_impl  # noqa: E402

from rules import kernels, reference_kinds  # noqa: E402
from rules.levels import SHIPPED_ALARM_LEVELS, load_alarm_levels  # noqa: E402
from rules.rulebook import load_rulebook  # noqa: E402
from rules.runner import params_of  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "rules" / "examples" / "quang_binh.yaml"
T0 = 1_601_485_200_000
KINDS = ("level", "duration", "rate_of_rise", "rainfall")


def synthetic(n: int, seed: int = 5) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    ts = T0 + np.arange(n, dtype=np.int64) * 300_000 + rng.integers(0, 60_000, n)
    level = np.clip(1.6 + np.cumsum(rng.normal(0, 0.03, n)) * 0.3, -0.5, 5.0)
    level = 1.6 + 1.4 * np.sin(np.arange(n) / 700.0) + (level - level.mean()) * 0.3
    rain = np.where(rng.random(n) < 0.3, rng.gamma(1.5, 4.0, n), 0.0)
    for series in (level, rain):
        series[rng.random(n) < 0.02] = np.nan
    return {"level": (ts, level), "rain": (ts, rain)}


def rules() -> list[tuple[str, str, np.ndarray]]:
    levels = load_alarm_levels(SHIPPED_ALARM_LEVELS)
    book = load_rulebook(EXAMPLE, levels)
    out = []
    for rule in book.rules:
        if rule.kind in KINDS and rule.sensors()[0].startswith("le_thuy"):
            out.append((rule.kind, "rain" if rule.kind == "rainfall" else "level", params_of(rule, levels)))
    return out


def run_kernels(data: dict, rule_set: list) -> list[np.ndarray]:
    out = []
    for kind, series, params in rule_set:
        ts, vals = data[series]
        carry = np.array([-1.0, 0.0, np.nan]) if kind == "duration" else np.array([-1.0, 0.0])
        out.append(getattr(kernels, kind)(ts, vals, 0, params, carry))
    return out


def run_reference(data: dict, rule_set: list) -> list[np.ndarray]:
    out = []
    for kind, series, params in rule_set:
        ts, vals = data[series]
        carry = [-1.0, 0.0, float("nan")] if kind == "duration" else [-1.0, 0.0]
        states = getattr(reference_kinds, kind)(ts.tolist(), vals.tolist(), 0, params.tolist(), carry)
        out.append(np.asarray(states, dtype=np.int8))
    return out


def run_pandas(data: dict, rule_set: list) -> list[np.ndarray]:
    return [getattr(pandas_impl, kind)(*data[series], params) for kind, series, params in rule_set]


def best_of(repeats: int, fn, *args) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--reference-readings", type=int, default=20_000)
    args = parser.parse_args()
    rule_set = rules()
    data = synthetic(args.readings)
    small = {name: (ts[: args.reference_readings], v[: args.reference_readings]) for name, (ts, v) in data.items()}

    tiny = {name: (ts[:10], v[:10]) for name, (ts, v) in data.items()}
    start = time.perf_counter()
    run_kernels(tiny, rule_set)
    compile_s = time.perf_counter() - start

    # Same states from all three, on the reference's slice (pandas and kernels also on all of it).
    kernel_small, reference_small = run_kernels(small, rule_set), run_reference(small, rule_set)
    pandas_small = run_pandas(small, rule_set)
    for (kind, _, _), k, r, p in zip(rule_set, kernel_small, reference_small, pandas_small, strict=True):
        assert np.array_equal(k, r), f"{kind}: kernel != reference"
        assert np.array_equal(k, p), f"{kind}: kernel != pandas ({int((k != p).sum())} states differ)"

    n_rules = len(rule_set)
    t_kernel, kernel_states = best_of(5, run_kernels, data, rule_set)
    t_pandas, pandas_states = best_of(3, run_pandas, data, rule_set)
    same = all(np.array_equal(a, b) for a, b in zip(kernel_states, pandas_states, strict=True))  # type: ignore[arg-type]
    t_reference, _ = best_of(1, run_reference, small, rule_set)

    kernel_rate = args.readings * n_rules / t_kernel
    pandas_rate = args.readings * n_rules / t_pandas
    reference_rate = args.reference_readings * n_rules / t_reference
    print(f"rules: {n_rules} ({', '.join(kind for kind, _, _ in rule_set)}), one core")
    print(f"numba compile (first call, empty cache): {compile_s:.2f} s")
    for name, rate, n, seconds in (
        ("numba kernels", kernel_rate, args.readings, t_kernel),
        ("pandas", pandas_rate, args.readings, t_pandas),
        ("reference", reference_rate, args.reference_readings, t_reference),
    ):
        print(f"{name:14}: {rate:14,.0f} readings x rules / s  ({n:,} readings, {seconds * 1e3:.1f} ms)")
    print(f"kernels / reference: {kernel_rate / reference_rate:8.1f}x   (aim >= 100x)")
    print(f"kernels / pandas   : {kernel_rate / pandas_rate:8.1f}x   (aim >= 5x)")
    print(f"same states: kernels = reference = pandas on {args.reference_readings:,} readings; ", end="")
    print(f"kernels = pandas on all: {same}")


if __name__ == "__main__":
    main()

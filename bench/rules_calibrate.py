"""Calibration time of the forecast: a year of hourly data at 50 stations, numba vs the plain-Python reference.

    .venv/bin/python bench/rules_calibrate.py [--stations 50] [--hours 8760] [--reference-horizons 1]

One core. A synthetic river of `--stations` stations in a chain (each one upstream of the
next, the wave arriving 1-6 h later, damped, with noise and 2 % of hours missing) and
the catchment's rain. Each station's fit is what `floodwatch-rules calibrate` runs: 12
horizons x 25 upstream lags (0-24 h) x 5 rain windows, gains by least squares.

The numba fit runs every station in full. The reference would take hours, so it fits
the first station for `--reference-horizons` horizons (all lags and windows) and its
time is scaled linearly to stations x 12 horizons (the fit's cost is the same for every
horizon and station: one pass over the hours per combination); that part is checked to
give the numba result before any time is printed. Compile time is reported apart (the
numba cache points at an empty directory).
"""

import os
import tempfile

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = "1"
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="floodwatch-bench-numba-")

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from rules.forecast import kernels, reference  # noqa: E402
from rules.forecast.calibrate import HORIZONS_H, MAX_LAG_H, WINDOWS_H  # noqa: E402
from rules.forecast.grid import window_sums  # noqa: E402


def synthetic(stations: int, hours: int, seed: int = 11) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    rain = np.where(rng.random(hours) < 0.1, rng.gamma(1.2, 6.0, hours), 0.0)
    wet = np.convolve(rain, np.exp(-np.arange(48) / 12.0))[:hours]
    levels = [5.0 + 0.05 * wet + rng.normal(0, 0.02, hours)]
    for s in range(1, stations):
        lag = 1 + s % 6
        upstream = np.concatenate((np.full(lag, levels[-1][0]), levels[-1][:-lag]))
        levels.append(0.3 + 0.6 * upstream + 0.002 * wet + rng.normal(0, 0.02, hours))
    for level in levels:
        level[rng.random(hours) < 0.02] = np.nan
    rain[rng.random(hours) < 0.02] = np.nan
    return levels, window_sums(rain, WINDOWS_H)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--hours", type=int, default=8760)
    parser.add_argument("--reference-horizons", type=int, default=1)
    args = parser.parse_args()
    levels, rain = synthetic(args.stations, args.hours)
    horizons = np.array(HORIZONS_H, dtype=np.int64)
    train = np.ones(args.hours, dtype=bool)
    print(f"{args.stations} stations x {args.hours} hours; {len(HORIZONS_H)} horizons x {MAX_LAG_H + 1} lags x "
          f"{len(WINDOWS_H)} rain windows per station")  # fmt: skip

    started = time.perf_counter()
    tiny = np.zeros(4)
    kernels.fit(tiny, tiny[:, None], tiny[:, None], tiny, np.ones(4, dtype=bool), horizons[:1], 0)
    print(f"numba compile: {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    results = []
    for s in range(1, args.stations):
        results.append(kernels.fit(levels[s], levels[s - 1][:, None], rain, levels[s], train, horizons, MAX_LAG_H))
    first = kernels.fit(levels[0], np.zeros((args.hours, 0)), rain, levels[0], train, horizons, MAX_LAG_H)
    numba_s = time.perf_counter() - started

    count = args.reference_horizons
    started = time.perf_counter()
    want = reference.fit(levels[1].tolist(), levels[0][:, None].tolist(), rain.tolist(), levels[1].tolist(),
                         train.tolist(), list(HORIZONS_H[:count]), MAX_LAG_H)  # fmt: skip
    reference_part_s = time.perf_counter() - started
    lags, windows, gains, sse, _ = results[0]
    for k, expected in enumerate(want):
        assert expected is not None and math.isclose(sse[k], expected[3], rel_tol=1e-7), (sse[k], expected)
        assert (lags[k].tolist(), int(windows[k])) == (expected[0], expected[1])
        assert np.allclose(gains[k], expected[2], rtol=1e-6, atol=1e-9)
    del first
    reference_s = reference_part_s * args.stations * len(HORIZONS_H) / count
    print(f"numba:     {numba_s:8.1f} s for all {args.stations} stations (measured)")
    print(f"reference: {reference_s:8.1f} s ({reference_part_s:.1f} s measured for 1 station x {count} horizon(s), "
          f"scaled x {args.stations * len(HORIZONS_H) / count:g}); same lags, windows and gains")  # fmt: skip
    print(f"numba is {reference_s / numba_s:.0f}x the reference")


if __name__ == "__main__":
    main()

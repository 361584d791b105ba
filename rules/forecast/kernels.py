"""The forecast's fit and forecast compiled with numba: what `calibrate` and the backtest run.

The same meaning as `rules.forecast.reference` (read it for the model, the order in
which combinations are tried and the tie rule); `tests/rules/test_rules_forecast.py`
holds the two equal. Arrays: `own`, `target` float64 (n,), `upstream` float64 (n, m),
`rain` float64 (n, windows), `train` bool (n,). `cache=True`: compiled once per machine.
"""

import math

import numba
import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B1 = npt.NDArray[np.bool_]

_jit = numba.njit(cache=True, nogil=True)


@_jit
def _solve(a: F64, b: F64, out: F64) -> bool:
    """a x = b into `out` (Gaussian elimination, partial pivoting); False when singular."""
    p = b.shape[0]
    m = np.empty((p, p + 1))
    m[:, :p] = a
    m[:, p] = b
    scale = 0.0
    for r in range(p):
        scale = max(scale, abs(m[r, r]))
    for col in range(p):
        pivot = col
        for r in range(col + 1, p):
            if abs(m[r, col]) > abs(m[pivot, col]):
                pivot = r
        if abs(m[pivot, col]) <= 1e-12 * max(scale, 1e-300):
            return False
        if pivot != col:
            for c in range(p + 1):
                m[col, c], m[pivot, c] = m[pivot, c], m[col, c]
        for r in range(col + 1, p):
            factor = m[r, col] / m[col, col]
            for c in range(col, p + 1):
                m[r, c] -= factor * m[col, c]
    for r in range(p - 1, -1, -1):
        total = m[r, p]
        for c in range(r + 1, p):
            total -= m[r, c] * out[c]
        out[r] = total / m[r, r]
    return True


@_jit
def _row(own: F64, upstream: F64, rain: F64, i: int, lags: I64, w: int, x: F64) -> bool:
    """Row i's terms into `x`; False when one is unknown."""
    x[0] = 1.0
    x[1] = own[i]
    for j in range(lags.shape[0]):
        x[2 + j] = upstream[i - lags[j], j] if i - lags[j] >= 0 else math.nan
    if w >= 0:
        x[2 + lags.shape[0]] = rain[i, w]
    for k in range(x.shape[0]):  # noqa: SIM110 (numba compiles no generator)
        if math.isnan(x[k]):
            return False
    return True


@_jit
def _fit_one(
    own: F64, upstream: F64, rain: F64, target: F64, train: B1, h: int, lags: I64, w: int, gains: F64
) -> tuple[float, int]:
    """Gains into `gains`; returns (sum of squared residuals, rows), or (NaN, rows) when not fitted."""
    n = own.shape[0]
    p = gains.shape[0]
    xtx = np.zeros((p, p))
    xty = np.zeros(p)
    x = np.empty(p)
    yty = 0.0
    rows = 0
    for i in range(n - h):
        y = target[i + h]
        if not train[i + h] or math.isnan(y):
            continue
        if not _row(own, upstream, rain, i, lags, w, x):
            continue
        rows += 1
        yty += y * y
        for r in range(p):
            xty[r] += x[r] * y
            for c in range(p):
                xtx[r, c] += x[r] * x[c]
    if rows <= p or not _solve(xtx, xty, gains):
        return math.nan, rows
    total = 0.0
    for r in range(p):
        total += gains[r] * xty[r]
    sse = yty - 2 * total
    for r in range(p):
        for c in range(p):
            sse += gains[r] * gains[c] * xtx[r, c]
    return max(sse, 0.0), rows


@_jit
def fit(
    own: F64, upstream: F64, rain: F64, target: F64, train: B1, horizons: I64, max_lag: int
) -> tuple[I64, I64, F64, F64, I64]:
    """Per horizon: lags (H, m), rain window (H,; -1 none), gains (H, p), SSE (H,; NaN: not fitted), rows (H,)."""
    m = upstream.shape[1]
    windows = rain.shape[1]
    p = 2 + m + (1 if windows > 0 else 0)
    count = horizons.shape[0]
    best_lags = np.zeros((count, m), dtype=np.int64)
    best_w = np.full(count, -1, dtype=np.int64)
    best_gains = np.full((count, p), np.nan)
    best_sse = np.full(count, np.nan)
    best_rows = np.zeros(count, dtype=np.int64)
    per_window = (max_lag + 1) ** m
    lags = np.zeros(m, dtype=np.int64)
    gains = np.empty(p)
    for k in range(count):
        for w in range(max(windows, 1)):
            for index in range(per_window):
                rest = index
                for j in range(m - 1, -1, -1):
                    lags[j] = rest % (max_lag + 1)
                    rest //= max_lag + 1
                sse, rows = _fit_one(own, upstream, rain, target, train, horizons[k], lags, w if windows else -1, gains)
                if not math.isnan(sse) and (math.isnan(best_sse[k]) or sse < best_sse[k]):
                    best_sse[k] = sse
                    best_rows[k] = rows
                    best_lags[k, :] = lags
                    best_w[k] = w if windows else -1
                    best_gains[k, :] = gains
    return best_lags, best_w, best_gains, best_sse, best_rows


@_jit
def forecast(own: F64, upstream: F64, rain: F64, lags: I64, windows: I64, gains: F64) -> tuple[F64, F64]:
    """Per hour: each horizon's forecast (n, H; NaN: a term unknown) and the peak (n,)."""
    n = own.shape[0]
    count = gains.shape[0]
    p = gains.shape[1]
    out = np.full((n, count), np.nan)
    peaks = np.full(n, np.nan)
    x = np.empty(p)
    for i in range(n):
        peak = own[i]
        for k in range(count):
            if _row(own, upstream, rain, i, lags[k], windows[k], x):
                total = 0.0
                for r in range(p):
                    total += gains[k, r] * x[r]
                out[i, k] = total
                if math.isnan(peak) or total > peak:
                    peak = total
        peaks[i] = peak
    return out, peaks

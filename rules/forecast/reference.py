"""The forecast kind's meaning in plain Python: the fit and the forecast the numba kernels must match.

Read this file to know what the forecast does; `rules/forecast/kernels.py` is the same,
compiled, and `tests/rules/test_rules_forecast.py` holds the two equal with hypothesis.

The model: lag and gain
-----------------------
Everything is on an hourly grid (`rules/forecast/grid.py`): `own[i]` the station's level
known at hour i, `upstream[i][j]` the level of upstream station j known at hour i,
`rain[i][w]` the catchment's rain over the `windows_h[w]` hours up to hour i, and
`target[i]` the level observed at hour i. The level `h` hours ahead is

    level(i + h) ~= a + b * own[i] + sum_j c_j * upstream[i - lag_j][j] + d * rain[i][w]

one equation per horizon h (1..12 h), each with its own lags `lag_j` (0..max_lag hours,
per upstream station) and rain window `w`. A reading of Kiến Giang 3 h ago says where
Lệ Thủy will be in a few hours; the rain of the last hours says how much more is coming.

The fit (`fit`): for each horizon, every combination of lags and rain window is tried;
for each, the gains (a, b, c_j, d) are the least-squares ones (the normal equations,
solved by Gaussian elimination with partial pivoting), over the rows i where every term
and `target[i + h]` are known and `train[i + h]` is true. The combination with the
smallest sum of squared residuals wins (the first in the order tried on a tie); a
combination whose equations are singular (a constant column) is skipped. The residuals'
standard deviation (`sigma`, n - p degrees of freedom) is the forecast's spread.

The forecast (`forecast`): at each hour, every horizon's equation with the fitted lags
and gains (NaN when a term is unknown), and the peak: the highest of the level known now
and the forecasts (NaN when all are unknown). The warning is the alarm-level rule
(`rules.reference_kinds.level`) run on the peaks: a station is warned BĐk as soon as its
level is expected to reach BĐk within the horizon.
"""

import math
from collections.abc import Sequence

Rows = Sequence[Sequence[float]]


def combos(upstream_count: int, max_lag: int, window_count: int) -> list[tuple[list[int], int]]:
    """Every (lags, rain window index), in the order tried: the last upstream's lag varies fastest,
    the rain window slowest."""
    out: list[tuple[list[int], int]] = []
    per_window = (max_lag + 1) ** upstream_count
    for w in range(max(window_count, 1)):
        for index in range(per_window):
            lags, rest = [0] * upstream_count, index
            for j in range(upstream_count - 1, -1, -1):
                lags[j], rest = rest % (max_lag + 1), rest // (max_lag + 1)
            out.append((lags, w if window_count else -1))
    return out


def features(own: Sequence[float], upstream: Rows, rain: Rows, i: int, lags: Sequence[int], w: int) -> list[float]:
    """The terms of row i: 1, own level, each upstream level at its lag, rain over window w (if any)."""
    row = [1.0, own[i]]
    row += [upstream[i - lag][j] if i - lag >= 0 else math.nan for j, lag in enumerate(lags)]
    if w >= 0:
        row.append(rain[i][w])
    return row


def solve(a: list[list[float]], b: list[float]) -> list[float] | None:
    """a x = b by Gaussian elimination with partial pivoting; None when singular."""
    p = len(b)
    m = [[*list(a[r]), b[r]] for r in range(p)]
    scale = max((abs(m[r][r]) for r in range(p)), default=0.0)
    for col in range(p):
        pivot = max(range(col, p), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) <= 1e-12 * max(scale, 1e-300):
            return None
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, p):
            factor = m[r][col] / m[col][col]
            for c in range(col, p + 1):
                m[r][c] -= factor * m[col][c]
    x = [0.0] * p
    for r in range(p - 1, -1, -1):
        total = m[r][p]
        for c in range(r + 1, p):
            total -= m[r][c] * x[c]
        x[r] = total / m[r][r]
    return x


def fit_one(
    own: Sequence[float],
    upstream: Rows,
    rain: Rows,
    target: Sequence[float],
    train: Sequence[bool],
    h: int,
    lags: Sequence[int],
    w: int,
) -> tuple[list[float], float, int] | None:
    """Least-squares gains for one horizon and one combination: (gains, sum of squared residuals, rows)."""
    n = len(own)
    p = 2 + len(lags) + (1 if w >= 0 else 0)
    xtx = [[0.0] * p for _ in range(p)]
    xty = [0.0] * p
    yty = 0.0
    rows = 0
    for i in range(n - h):
        y = target[i + h]
        if not train[i + h] or math.isnan(y):
            continue
        x = features(own, upstream, rain, i, lags, w)
        if any(math.isnan(v) for v in x):
            continue
        rows += 1
        yty += y * y
        for r in range(p):
            xty[r] += x[r] * y
            for c in range(p):
                xtx[r][c] += x[r] * x[c]
    if rows <= p:
        return None
    gains = solve(xtx, xty)
    if gains is None:
        return None
    # Σ(y - x·g)² = y'y - 2 g'X'y + g'X'X g
    sse = yty - 2 * sum(g * v for g, v in zip(gains, xty, strict=True))
    sse += sum(gains[r] * gains[c] * xtx[r][c] for r in range(p) for c in range(p))
    return gains, max(sse, 0.0), rows


def fit(
    own: Sequence[float],
    upstream: Rows,
    rain: Rows,
    target: Sequence[float],
    train: Sequence[bool],
    horizons: Sequence[int],
    max_lag: int,
) -> list[tuple[list[int], int, list[float], float, int] | None]:
    """Per horizon: (lags, rain window index or -1, gains, sum of squared residuals, rows), or None
    when no combination could be fitted."""
    upstream_count = len(upstream[0]) if upstream else 0
    window_count = len(rain[0]) if rain else 0
    out: list[tuple[list[int], int, list[float], float, int] | None] = []
    for h in horizons:
        best: tuple[list[int], int, list[float], float, int] | None = None
        for lags, w in combos(upstream_count, max_lag, window_count):
            result = fit_one(own, upstream, rain, target, train, h, lags, w)
            if result is not None and (best is None or result[1] < best[3]):
                best = (lags, w, result[0], result[1], result[2])
        out.append(best)
    return out


def forecast(
    own: Sequence[float],
    upstream: Rows,
    rain: Rows,
    lags: Sequence[Sequence[int]],
    windows: Sequence[int],
    gains: Sequence[Sequence[float]],
) -> tuple[list[list[float]], list[float]]:
    """Per hour: the forecast of each horizon (NaN: a term unknown) and the peak (own level now
    and every forecast; NaN when all are unknown). `lags[k]`, `windows[k]`, `gains[k]` are
    horizon k's."""
    forecasts, peaks = [], []
    for i in range(len(own)):
        row = []
        for k in range(len(gains)):
            x = features(own, upstream, rain, i, lags[k], windows[k])
            row.append(
                math.nan if any(math.isnan(v) for v in x) else sum(g * v for g, v in zip(gains[k], x, strict=True))
            )
        known = [v for v in (own[i], *row) if not math.isnan(v)]
        forecasts.append(row)
        peaks.append(max(known) if known else math.nan)
    return forecasts, peaks

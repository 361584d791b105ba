"""The single-sensor rule kinds written with pandas, vectorised, for the throughput benchmark.

Same semantics as rules/reference_kinds.py for a series in time order with unique times
(the benchmark's input; the late policy is not implemented here). Each function returns
the state after every reading, as the kernels do. Hysteresis state machines are written
the vectorised way: mark the readings that switch on and off, forward-fill.
"""

import numpy as np
import pandas as pd

from rules.reference_kinds import BULLETIN_DAY_START_UTC_MS, DAY_MS


def _latch(on: pd.Series, off: pd.Series, initial: int = 0) -> pd.Series:
    """1 from where `on` holds until `off` holds, forward-filled (NaN readings keep the state)."""
    marks = pd.Series(np.nan, index=on.index)
    marks[off] = 0.0
    marks[on] = 1.0
    return marks.ffill().fillna(initial).astype(np.int8)


def level(ts: np.ndarray, vals: np.ndarray, params: np.ndarray) -> np.ndarray:
    """BĐ1..3 with hysteresis: the sum of three independent latches (the levels nest)."""
    v = pd.Series(vals)
    total = sum(_latch(v >= params[k], v < params[3 + k]) for k in range(3))
    return np.asarray(total, dtype=np.int8)


def duration(ts: np.ndarray, vals: np.ndarray, params: np.ndarray) -> np.ndarray:
    above, clear_below, fire_after, clear_after = params
    frame = pd.DataFrame({"t": ts, "v": vals}).dropna()

    def held(condition: pd.Series, hold: float) -> pd.Series:
        run = (condition != condition.shift()).cumsum()
        started = frame["t"].groupby(run).transform("first")
        return condition & (frame["t"] - started >= hold)

    on = held(frame["v"] >= above, fire_after)
    off = held(frame["v"] < clear_below, clear_after)
    state = _latch(on, off).reindex(range(len(vals))).ffill().fillna(0)
    return np.asarray(state, dtype=np.int8)


def rate_of_rise(ts: np.ndarray, vals: np.ndarray, params: np.ndarray) -> np.ndarray:
    window, rise, clear, min_span = params
    good = ~np.isnan(vals)
    gt, gv = ts[good], vals[good]
    j = np.searchsorted(gt, gt - window, side="left")
    i = np.arange(gt.shape[0])
    valid = (j < i) & (gt - gt[np.minimum(j, i)] >= min_span)
    jj = np.where(valid, j, i)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = pd.Series((gv - gv[jj]) / (gt - gt[jj]) * 3_600_000.0)
    state = _latch(valid & (rate >= rise), valid & (rate < clear))
    full = pd.Series(np.nan, index=range(len(vals)))
    full[np.flatnonzero(good)] = state.to_numpy()
    return np.asarray(full.ffill().fillna(0), dtype=np.int8)


def rainfall(ts: np.ndarray, vals: np.ndarray, params: np.ndarray) -> np.ndarray:
    window = params[0]
    good = ~np.isnan(vals)
    # Integer micrometres, as the reference sums them (exact, so the same categories).
    micro = np.floor(vals[good] * 1_000_000.0 + 0.5).astype(np.int64)
    series = pd.Series(micro, index=pd.to_datetime(ts[good], unit="ms"))
    if window == 0:
        day = (ts[good] - BULLETIN_DAY_START_UTC_MS - 1) // DAY_MS
        sums = series.groupby(day).cumsum()
    else:
        sums = series.rolling(pd.Timedelta(milliseconds=int(window)), closed="right").sum()
    overs = [np.floor(params[c] * 1_000_000.0 + 0.5) if np.isfinite(params[c]) else np.inf for c in range(1, 4)]
    category = sum((sums.to_numpy() > over).astype(np.int8) for over in overs)
    full = pd.Series(np.nan, index=range(len(vals)))
    full[np.flatnonzero(good)] = category
    return np.asarray(full.ffill().fillna(0), dtype=np.int8)

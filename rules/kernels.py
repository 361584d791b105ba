"""The rule kinds compiled with numba: what the live service and backtests run.

Same signatures and semantics as `rules.reference_kinds` (the spec: read it for what
each kind means, the late policy and the carry layout); the differential tests hold
them equal. Arrays: `ts` int64 milliseconds, `vals` float64 (NaN abstains), `params`
and `carry` float64; `carry` is updated in place.

Compiled code does not bounds-check, so the wrappers in `rules.runner` build the arrays
(params and carry of the right length) from the typed rule models; nothing else calls
these directly. `cache=True` keeps the machine code in `__pycache__` next to this file,
so only the first run on a machine pays the compile time.
"""

import math

import numba
import numpy as np
import numpy.typing as npt

from rules.reference_kinds import BULLETIN_DAY_START_UTC_MS, DAY_MS

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int8]

_jit = numba.njit(cache=True, nogil=True)


@_jit
def _admit(t: int, carry: F64) -> bool:
    if t <= carry[0]:
        return False
    carry[0] = t
    return True


@_jit
def level(ts: I64, vals: F64, start: int, params: F64, carry: F64) -> I8:
    out = np.empty(ts.shape[0] - start, dtype=np.int8)
    for i in range(start, ts.shape[0]):
        state = int(carry[1])
        if _admit(ts[i], carry) and not math.isnan(vals[i]):
            while state < 3 and vals[i] >= params[state]:
                state += 1
            while state > 0 and vals[i] < params[3 + state - 1]:
                state -= 1
        carry[1] = state
        out[i - start] = state
    return out


@_jit
def duration(ts: I64, vals: F64, start: int, params: F64, carry: F64) -> I8:
    out = np.empty(ts.shape[0] - start, dtype=np.int8)
    for i in range(start, ts.shape[0]):
        if _admit(ts[i], carry) and not math.isnan(vals[i]):
            if carry[1] == 0:
                toward = vals[i] >= params[0]
                hold = params[2]
            else:
                toward = vals[i] < params[1]
                hold = params[3]
            if not toward:
                carry[2] = math.nan
            else:
                if math.isnan(carry[2]):
                    carry[2] = ts[i]
                if ts[i] - carry[2] >= hold:
                    carry[1] = 1 - carry[1]
                    carry[2] = math.nan
        out[i - start] = int(carry[1])
    return out


@_jit
def _good_history(vals: F64, start: int, capacity: int) -> tuple[npt.NDArray[np.intp], int]:
    good = np.empty(capacity, dtype=np.intp)
    count = 0
    for j in range(start):
        if not math.isnan(vals[j]):
            good[count] = j
            count += 1
    return good, count


@_jit
def rate_of_rise(ts: I64, vals: F64, start: int, params: F64, carry: F64) -> I8:
    window, rise, clear, min_span = params[0], params[1], params[2], params[3]
    out = np.empty(ts.shape[0] - start, dtype=np.int8)
    good, count = _good_history(vals, start, ts.shape[0])
    lo = 0
    for i in range(start, ts.shape[0]):
        if _admit(ts[i], carry) and not math.isnan(vals[i]):
            t = ts[i]
            while lo < count and ts[good[lo]] < t - window:
                lo += 1
            if lo < count and t - ts[good[lo]] >= min_span:
                j = good[lo]
                rate = (vals[i] - vals[j]) / (t - ts[j]) * 3_600_000.0
                if carry[1] == 0 and rate >= rise:
                    carry[1] = 1
                elif carry[1] == 1 and rate < clear:
                    carry[1] = 0
            good[count] = i
            count += 1
        out[i - start] = int(carry[1])
    return out


@_jit
def bulletin_day_start(t: int) -> int:
    return (t - BULLETIN_DAY_START_UTC_MS - 1) // DAY_MS * DAY_MS + BULLETIN_DAY_START_UTC_MS


@_jit
def rainfall(ts: I64, vals: F64, start: int, params: F64, carry: F64) -> I8:
    window = params[0]
    out = np.empty(ts.shape[0] - start, dtype=np.int8)
    good, count = _good_history(vals, start, ts.shape[0])
    lo = 0
    for i in range(start, ts.shape[0]):
        if _admit(ts[i], carry) and not math.isnan(vals[i]):
            t = ts[i]
            opens = bulletin_day_start(t) if window == 0 else t - window
            good[count] = i
            count += 1
            while lo < count and ts[good[lo]] <= opens:
                lo += 1
            total = 0.0
            for g in range(lo, count):
                total += vals[good[g]]
            state = 0
            for c in range(1, 4):
                if total > params[c]:
                    state += 1
            carry[1] = state
        out[i - start] = int(carry[1])
    return out


@_jit
def staleness(ts: I64, vals: F64, start: int, params: F64, carry: F64, horizon: int) -> tuple[I64, I8]:
    silence = params[0]
    times = np.empty(2 * (ts.shape[0] - start) + 1, dtype=np.int64)
    states = np.empty(times.shape[0], dtype=np.int8)
    count = 0
    for i in range(start, ts.shape[0]):
        if _admit(ts[i], carry) and not math.isnan(vals[i]):
            if carry[1] == 0 and ts[i] - carry[2] > silence:
                times[count] = int(carry[2] + silence)
                states[count] = 1
                count += 1
                carry[1] = 1
            if carry[1] == 1:
                times[count] = ts[i]
                states[count] = 0
                count += 1
                carry[1] = 0
            carry[2] = ts[i]
    if carry[1] == 0 and horizon - carry[2] > silence:
        times[count] = int(carry[2] + silence)
        states[count] = 1
        count += 1
        carry[1] = 1
    return times[:count], states[:count]


@_jit
def k_of_n(ts: I64, sensor: I64, vals: F64, params: F64, carry: F64) -> I8:
    k, n, above, clear_below, stale_after = int(params[0]), int(params[1]), params[2], params[3], params[4]
    out = np.empty(ts.shape[0], dtype=np.int8)
    for i in range(ts.shape[0]):
        base = 2 + 4 * sensor[i]
        if ts[i] > carry[base]:
            carry[base] = ts[i]
            if math.isnan(vals[i]):
                carry[base + 3] = 1.0
            else:
                carry[base + 3] = 0.0
                carry[base + 2] = ts[i]
                if vals[i] >= above:
                    carry[base + 1] = 1.0
                elif vals[i] < clear_below:
                    carry[base + 1] = 0.0
            yes = 0
            no = 0
            for s in range(n):
                b = 2 + 4 * s
                if carry[b + 3] == 0.0 and carry[b + 2] >= 0 and ts[i] - carry[b + 2] <= stale_after:
                    if carry[b + 1] == 1.0:
                        yes += 1
                    else:
                        no += 1
            if carry[1] == 0 and yes >= k:
                carry[1] = 1
            elif carry[1] == 1 and no >= n - k + 1:
                carry[1] = 0
        out[i] = int(carry[1])
    return out


@_jit
def escalation(ts: I64, source: I64, states_in: I64, params: F64, carry: F64) -> I8:
    min_base, raise_by = params[0], params[1]
    conditions = params.shape[0] - 2
    out = np.empty(ts.shape[0], dtype=np.int8)
    for i in range(ts.shape[0]):
        carry[2 + source[i]] = states_in[i]
        severity = carry[2]
        if severity >= min_base:
            met = True
            for c in range(conditions):
                if carry[3 + c] < params[2 + c]:
                    met = False
            if met:
                severity = min(3.0, severity + raise_by)
        carry[0] = ts[i]
        carry[1] = severity
        out[i] = int(severity)
    return out

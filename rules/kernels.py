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
    # The carried state lives in locals (registers) in the loop and is written back at the end.
    out = np.empty(ts.shape[0] - start, dtype=np.int8)
    last, state = np.int64(carry[0]), int(carry[1])  # times as int64: no float compares
    up1, up2, up3, down1, down2, down3 = params[0], params[1], params[2], params[3], params[4], params[5]
    for i in range(start, ts.shape[0]):
        value = vals[i]
        if ts[i] > last:
            last = ts[i]
            if not math.isnan(value):
                if state == 0 and value >= up1:
                    state = 1
                if state == 1 and value >= up2:
                    state = 2
                if state == 2 and value >= up3:
                    state = 3
                if state == 3 and value < down3:
                    state = 2
                if state == 2 and value < down2:
                    state = 1
                if state == 1 and value < down1:
                    state = 0
        out[i - start] = state
    carry[0], carry[1] = last, state
    return out


@_jit
def duration(ts: I64, vals: F64, start: int, params: F64, carry: F64) -> I8:
    out = np.empty(ts.shape[0] - start, dtype=np.int8)
    last, state, pending = np.int64(carry[0]), int(carry[1]), carry[2]
    for i in range(start, ts.shape[0]):
        if ts[i] > last and not math.isnan(vals[i]):
            if state == 0:
                toward = vals[i] >= params[0]
                hold = params[2]
            else:
                toward = vals[i] < params[1]
                hold = params[3]
            if not toward:
                pending = math.nan
            else:
                if math.isnan(pending):
                    pending = ts[i]
                if ts[i] - pending >= hold:
                    state = 1 - state
                    pending = math.nan
        if ts[i] > last:
            last = ts[i]
        out[i - start] = state
    carry[0], carry[1], carry[2] = last, state, pending
    return out


@_jit
def _counts(ts: I64, vals: F64, j: int, start: int, before: "int | np.int64") -> bool:
    """Whether reading j is in the windows: good, and history or admitted (newer than `before`,
    the latest time among the readings from `start` to j - 1 and the carried last time)."""
    if math.isnan(vals[j]):
        return False
    return j < start or ts[j] > before


@_jit
def rate_of_rise(ts: I64, vals: F64, start: int, params: F64, carry: F64) -> I8:
    # `lo` walks behind i over the same arrays (no copies): the oldest reading that counts and
    # is still in the window. `lo_last` is the admission watermark as seen from `lo`.
    # Whole milliseconds (the rule model holds them as integers): int compares in the loop.
    window, rise, clear, min_span = np.int64(params[0]), params[1], params[2], np.int64(params[3])
    out = np.empty(ts.shape[0] - start, dtype=np.int8)
    last, state = np.int64(carry[0]), int(carry[1])  # times as int64: no float compares
    lo, lo_last = 0, np.int64(carry[0])
    for i in range(start, ts.shape[0]):
        if ts[i] > last:
            last = ts[i]
            if not math.isnan(vals[i]):
                t = ts[i]
                while lo < i and (not _counts(ts, vals, lo, start, lo_last) or ts[lo] < t - window):
                    if lo >= start and ts[lo] > lo_last:
                        lo_last = ts[lo]
                    lo += 1
                if lo < i and t - ts[lo] >= min_span:
                    rate = (vals[i] - vals[lo]) / (t - ts[lo]) * 3_600_000.0
                    if state == 0 and rate >= rise:
                        state = 1
                    elif state == 1 and rate < clear:
                        state = 0
        out[i - start] = state
    carry[0], carry[1] = last, state
    return out


@_jit
def bulletin_day_start(t: int) -> int:
    return (t - BULLETIN_DAY_START_UTC_MS - 1) // DAY_MS * DAY_MS + BULLETIN_DAY_START_UTC_MS


@_jit
def micro_mm(value: float) -> int:
    return math.floor(value * 1_000_000.0 + 0.5)


@_jit
def rainfall(ts: I64, vals: F64, start: int, params: F64, carry: F64) -> I8:
    window = np.int64(params[0])  # whole milliseconds
    overs = np.empty(3, dtype=np.int64)
    for c in range(3):
        overs[c] = micro_mm(params[1 + c]) if math.isfinite(params[1 + c]) else 2**62
    out = np.empty(ts.shape[0] - start, dtype=np.int8)
    total = 0
    for j in range(start):
        if not math.isnan(vals[j]):
            total += micro_mm(vals[j])
    last, state = np.int64(carry[0]), int(carry[1])  # times as int64: no float compares
    lo, lo_last = 0, np.int64(carry[0])  # as in rate_of_rise: the oldest reading still summed
    for i in range(start, ts.shape[0]):
        if ts[i] > last:
            last = ts[i]
            if not math.isnan(vals[i]):
                t = ts[i]
                opens = bulletin_day_start(t) if window == 0 else t - window
                total += micro_mm(vals[i])
                while lo < i and (not _counts(ts, vals, lo, start, lo_last) or ts[lo] <= opens):
                    if _counts(ts, vals, lo, start, lo_last):
                        total -= micro_mm(vals[lo])
                    if lo >= start and ts[lo] > lo_last:
                        lo_last = ts[lo]
                    lo += 1
                state = 0
                for c in range(3):
                    if total > overs[c]:
                        state += 1
        out[i - start] = state
    carry[0], carry[1] = last, state
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
        severity = 0.0
        if carry[2] >= min_base:
            met = True
            for c in range(conditions):
                if carry[3 + c] < params[2 + c]:
                    met = False
            if met:
                severity = min(3.0, carry[2] + raise_by)
        carry[0] = ts[i]
        carry[1] = severity
        out[i] = int(severity)
    return out

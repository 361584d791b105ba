"""The rule kinds run over many rules in one call: what the evaluator runs for each batch.

One compiled call per kind, instead of one Python call per rule, is what makes a live
tick of 10,000 sensors cheap. Each rule still runs its own kernel from `rules.kernels`
on its own slice (the meaning stays in `rules.reference_kinds`), and the transitions
are found here too, so Python only builds the `Transition` objects that exist. The
differential tests hold these equal to the reference, rule by rule.

Layout (all indices int64):
- readings: `ts`/`vals` hold each sensor's new readings at `first[s] : first[s] + count[s]`;
  for windowed kinds `ts`/`vals` are the window buffers of `rules.windows`, where the
  sensor's kept history (admitted good readings, sorted) is `head[s] : first[s]`.
- rules: row `r` of `params` and `carry` (a kind's matrices), `rule_sensor[r]` its sensor,
  `keep[r]` how far back it looks (0: no window); `rows` the rules to run.
- `read_base[s]`: where sensor s's new readings start in the batch's own arrays; the
  transitions name their reading by that index.
"""

import math

import numba
import numpy as np
import numpy.typing as npt

from rules import kernels

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int8]
F64_2D = npt.NDArray[np.float64]

LEVEL, DURATION, RATE_OF_RISE, RAINFALL = 0, 1, 2, 3
KIND_CODES = {"level": LEVEL, "duration": DURATION, "rate_of_rise": RATE_OF_RISE, "rainfall": RAINFALL}

_jit = numba.njit(cache=True, nogil=True)


@_jit
def _run_kernel(kind: int, ts: I64, vals: F64, start: int, params: F64, carry: F64) -> I8:
    if kind == LEVEL:
        return kernels.level(ts, vals, start, params, carry)
    if kind == DURATION:
        return kernels.duration(ts, vals, start, params, carry)
    if kind == RATE_OF_RISE:
        return kernels.rate_of_rise(ts, vals, start, params, carry)
    return kernels.rainfall(ts, vals, start, params, carry)


@_jit
def _transitions(
    states: I8, ts: I64, start_state: int, rule: int, base: int, out: npt.NDArray[np.int64], n: int
) -> int:
    """`RuleRunner._transitions` in compiled code: one transition per run of equal times whose
    final state differs, named by the first reading of the run that brought that state.
    Appends rows (rule, reading index, before, after) to `out` from row n; returns the new n."""
    before = start_state
    run_first = 0
    m = states.shape[0]
    for i in range(m):
        if i + 1 < m and ts[i + 1] == ts[i]:
            continue
        state = int(states[i])
        if state != before:
            j = run_first
            while states[j] != state:
                j += 1
            out[n, 0], out[n, 1], out[n, 2], out[n, 3] = rule, base + j, before, state
            n += 1
            before = state
        run_first = i + 1
    return n


@_jit
def feed_rules(
    kind: int,
    rows: I64,
    rule_sensor: I64,
    keep: I64,
    params: F64_2D,
    carry: F64_2D,
    ts: I64,
    vals: F64,
    head: I64,
    first: I64,
    count: I64,
    read_base: I64,
    out: npt.NDArray[np.int64],
) -> int:
    """Every rule in `rows` fed its sensor's new readings; transitions into `out` (rows of 4), returns how many.

    A windowed rule sees the history its own window reaches: readings no older than
    carry[r, 0] - keep[r] - 1 (what `RuleRunner` kept per rule); a rule that never
    admitted a reading sees none (a fresh `RuleRunner` has none). The one difference: a
    rule added to the book across a restart, on a sensor whose other windowed rules kept
    history, sees that history from its second reading on (a `RuleRunner` of its own
    would have started empty). Rules that started together see exactly the same.
    """
    n = 0
    for r in rows:
        s = rule_sensor[r]
        a = first[s]
        b = a + count[s]
        lo = a
        if keep[r] > 0 and carry[r, 0] >= 0:
            oldest = carry[r, 0] - keep[r] - 1
            lo = head[s]
            while lo < a and ts[lo] < oldest:
                lo += 1
        start_state = int(carry[r, 1])
        states = _run_kernel(kind, ts[lo:b], vals[lo:b], a - lo, params[r], carry[r])
        n = _transitions(states, ts[a:b], start_state, r, read_base[s], out, n)
    return n


@_jit
def staleness_rules(
    rows: I64,
    rule_sensor: I64,
    params: F64_2D,
    carry: F64_2D,
    ts: I64,
    vals: F64,
    first: I64,
    count: I64,
    horizon: int,
    out: npt.NDArray[np.int64],
) -> int:
    """Every staleness rule in `rows`: its sensor's new readings, then silence up to `horizon`.
    Transitions into `out` as rows (rule, time, state); returns how many."""
    n = 0
    for r in rows:
        s = rule_sensor[r]
        a = first[s]
        b = a + count[s]
        times, states = kernels.staleness(ts[a:b], vals[a:b], 0, params[r], carry[r], horizon)
        for k in range(times.shape[0]):
            out[n, 0], out[n, 1], out[n, 2] = r, times[k], states[k]
            n += 1
    return n


# -- the windows' buffer ---------------------------------------------------------------------


@_jit
def stage(
    buf_ts: I64,
    buf_vals: F64,
    base: I64,
    size: I64,
    head: I64,
    end: I64,
    sensors: I64,
    new_ts: I64,
    new_vals: F64,
    new_first: I64,
    new_count: I64,
    need: I64,
) -> bool:
    """Copy each sensor's new readings right after its history (moving the history to the start
    of its region first if they do not fit). A region still too small gets `need[s]` (the
    size it must have) and its readings are not copied; returns whether all were copied."""
    done = True
    for s in sensors:
        c = new_count[s]
        if end[s] + c > base[s] + size[s]:
            kept = end[s] - head[s]
            if kept + c > size[s]:
                need[s] = kept + c
                done = False
                continue
            for i in range(kept):  # forward copy: the target is before the source
                buf_ts[base[s] + i] = buf_ts[head[s] + i]
                buf_vals[base[s] + i] = buf_vals[head[s] + i]
            head[s], end[s] = base[s], base[s] + kept
        for i in range(c):
            buf_ts[end[s] + i] = new_ts[new_first[s] + i]
            buf_vals[end[s] + i] = new_vals[new_first[s] + i]
    return done


@_jit
def admit(
    buf_ts: I64,
    buf_vals: F64,
    head: I64,
    end: I64,
    last: I64,
    keep: I64,
    sensors: I64,
    new_count: I64,
    out_sensor: I64,
    out_ts: I64,
    out_vals: F64,
) -> int:
    """After the rules ran: keep the staged readings the late policy admits that are good, and
    drop what no rule's window reaches any more (older than last - keep - 1). The kept
    readings are also written to out_* (what the state store appends); returns how many."""
    n = 0
    for s in sensors:
        write = end[s]
        for i in range(end[s], end[s] + new_count[s]):
            t = buf_ts[i]
            if t > last[s]:
                last[s] = t
                if not math.isnan(buf_vals[i]):
                    buf_ts[write], buf_vals[write] = t, buf_vals[i]
                    out_sensor[n], out_ts[n], out_vals[n] = s, t, buf_vals[i]
                    write += 1
                    n += 1
        end[s] = write
        oldest = last[s] - keep[s] - 1
        h = head[s]
        while h < write and buf_ts[h] < oldest:
            h += 1
        head[s] = h
    return n


@_jit
def relocate(
    src_ts: I64, src_vals: F64, dst_ts: I64, dst_vals: F64, head: I64, end: I64, base: I64, sensors: I64, new_base: I64
) -> None:
    """Move each sensor's history to the start of its new region `new_base[k]` in the dst buffers."""
    for k in range(sensors.shape[0]):
        s = sensors[k]
        kept = end[s] - head[s]
        for i in range(kept):
            dst_ts[new_base[k] + i] = src_ts[head[s] + i]
            dst_vals[new_base[k] + i] = src_vals[head[s] + i]
        base[s], head[s], end[s] = new_base[k], new_base[k], new_base[k] + kept


def load_compiled() -> None:
    """Call every kernel once on empty input, so numba loads (or compiles) them now, at start-up,
    rather than in the first batch."""
    i64, f64 = np.empty(0, np.int64), np.empty(0, np.float64)
    matrix, found = np.empty((0, 2), np.float64), np.empty((0, 4), np.int64)
    for kind in KIND_CODES.values():
        feed_rules(kind, i64, i64, i64, matrix, matrix, i64, f64, i64, i64, i64, i64, found)
    staleness_rules(i64, i64, matrix, matrix, i64, f64, i64, i64, -1, found)
    stage(i64, f64, i64, i64, i64, i64, i64, i64, f64, i64, i64, i64)
    admit(i64, f64, i64, i64, i64, i64, i64, i64, i64, i64, f64)
    relocate(i64, f64, i64, f64, i64, i64, i64, i64, i64)
    carry = np.zeros(3, np.float64)
    kernels.k_of_n(i64, i64, f64, f64, carry)
    kernels.escalation(i64, i64, i64, f64, carry)

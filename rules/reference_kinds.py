"""Every rule kind's meaning in plain Python: the reference the numba kernels must match.

Read this file to know what a rule does. `rules/kernels.py` holds the same functions
compiled with numba; the differential tests (tests/rules/test_rules_kinds_differential.py)
hold them equal, state for state, on random and adversarial series.

The shared frame
----------------
A sensor's readings arrive as two arrays in arrival order: `ts` (UTC milliseconds) and
`vals` (the value, NaN when the reading was not of `good` quality: NaN abstains, it
neither raises nor clears). Each function also takes:

- `start`: the readings before `start` are history, already admitted earlier (sorted by
  time, good only); windowed kinds look back into them, nothing else is done with them.
  Readings from `start` on are new.
- `params`: the rule's numbers, as listed in each function.
- `carry`: the state carried from one call to the next, updated in place, so that
  feeding a series in pieces gives the same states as feeding it whole (that is what
  the live service does, batch by batch, and what a restart restores from SQLite).
  `carry[0]` is the time of the last admitted reading (-1: none yet), `carry[1]` the
  rule's state; kinds that need more keep it after that.

Late policy (the same in every kind): a reading whose time is at or before the last
admitted reading of its sensor is late and is dropped; its state is the state as it
was. Late readings never rewrite the past (a warning already sent stays sent), and a
QoS 1 resend, which repeats its time, counts once (the first value wins).

Each function returns the state after every new reading; a transition is where the
state differs from the one before (`transitions` below), at that reading's time.
"""

import math
from collections import deque
from collections.abc import Sequence

DAY_MS = 86_400_000
# The bulletin day runs 20:00 -> 20:00 Asia/Ho_Chi_Minh (UTC+07:00, no summer time):
# 20:00 local is 13:00 UTC.
BULLETIN_DAY_START_UTC_MS = 13 * 3_600_000

Floats = Sequence[float]
Ints = Sequence[int]


def _admit(ts: int, carry: list[float]) -> bool:
    """The late policy: admit a reading only if it is newer than the last admitted one."""
    if ts <= carry[0]:
        return False
    carry[0] = float(ts)
    return True


def level(ts: Ints, vals: Floats, start: int, params: Floats, carry: list[float]) -> list[int]:
    """Alarm levels BĐ1..3 with hysteresis. params: up1, up2, up3, down1, down2, down3.

    State 0..3. Rising: while state < 3 and value >= up[state], state += 1. Falling:
    while state > 0 and value < down[state - 1], state -= 1 (see rules/reference.py).
    """
    up, down = params[0:3], params[3:6]
    states = []
    for i in range(start, len(ts)):
        state = int(carry[1])
        if _admit(ts[i], carry) and not math.isnan(vals[i]):
            while state < 3 and vals[i] >= up[state]:
                state += 1
            while state > 0 and vals[i] < down[state - 1]:
                state -= 1
        carry[1] = state
        states.append(state)
    return states


def duration(ts: Ints, vals: Floats, start: int, params: Floats, carry: list[float]) -> list[int]:
    """A condition that must hold for a time. params: above, clear_below, fire_after_ms, clear_after_ms.

    State 0 or 1. `carry[2]` is the time the pending change was first seen (NaN: none).
    At state 0 a reading >= above starts (or continues) a run; the rule fires at the
    first reading of the run that is at least fire_after_ms after the run's first
    reading. A reading below `above` ends the run. Clearing is the mirror image with
    `< clear_below` and clear_after_ms. A NaN neither continues nor ends a run.
    With a zero time the rule fires at the first reading that meets the condition.
    """
    above, clear_below, fire_after, clear_after = params[0], params[1], params[2], params[3]
    states = []
    for i in range(start, len(ts)):
        if _admit(ts[i], carry) and not math.isnan(vals[i]):
            t, value = ts[i], vals[i]
            toward = value >= above if carry[1] == 0 else value < clear_below
            hold = fire_after if carry[1] == 0 else clear_after
            if not toward:
                carry[2] = math.nan
            else:
                if math.isnan(carry[2]):
                    carry[2] = float(t)
                if t - carry[2] >= hold:
                    carry[1] = 1 - carry[1]
                    carry[2] = math.nan
        states.append(int(carry[1]))
    return states


def rate_of_rise(ts: Ints, vals: Floats, start: int, params: Floats, carry: list[float]) -> list[int]:
    """Level rising faster than a rate. params: window_ms, rise_per_h, clear_per_h, min_span_ms.

    State 0 or 1. At a good reading i, the rate is (v_i - v_j) / (t_i - t_j) per hour
    where j is the oldest good reading with t_i - window_ms <= t_j < t_i (history
    included). If there is none, or t_i - t_j < min_span_ms, the reading abstains.
    At state 0 a rate >= rise_per_h fires; at state 1 a rate < clear_per_h clears.
    """
    window, rise, clear, min_span = params[0], params[1], params[2], params[3]
    good = deque(j for j in range(start) if not math.isnan(vals[j]))  # earlier good readings, oldest first
    states = []
    for i in range(start, len(ts)):
        if _admit(ts[i], carry) and not math.isnan(vals[i]):
            t = ts[i]
            while good and ts[good[0]] < t - window:  # out of the window for good: times only grow
                good.popleft()
            if good and t - ts[good[0]] >= min_span:
                j = good[0]
                rate = (vals[i] - vals[j]) / (t - ts[j]) * 3_600_000.0
                if carry[1] == 0 and rate >= rise:
                    carry[1] = 1
                elif carry[1] == 1 and rate < clear:
                    carry[1] = 0
            good.append(i)
        states.append(int(carry[1]))
    return states


def bulletin_day_start(t: int) -> int:
    """The 20:00-local that opens the bulletin day holding t; a day is (start, start + 24 h]."""
    return (t - BULLETIN_DAY_START_UTC_MS - 1) // DAY_MS * DAY_MS + BULLETIN_DAY_START_UTC_MS


def micro_mm(value: float) -> int:
    """Rain in integer micrometres: sums of integers do not depend on the order they are added in."""
    return math.floor(value * 1_000_000.0 + 0.5)


def rainfall(ts: Ints, vals: Floats, start: int, params: Floats, carry: list[float]) -> list[int]:
    """Rain categories over a rolling or bulletin-day sum. params: window_ms, over1, over2, over3.

    Each reading is the rain (mm) fallen since the reading before (an hourly total, say).
    At a good reading i the sum covers the good readings with t in (t_i - window_ms, t_i],
    or, when window_ms is 0, in the bulletin day holding t_i: (20:00 local before t_i, t_i].
    The state is how many of over1 < over2 < over3 the sum exceeds (strictly): for the
    national categories over 24 h, (15, 50, 100) gives 16-50 mm moderate (1), 51-100 mm
    heavy (2), > 100 mm very heavy (3). Sums are kept in integer micrometres of rain
    (`micro_mm`), so a running sum is exact and the state does not depend on how the
    series was cut into pieces. A NaN reading abstains: the state stays, it adds nothing.
    """
    window = params[0]
    overs = [micro_mm(over) if math.isfinite(over) else 2**62 for over in params[1:4]]
    good = deque(j for j in range(start) if not math.isnan(vals[j]))  # the good readings in the window, oldest first
    total = sum(micro_mm(vals[j]) for j in good)
    states = []
    for i in range(start, len(ts)):
        if _admit(ts[i], carry) and not math.isnan(vals[i]):
            t = ts[i]
            opens = bulletin_day_start(t) if window == 0 else t - window
            good.append(i)
            total += micro_mm(vals[i])
            while ts[good[0]] <= opens:  # out of the window for good: times only grow
                total -= micro_mm(vals[good.popleft()])
            carry[1] = sum(1 for over in overs if total > over)
        states.append(int(carry[1]))
    return states


def staleness(
    ts: Ints, vals: Floats, start: int, params: Floats, carry: list[float], horizon: int
) -> list[tuple[int, int]]:
    """Deadman: a sensor silent too long. params: max_silence_ms. Returns (time, state) transitions.

    `carry[2]` is the time of the last good reading (the engine seeds it with the time it
    started watching, so a sensor never heard from also goes stale). Only good readings
    count as signs of life: a sensor that answers `read_failure` is as good as silent.
    The sensor goes stale (state 1) at last_good + max_silence_ms if no good reading came
    by then, and fresh (0) at the next good reading. `horizon` is the time up to which
    silence is judged (now, live; the end of the replay, in a backtest).
    """
    silence = params[0]
    out: list[tuple[int, int]] = []
    for i in range(start, len(ts)):
        if _admit(ts[i], carry) and not math.isnan(vals[i]):
            if carry[1] == 0 and ts[i] - carry[2] > silence:
                out.append((int(carry[2] + silence), 1))
                carry[1] = 1
            if carry[1] == 1:
                out.append((ts[i], 0))
                carry[1] = 0
            carry[2] = float(ts[i])
    if carry[1] == 0 and horizon - carry[2] > silence:
        out.append((int(carry[2] + silence), 1))
        carry[1] = 1
    return out


def k_of_n(ts: Ints, sensor: Ints, vals: Floats, params: Floats, carry: list[float]) -> list[int]:
    """k of n sensors agree. params: k, n, above, clear_below, stale_after_ms.

    One merged series of the n sensors (`sensor` says whose reading each one is). Per
    sensor, `carry` keeps from index 2 + 4 * s: last admitted time, vote (1: at or above
    `above`; 0: below `clear_below`; in between the vote stays), time of the last good
    reading (-1: none), and whether its latest reading was bad. The late policy applies
    per sensor. A sensor abstains when its latest reading was bad, when it never gave a
    good reading, or when its last good one is older than stale_after_ms. After every
    reading: at state 0, k yes votes fire; at state 1, n - k + 1 no votes (so that k yes
    votes have become impossible) clear. Abstaining sensors neither raise nor clear.
    """
    k, n, above, clear_below, stale_after = int(params[0]), int(params[1]), params[2], params[3], params[4]
    states = []
    for i in range(len(ts)):
        base = 2 + 4 * sensor[i]
        if ts[i] > carry[base]:
            carry[base] = float(ts[i])
            if math.isnan(vals[i]):
                carry[base + 3] = 1.0
            else:
                carry[base + 3] = 0.0
                carry[base + 2] = float(ts[i])
                if vals[i] >= above:
                    carry[base + 1] = 1.0
                elif vals[i] < clear_below:
                    carry[base + 1] = 0.0
            yes = no = 0
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
        states.append(int(carry[1]))
    return states


def escalation(ts: Ints, source: Ints, states_in: Ints, params: Floats, carry: list[float]) -> list[int]:
    """Hazards combined raise the severity. params: min_base, raise_by, then at_least per condition.

    Input: the state changes of the base rule (source 0) and of each condition rule
    (source c + 1), merged in time order. `carry` keeps from index 2 the current state of
    each source (0 at start). After each change: while the base is at least `min_base` and
    every condition's state is at least its `at_least`, the severity is the base's raised
    by `raise_by` (at most 3); otherwise 0. The rule speaks only while hazards combine: the
    base rule's own warnings go out as they are. For the example: base = river level,
    min_base 2 (above BĐ2), condition = 24 h rain at least 3 (very heavy, > 100 mm),
    raise_by 1: river at BĐ2 with very heavy rain is severity 3.
    """
    min_base, raise_by = params[0], params[1]
    out = []
    for i in range(len(ts)):
        carry[2 + source[i]] = float(states_in[i])
        severity = 0.0
        if carry[2] >= min_base and all(carry[3 + c] >= params[2 + c] for c in range(len(params) - 2)):
            severity = min(3.0, carry[2] + raise_by)
        carry[0] = float(ts[i])
        carry[1] = severity
        out.append(int(severity))
    return out


def transitions(states: Sequence[int], initial: int) -> list[tuple[int, int, int]]:
    """(index, from, to) wherever the state changes, `initial` being the state before the first."""
    out = []
    previous = initial
    for index, state in enumerate(states):
        if state != previous:
            out.append((index, previous, state))
            previous = state
    return out

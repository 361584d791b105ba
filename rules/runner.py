"""One rule, running: its carried state and history, fed arrays, giving transitions.

`RuleRunner` runs one rule with `impl` = `rules.kernels` (numba) or
`rules.reference_kinds` (plain Python, for the differential tests and the benchmark);
both have the same signatures. The evaluator (live, batch by batch, and the backtest,
day by day) runs the single-sensor kinds in groups through `rules.batch_kernels`,
which call the same kernels; it keeps a `RuleRunner` for each k-of-n and escalation
rule, on a view of its group's carries. The functions here (params, initial carry,
window reach, severity) are shared by both paths.
"""

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from rules import kernels
from rules.levels import AlarmLevelTable, NoLevelsInEffect
from rules.rulebook import (
    DurationKind,
    EscalationKind,
    ForecastKind,
    KOfNKind,
    LevelKind,
    RainfallKind,
    RateOfRiseKind,
    Rule,
    StalenessKind,
)

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Transition:
    """A rule's state changed at `ts_ms`; `transition_id` is the same every time it is computed."""

    rule: str
    kind: str
    station: str
    sensor: str
    ts_ms: int
    previous: int
    state: int
    value: float

    @property
    def transition_id(self) -> str:
        return f"{self.rule}:{self.sensor}:{self.ts_ms}:{self.previous}->{self.state}"


def _f64(values: Any) -> npt.NDArray[np.float64]:
    return np.asarray(values, dtype=np.float64)


def _i64(values: Any) -> npt.NDArray[np.int64]:
    return np.asarray(values, dtype=np.int64)


# A level rule before its station's first alarm levels: nothing is ever reached or fallen below.
ABSTAINING_LEVELS = (math.inf,) * 3 + (-math.inf,) * 3


def params_of(rule: Rule, levels: AlarmLevelTable, at_ms: int | None = None) -> npt.NDArray[np.float64]:
    """The kernel's params for a rule (see each kind in rules/reference_kinds.py); a level
    rule's (and a forecast rule's) are those of the alarm levels in effect at `at_ms` (default: now)."""
    if isinstance(rule, LevelKind | ForecastKind):
        try:
            station = levels.station(rule.levels, at_ms)
        except NoLevelsInEffect:
            return _f64(ABSTAINING_LEVELS)
        return _f64([*station.thresholds_m, *station.clear_below_m])
    if isinstance(rule, DurationKind):
        return _f64([rule.above_m, rule.clear_below_m, rule.fire_after, rule.clear_after])
    if isinstance(rule, RateOfRiseKind):
        return _f64([rule.window, rule.rise_cm_per_h / 100, rule.clear_cm_per_h / 100, rule.min_span])
    if isinstance(rule, RainfallKind):
        overs = [c.over_mm for c in rule.categories]
        overs += [np.inf] * (3 - len(overs))
        return _f64([rule.window_ms, *overs])
    if isinstance(rule, StalenessKind):
        return _f64([rule.max_silence])
    if isinstance(rule, KOfNKind):
        return _f64([rule.k, len(rule.sensors_), rule.above_m, rule.clear_below_m, rule.stale_after])
    return _f64([rule.min_base, rule.raise_by, *(c.at_least for c in rule.when)])


def history_ms(rule: Rule) -> int:
    """How far back a rule looks: history older than this is dropped."""
    if isinstance(rule, RateOfRiseKind):
        return rule.window
    if isinstance(rule, RainfallKind):
        return rule.window_ms or 24 * HOUR_MS
    return 0


def initial_carry(rule: Rule, watch_from_ms: int = -1) -> npt.NDArray[np.float64]:
    """A rule's carry before its first reading (the layout of each kind: rules/reference_kinds.py)."""
    width = 2
    if isinstance(rule, DurationKind | StalenessKind):
        width = 3
    elif isinstance(rule, KOfNKind):
        width = 2 + 4 * len(rule.sensors_)
    elif isinstance(rule, EscalationKind):
        width = 3 + len(rule.when)
    carry = np.zeros(width, dtype=np.float64)
    carry[0] = -1.0
    if isinstance(rule, DurationKind):
        carry[2] = np.nan
    elif isinstance(rule, StalenessKind):
        carry[2] = watch_from_ms
    elif isinstance(rule, KOfNKind):
        for s in range(len(rule.sensors_)):
            carry[2 + 4 * s] = -1.0
            carry[2 + 4 * s + 2] = -1.0
    return carry


def severity_of(rule: Rule) -> int:
    """The fixed severity of a rule whose state is on/off; 0 when the state is the severity."""
    if isinstance(rule, DurationKind | RateOfRiseKind | KOfNKind):
        return rule.severity
    return 0


class RuleRunner:
    """The state of one rule across calls; `severity(state)` maps a state to the warning level."""

    def __init__(self, rule: Rule, levels: AlarmLevelTable, impl: ModuleType = kernels, watch_from_ms: int = -1):
        self.rule = rule
        self.impl = impl
        self.params = params_of(rule, levels)
        self.keep_ms = history_ms(rule)
        self.carry = initial_carry(rule, watch_from_ms)
        # History lives in a buffer: [head, end) is history; new readings are written after it,
        # so the kernel sees history + new as one view without copying (live: one reading).
        self._buf_ts = np.empty(64, dtype=np.int64)
        self._buf_vals = np.empty(64, dtype=np.float64)
        self._head = self._end = 0
        self._fn = getattr(impl, rule.kind)
        self._sensor = rule.sensors()[0] if rule.sensors() else ""
        self._staleness_rule = isinstance(rule, StalenessKind)

    @property
    def hist_ts(self) -> npt.NDArray[np.int64]:
        return self._buf_ts[self._head : self._end]

    @property
    def hist_vals(self) -> npt.NDArray[np.float64]:
        return self._buf_vals[self._head : self._end]

    def _set_history(self, ts: npt.NDArray[np.int64], vals: npt.NDArray[np.float64]) -> None:
        size = max(64, 2 * ts.shape[0])
        self._buf_ts, self._buf_vals = np.empty(size, dtype=np.int64), np.empty(size, dtype=np.float64)
        self._buf_ts[: ts.shape[0]], self._buf_vals[: ts.shape[0]] = ts, vals
        self._head, self._end = 0, ts.shape[0]

    @property
    def state(self) -> int:
        return int(self.carry[1])

    def severity(self, state: int) -> int:
        fixed = severity_of(self.rule)
        return (fixed if state else 0) if fixed else state

    # -- single-sensor kinds -------------------------------------------------------------

    def feed(self, ts: Any, vals: Any, horizon_ms: int = -1) -> list[Transition]:
        """New readings of the rule's one sensor, in arrival order (NaN: not good)."""
        ts, vals = _i64(ts), _f64(vals)
        if self._staleness_rule:
            return self._staleness(ts, vals, horizon_ms, self._sensor)
        start_state = int(self.carry[1])
        windowed = self.keep_ms > 0
        states = self._feed_windowed(ts, vals) if windowed else self._fn(ts, vals, 0, self.params, self.carry)
        return self._transitions(np.asarray(states, dtype=np.int8), ts, vals, start_state, self._sensor)

    def _feed_windowed(self, ts: npt.NDArray[np.int64], vals: npt.NDArray[np.float64]) -> Any:
        count = ts.shape[0]
        if self._end + count > self._buf_ts.shape[0]:
            self._set_history(self.hist_ts.copy(), self.hist_vals.copy())
            if self._end + count > self._buf_ts.shape[0]:
                grown_ts = np.empty(2 * (self._end + count), dtype=np.int64)
                grown_vals = np.empty(2 * (self._end + count), dtype=np.float64)
                grown_ts[: self._end], grown_vals[: self._end] = self.hist_ts, self.hist_vals
                self._buf_ts, self._buf_vals = grown_ts, grown_vals
        end = self._end
        self._buf_ts[end : end + count] = ts
        self._buf_vals[end : end + count] = vals
        last_before = self.carry[0]
        states = self._fn(
            self._buf_ts[self._head : end + count],
            self._buf_vals[self._head : end + count],
            end - self._head,
            self.params,
            self.carry,
        )
        # Keep the admitted good readings (in place: they are already after the history).
        if count == 1:
            if ts[0] > last_before and not np.isnan(vals[0]):
                self._end += 1
        elif count:
            before = np.maximum.accumulate(np.concatenate(([last_before], ts[:-1].astype(np.float64))))
            admitted = (ts > before) & ~np.isnan(vals)
            kept = int(admitted.sum())
            self._buf_ts[end : end + kept] = ts[admitted]
            self._buf_vals[end : end + kept] = vals[admitted]
            self._end += kept
        oldest = self.carry[0] - self.keep_ms - 1
        if self._buf_ts[self._head] < oldest:
            self._head += int(np.searchsorted(self.hist_ts, oldest, side="left"))
        return states

    def _transitions(
        self, states: npt.NDArray[np.int8], ts: npt.NDArray[np.int64], vals: Any, start_state: int, sensor: Any
    ) -> list[Transition]:
        if states.shape[0] == 1:  # the common case, live: one reading
            state = int(states[0])
            if state == start_state:
                return []
            who = sensor if isinstance(sensor, str) else sensor[0]
            return [self._transition(int(ts[0]), who, start_state, state, float(vals[0]))]
        if states.shape[0] == 0 or (int(states[-1]) == start_state and not (states != start_state).any()):
            return []
        # The state after a time is the state after the last input at that time: inputs at the
        # same time (two sensors, a river and a rain change) give one transition, not a flicker.
        ts = np.asarray(ts)
        last = np.flatnonzero(np.append(ts[1:] != ts[:-1], True)) if ts.shape[0] else np.empty(0, dtype=np.intp)
        kept = states[last]
        previous = np.concatenate((np.array([start_state], dtype=np.int8), kept[:-1]))
        out = []
        for group in np.flatnonzero(kept != previous):
            i = int(last[group])
            before = previous[group]
            first = int(last[group - 1]) + 1 if group else 0
            while states[first] != states[i]:  # the reading that brought the final state
                first += 1
            i = first
            who = sensor if isinstance(sensor, str) else sensor[i]
            out.append(self._transition(int(ts[i]), who, int(before), int(states[i]), float(vals[i])))
        return out

    def _transition(self, ts_ms: int, sensor: str, previous: int, state: int, value: float) -> Transition:
        return Transition(
            rule=self.rule.name,
            kind=self.rule.kind,
            station=self.rule.station,
            sensor=sensor,
            ts_ms=ts_ms,
            previous=self.severity(previous),
            state=self.severity(state),
            value=value,
        )

    def _staleness(
        self, ts: npt.NDArray[np.int64], vals: npt.NDArray[np.float64], horizon_ms: int, sensor: str
    ) -> list[Transition]:
        result = self.impl.staleness(ts, vals, 0, self.params, self.carry, horizon_ms)
        if isinstance(result, list):
            times, states = [t for t, _ in result], [s for _, s in result]
        else:
            times, states = list(result[0]), list(result[1])
        return [self._transition(int(t), sensor, 1 - int(s), int(s), 0.0) for t, s in zip(times, states, strict=True)]

    # -- multi-input kinds ---------------------------------------------------------------

    def feed_merged(self, ts: Any, sensor_index: Any, vals: Any) -> list[Transition]:
        """k_of_n: the readings of its sensors, merged, in arrival order."""
        assert isinstance(self.rule, KOfNKind)
        ts, index, vals = _i64(ts), _i64(sensor_index), _f64(vals)
        start_state = self.state
        states = np.asarray(self.impl.k_of_n(ts, index, vals, self.params, self.carry), dtype=np.int8)
        names = [self.rule.sensors_[int(s)] for s in index]
        return self._transitions(states, ts, vals, start_state, names)

    def feed_changes(self, changes: list[tuple[int, int, Transition]]) -> list[Transition]:
        """escalation: (time, source, transition) of the base (0) and condition (1..) rules, in time order."""
        if not changes:
            return []
        start_state = self.state
        ts = _i64([c[0] for c in changes])
        source = _i64([c[1] for c in changes])
        states_in = _i64([c[2].state for c in changes])
        states = np.asarray(self.impl.escalation(ts, source, states_in, self.params, self.carry), dtype=np.int8)
        sensors = [c[2].sensor for c in changes]
        vals = [c[2].value for c in changes]
        return self._transitions(states, ts, vals, start_state, sensors)

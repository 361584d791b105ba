"""One rule, running: its carried state and history, fed arrays, giving transitions.

The live evaluator (batch by batch) and the backtest (a whole series at once) both go
through `RuleRunner`, so they run the same kernels with the same late policy. `impl` is
`rules.kernels` (numba, production) or `rules.reference_kinds` (plain Python, for the
differential tests and the benchmark); both have the same signatures.

A runner's state (`carry` and the history a window needs) is plain lists, so the live
service can keep it in SQLite and a restarted service picks up where it stopped.
"""

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from rules import kernels
from rules.levels import AlarmLevelTable
from rules.rulebook import (
    DurationKind,
    EscalationKind,
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


def params_of(rule: Rule, levels: AlarmLevelTable) -> npt.NDArray[np.float64]:
    """The kernel's params for a rule (see each kind in rules/reference_kinds.py)."""
    if isinstance(rule, LevelKind):
        station = levels.station(rule.levels)
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


class RuleRunner:
    """The state of one rule across calls; `severity(state)` maps a state to the warning level."""

    def __init__(self, rule: Rule, levels: AlarmLevelTable, impl: ModuleType = kernels, watch_from_ms: int = -1):
        self.rule = rule
        self.impl = impl
        self.params = params_of(rule, levels)
        self.keep_ms = history_ms(rule)
        width = 2
        if isinstance(rule, DurationKind | StalenessKind):
            width = 3
        elif isinstance(rule, KOfNKind):
            width = 2 + 4 * len(rule.sensors_)
        elif isinstance(rule, EscalationKind):
            width = 3 + len(rule.when)
        self.carry = np.zeros(width, dtype=np.float64)
        self.carry[0] = -1.0
        if isinstance(rule, DurationKind):
            self.carry[2] = np.nan
        elif isinstance(rule, StalenessKind):
            self.carry[2] = watch_from_ms
        elif isinstance(rule, KOfNKind):
            for s in range(len(rule.sensors_)):
                self.carry[2 + 4 * s] = -1.0
                self.carry[2 + 4 * s + 2] = -1.0
        self.hist_ts = np.empty(0, dtype=np.int64)
        self.hist_vals = np.empty(0, dtype=np.float64)

    @property
    def state(self) -> int:
        return int(self.carry[1])

    def severity(self, state: int) -> int:
        rule = self.rule
        if isinstance(rule, DurationKind | RateOfRiseKind | KOfNKind):
            return rule.severity if state else 0
        return state

    # -- single-sensor kinds -------------------------------------------------------------

    def feed(self, ts: Any, vals: Any, horizon_ms: int = -1) -> list[Transition]:
        """New readings of the rule's one sensor, in arrival order (NaN: not good)."""
        rule = self.rule
        ts, vals = _i64(ts), _f64(vals)
        sensor = rule.sensors()[0]
        if isinstance(rule, StalenessKind):
            return self._staleness(ts, vals, horizon_ms, sensor)
        start_state = self.state
        if self.keep_ms:
            all_ts = np.concatenate((self.hist_ts, ts))
            all_vals = np.concatenate((self.hist_vals, vals))
            start = self.hist_ts.shape[0]
        else:
            all_ts, all_vals, start = ts, vals, 0
        last_before = self.carry[0]
        fn = getattr(self.impl, rule.kind)
        states = np.asarray(fn(all_ts, all_vals, start, self.params, self.carry), dtype=np.int8)
        if self.keep_ms:
            self._keep(ts, vals, last_before)
        return self._transitions(states, ts, vals, start_state, sensor)

    def _keep(self, ts: npt.NDArray[np.int64], vals: npt.NDArray[np.float64], last_before: float) -> None:
        """History: the admitted good readings within the rule's look-back."""
        admitted = np.zeros(ts.shape[0], dtype=bool)
        last = last_before
        for i in range(ts.shape[0]):
            if ts[i] > last:
                admitted[i] = True
                last = ts[i]
        admitted &= ~np.isnan(vals)
        hist_ts = np.concatenate((self.hist_ts, ts[admitted]))
        hist_vals = np.concatenate((self.hist_vals, vals[admitted]))
        recent = hist_ts >= self.carry[0] - self.keep_ms - 1
        self.hist_ts, self.hist_vals = hist_ts[recent], hist_vals[recent]

    def _transitions(
        self, states: npt.NDArray[np.int8], ts: npt.NDArray[np.int64], vals: Any, start_state: int, sensor: Any
    ) -> list[Transition]:
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

    # -- persistence ---------------------------------------------------------------------

    def dump(self) -> dict[str, list[float] | list[int]]:
        return {"carry": self.carry.tolist(), "hist_ts": self.hist_ts.tolist(), "hist_vals": self.hist_vals.tolist()}

    def load(self, saved: dict[str, Any]) -> None:
        carry = _f64(saved["carry"])
        if carry.shape != self.carry.shape:
            raise ValueError(f"saved state of rule {self.rule.name!r} does not fit its kind (was the rule changed?)")
        self.carry = carry
        self.hist_ts, self.hist_vals = _i64(saved["hist_ts"]), _f64(saved["hist_vals"])

"""Live evaluation of a rule book over telemetry batches, in event time: pure, no I/O.

`RuleBookEvaluator.evaluate(batch)` feeds each rule the readings of its sensors and
returns the transitions; `tick(now_ms)` judges silence for the staleness rules;
`to_warning` turns a transition into the `WarningMessage` that goes out.

Cost: the rules are held in groups of one kind (`rules.rule_groups`: params and carries
as matrices), and a batch runs each group in one compiled call (`rules.batch_kernels`),
so a tick of 10,000 sensors costs a few Python calls per kind, not several per rule. The
history the windowed kinds look back into is kept once per sensor (`rules.windows`).
`take_changes` gives what the store writes: the pages of carries that changed and the
readings the windows admitted (`rules.state`), not every rule's whole history.

Late and out-of-order readings (the stated policy):
- Within a batch a sensor's readings are taken in time order (a gateway may send them
  in any order).
- Across batches, a reading at or before the last admitted reading of its sensor is
  late (counted in `late_readings`; ingest still stores it). Nothing is decided at a
  late reading's time, and a warning already sent is never taken back; a QoS 1 resend,
  which repeats its time, counts once. But a good late reading still in reach of a
  windowed rule (rain sums, rate of rise) joins that sensor's window history, so the
  rules count it from the sensor's next reading on (`late_in_windows`): the rain a
  gateway held through a 4G outage, sent behind the live readings, is not lost from the
  24 h sum. The backtest feeds the history sorted, so a live run that received
  everything in order decides exactly what the backtest decides.
- A reading whose quality is not `good` (or whose value is null) abstains: NaN to the
  kernels. Staleness counts only good readings as signs of life.

Alarm levels are versioned (`rules.levels`): a level rule judges each reading against the
levels in effect at the reading's time. Readings on both sides of a change of version are
fed in two pieces, the rules' state carried across, with the new levels from the second.
"""

import math
from collections import defaultdict
from itertools import chain

import numpy as np
import numpy.typing as npt

from rules import batch_kernels
from rules.forecast import rule as forecast_rule
from rules.inventory import quantity_of
from rules.levels import AlarmLevelTable
from rules.network import RiverNetwork
from rules.rule_groups import RuleGroup, group_rules
from rules.rulebook import (
    DurationKind,
    EscalationKind,
    ForecastKind,
    KOfNKind,
    LevelKind,
    RainfallKind,
    RateOfRiseKind,
    RuleBook,
    StalenessKind,
)
from rules.runner import RuleRunner, Transition, params_of
from rules.series import Series, cut_at
from rules.state import SENSOR_PAGE, Layout, Readings, SavedState, StateChanges, carry_pages, sensor_pages
from rules.windows import SensorWindows
from wire_contract.payload import Quality, TelemetryBatch, WarningMessage

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def _copies(ts: I64, vals: F64) -> tuple[I64, F64]:
    return ts.copy(), vals.copy()


def _union(ts_a: I64, vals_a: F64, ts_b: I64, vals_b: F64) -> tuple[I64, F64]:
    """Two histories of one sensor as one, sorted, each time once."""
    ts, index = np.unique(np.concatenate((ts_a, ts_b)), return_index=True)
    return ts, np.concatenate((vals_a, vals_b))[index]


class _Batch:
    """A feed's readings as flat arrays: sensor slot s's are at `first[s] : first[s] + count[s]`."""

    def __init__(self, series: Series, slot: dict[str, int], sensors: int) -> None:
        self.first = np.zeros(sensors, dtype=np.int64)
        self.count = np.zeros(sensors, dtype=np.int64)
        names = [name for name in series if name in slot]  # plain comprehensions: a tick has 10,000 of them
        times = [series[name][0] for name in names]
        lengths = np.fromiter(map(len, times), np.int64, len(names))
        slots = np.fromiter(map(slot.__getitem__, names), np.int64, len(names))
        self.count[slots] = lengths
        self.first[slots] = np.cumsum(lengths) - lengths
        total = int(lengths.sum())
        self.ts = np.fromiter(chain.from_iterable(times), np.int64, total)
        self.vals = np.fromiter(chain.from_iterable([series[name][1] for name in names]), np.float64, total)


class RuleBookEvaluator:
    def __init__(
        self, book: RuleBook, levels: AlarmLevelTable, watch_from_ms: int = -1, network: RiverNetwork | None = None
    ) -> None:
        self.book = book
        self.levels = levels
        self.network = network  # with it, a warning from an upstream gauge says when the water arrives
        self.sensors = {sensor for rule in book.rules for sensor in rule.sensors()}
        # A sensor's readings count only in the quantity its rules read (a level rule never
        # sees millimetres of rain sent under the same id); staleness alone accepts any.
        self.quantities = {
            sensor: wanted for rule in book.rules for sensor in rule.sensors() if (wanted := quantity_of(rule, sensor))
        }
        self._forecasts = [rule for rule in book.rules if isinstance(rule, ForecastKind)]
        if self._forecasts and network is None:
            raise ValueError("forecast rules read the river network: give the evaluator one")
        self.forecast_details: dict[str, str] = {}  # transition id -> what a forecast warning says
        self.wrong_quantity_readings = 0
        self.late_readings = 0
        self.late_in_windows = 0  # of the late readings, those a windowed rule still counts
        self._by_name = {rule.name: rule for rule in book.rules}
        self._sensor_names = sorted(self.sensors)
        self._slot = {sensor: slot for slot, sensor in enumerate(self._sensor_names)}
        self._groups = group_rules(book, levels, self._slot, watch_from_ms)
        self._where = {name: (group, row) for group in self._groups.values() for row, name in enumerate(group.names)}
        self._batched = [g for g in self._groups.values() if g.kind in batch_kernels.KIND_CODES]
        self._staleness = [g for g in self._groups.values() if g.kind == "staleness"]
        # k-of-n and escalation rules are few: they run one by one, on a view of their group's carry.
        self._runners: dict[str, RuleRunner] = {}
        for group in self._groups.values():
            if group.kind in ("k_of_n", "escalation"):
                for row, rule in enumerate(group.rules):
                    runner = RuleRunner(rule, levels)
                    runner.carry = group.carry[row]
                    self._runners[rule.name] = runner
        self._k_of_n = [rule for rule in book.rules if isinstance(rule, KOfNKind)]
        self._escalations = [rule for rule in book.rules if isinstance(rule, EscalationKind)]
        self._escalations_of: defaultdict[str, list[int]] = defaultdict(list)
        for index, rule in enumerate(self._escalations):
            for source in (rule.base, *(c.rule for c in rule.when)):
                self._escalations_of[source].append(index)
        keep = np.zeros(len(self._sensor_names), dtype=np.int64)
        for group in self._batched:
            np.maximum.at(keep, group.sensor, group.keep)
        for forecast in self._forecasts:  # a forecast reads its sensors' history from the same windows
            for sensor in forecast.sensors():
                keep[self._slot[sensor]] = max(keep[self._slot[sensor]], forecast_rule.history_ms(forecast))
        self._windows = SensorWindows(keep)
        batch_kernels.load_compiled()
        self._no_readings = _Batch({}, self._slot, len(self._sensor_names))
        self._last_ts: dict[str, int] = {}
        self._marks = np.full((len(self._sensor_names), 2), -1, dtype=np.int64)  # late policy's, windows' watermark
        self._changed_sensors: set[str] = set()
        self._sensor_dirty = np.zeros(-(-len(self._sensor_names) // SENSOR_PAGE), dtype=np.bool_)
        self._appended: list[Readings] = []
        self._layout_saved = False  # the next commit writes everything (first save, or a new layout)
        self._level_changes_ms = levels.changes_ms()
        self._level_rows = [(g, row) for g in self._batched if g.kind == "level" for row in range(len(g))]
        self._levels_period: int | None = None  # which versions the level rules' params hold
        rules = sorted((name, group.key, row) for name, (group, row) in self._where.items())
        self.layout = Layout(rules=tuple(rules), sensors=tuple(self._sensor_names))

    def state_of(self, rule: str) -> int:
        """A rule's current state (0: quiet)."""
        group, row = self._where[rule]
        return int(group.carry[row, 1])

    def evaluate(self, batch: TelemetryBatch) -> list[Transition]:
        series: Series = defaultdict(lambda: ([], []))
        late: Series = defaultdict(lambda: ([], []))
        for reading in sorted(batch.readings, key=lambda r: r.ts_ms):
            if reading.sensor not in self.sensors:
                continue
            if self.quantities.get(reading.sensor, reading.quantity) != reading.quantity:
                self.wrong_quantity_readings += 1
                continue
            if reading.ts_ms <= self._last_ts.get(reading.sensor, -1):
                self.late_readings += 1
                if reading.quality is Quality.good and reading.value is not None:
                    late[reading.sensor][0].append(reading.ts_ms)
                    late[reading.sensor][1].append(float(reading.value))
                continue
            self._last_ts[reading.sensor] = reading.ts_ms
            self._changed_sensors.add(reading.sensor)
            good = reading.quality is Quality.good and reading.value is not None
            series[reading.sensor][0].append(reading.ts_ms)
            series[reading.sensor][1].append(float(reading.value) if good and reading.value is not None else math.nan)
        self._into_windows(late)
        return self.feed(series)

    def _into_windows(self, late: Series) -> None:
        """Late good readings within a window's reach join their sensor's history (once each)."""
        windows = self._windows
        for sensor, (ts_list, vals_list) in late.items():
            slot = self._slot[sensor]
            if windows.keep[slot] == 0:
                continue
            ts, first = np.unique(np.array(ts_list, dtype=np.int64), return_index=True)  # a resend: once
            vals = np.array(vals_list, dtype=np.float64)[first]
            history_ts, history_vals = windows.history(slot)
            new = (ts > windows.last[slot] - windows.keep[slot]) & ~np.isin(ts, history_ts)
            if not new.any():
                continue
            ts, vals = ts[new], vals[new]
            windows.restore(slot, *_union(history_ts, history_vals, ts, vals), int(windows.last[slot]))
            self._appended.append(Readings(np.full(ts.shape[0], slot, dtype=np.int64), ts, vals))
            self.late_in_windows += int(ts.shape[0])

    def feed(self, series: Series, horizon_ms: int = -1) -> list[Transition]:
        """Readings per sensor (times ascending, NaN = not good) through every rule."""
        pieces = cut_at(series, self._level_changes_ms)
        out: list[Transition] = []
        for number, (period, piece) in enumerate(pieces):
            if piece:  # a feed without readings (a backtest's quiet day) runs no level rule
                self._use_levels_of(period)
            out += self._feed(piece, horizon_ms if number == len(pieces) - 1 else -1)
        return out

    def _use_levels_of(self, period: int) -> None:
        if period == self._levels_period:
            return
        changes = self._level_changes_ms
        at_ms = changes[period - 1] if period > 0 else (changes[0] - 1 if changes else -1)
        for group, row in self._level_rows:
            group.params[row] = params_of(group.rules[row], self.levels, at_ms)
        self._levels_period = period

    def _feed(self, series: Series, horizon_ms: int) -> list[Transition]:
        batch = _Batch(series, self._slot, len(self._sensor_names))
        windows = self._windows
        staged = windows.windowed[batch.count[windows.windowed] > 0]
        window_first = windows.stage(staged, batch.ts, batch.vals, batch.first, batch.count)
        self._sensor_dirty[staged // SENSOR_PAGE] = True
        out: list[tuple[int, int, Transition]] = []  # (rule-book index, order, transition)
        for group in self._batched:
            out += self._feed_group(group, batch, window_first)
        for group in self._staleness:
            out += self._staleness_group(group, batch, horizon_ms, touch_fed=True)
        for rule in self._k_of_n:
            merged = sorted(
                (t, s, v)
                for s, sensor in enumerate(rule.sensors_)
                for t, v in zip(*series.get(sensor, ([], [])), strict=True)
            )
            if merged:
                group, row = self._where[rule.name]
                group.touch(np.array([row]))
                changed = self._runners[rule.name].feed_merged(*zip(*merged, strict=True))
                out += [(group.book_index[row], i, t) for i, t in enumerate(changed)]
        for forecast in self._forecasts:  # on the whole batch, before admission drops old history
            out += self._decide_forecast(forecast, batch)
        appended = windows.admit(staged, batch.count)
        if appended[0].shape[0]:
            self._appended.append(Readings(*appended))
        transitions = [t for _, _, t in sorted(out, key=lambda entry: (entry[0], entry[1]))]
        transitions += self._escalate(transitions)
        return sorted(transitions, key=lambda t: t.ts_ms)

    def _feed_group(self, group: RuleGroup, batch: _Batch, window_first: I64) -> list[tuple[int, int, Transition]]:
        rows = np.flatnonzero(batch.count[group.sensor] > 0)
        if not rows.size:
            return []
        group.touch(rows)
        windows = self._windows
        if group.keep[0] > 0:  # windowed kinds read history + new readings from the windows' buffer
            ts, vals, head, first = windows.ts, windows.vals, windows.head, window_first
        else:
            ts, vals, head, first = batch.ts, batch.vals, batch.first, batch.first
        found = np.empty((int(batch.count[group.sensor[rows]].sum()), 4), dtype=np.int64)
        n = batch_kernels.feed_rules(
            batch_kernels.KIND_CODES[group.kind], rows, group.sensor, group.keep, group.params, group.carry,
            ts, vals, head, first, batch.count, batch.first, found,
        )  # fmt: skip
        out = []
        for order, (row, read, before, after) in enumerate(found[:n].tolist()):
            rule = group.rules[row]
            transition = Transition(
                rule=rule.name, kind=rule.kind, station=rule.station, sensor=self._sensor_names[group.sensor[row]],
                ts_ms=int(batch.ts[read]), previous=group.level_of(row, before), state=group.level_of(row, after),
                value=float(batch.vals[read]),
            )  # fmt: skip
            out.append((group.book_index[row], order, transition))
        return out

    def _decide_forecast(self, rule: ForecastKind, batch: _Batch) -> list[tuple[int, int, Transition]]:
        slots = [self._slot[sensor] for sensor in rule.sensors()]
        fed = [s for s in slots if batch.count[s] > 0]
        if not fed:
            return []
        pieces = [batch.ts[batch.first[s] : batch.first[s] + batch.count[s]] for s in fed]
        history = {self._sensor_names[s]: self._history_and_batch(s, batch) for s in slots}
        group, row = self._where[rule.name]
        group.touch(np.array([row]))
        assert self.network is not None
        decided = forecast_rule.decide(
            rule, self.levels, self.network, history, min(int(p.min()) for p in pieces),
            max(int(p.max()) for p in pieces), group.carry[row],
        )  # fmt: skip
        out = []
        for order, (transition, detail) in enumerate(decided):
            self.forecast_details[transition.transition_id] = detail
            out.append((group.book_index[row], order, transition))
        return out

    def _history_and_batch(self, slot: int, batch: _Batch) -> tuple[list[int], list[float]]:
        """A sensor's kept history and the batch's readings of it that the windows will admit."""
        ts, vals = self._windows.history(slot)
        new = slice(batch.first[slot], batch.first[slot] + batch.count[slot])
        new_ts, new_vals = batch.ts[new], batch.vals[new]
        admitted = new_ts > np.maximum.accumulate(np.concatenate(([self._windows.last[slot]], new_ts[:-1])))
        return ts.tolist() + new_ts[admitted].tolist(), vals.tolist() + new_vals[admitted].tolist()

    def _staleness_group(
        self, group: RuleGroup, batch: _Batch, horizon_ms: int, touch_fed: bool
    ) -> list[tuple[int, int, Transition]]:
        rows = np.arange(len(group), dtype=np.int64)
        found = np.empty((int((2 * batch.count[group.sensor] + 1).sum()), 3), dtype=np.int64)
        n = batch_kernels.staleness_rules(
            rows,
            group.sensor,
            group.params,
            group.carry,
            batch.ts,
            batch.vals,
            batch.first,
            batch.count,
            horizon_ms,
            found,
        )
        if touch_fed:
            group.touch(np.flatnonzero(batch.count[group.sensor] > 0))
        group.touch(found[:n, 0])
        out = []
        for order, (row, ts_ms, state) in enumerate(found[:n].tolist()):
            rule = group.rules[row]
            transition = Transition(
                rule=rule.name, kind=rule.kind, station=rule.station, sensor=self._sensor_names[group.sensor[row]],
                ts_ms=ts_ms, previous=1 - state, state=state, value=0.0,
            )  # fmt: skip
            out.append((group.book_index[row], order, transition))
        return out

    def _escalate(self, transitions: list[Transition]) -> list[Transition]:
        by_rule: defaultdict[str, list[Transition]] = defaultdict(list)
        for transition in transitions:
            by_rule[transition.rule].append(transition)
        out: list[Transition] = []
        for index in sorted({i for name in by_rule for i in self._escalations_of.get(name, ())}):
            rule = self._escalations[index]
            sources = [rule.base, *(c.rule for c in rule.when)]
            changes = sorted(
                ((t.ts_ms, source, t) for source, name in enumerate(sources) for t in by_rule.get(name, ())),
                key=lambda change: (change[0], change[1]),
            )
            if changes:
                group, row = self._where[rule.name]
                group.touch(np.array([row]))
                out += self._runners[rule.name].feed_changes(changes)
        return out

    def tick(self, now_ms: int) -> list[Transition]:
        """Judge silence up to `now_ms` (staleness rules only)."""
        out: list[tuple[int, int, Transition]] = []
        for group in self._staleness:
            out += self._staleness_group(group, self._no_readings, now_ms, touch_fed=False)
        return [t for _, _, t in sorted(out, key=lambda entry: (entry[0], entry[1]))]

    # -- state ---------------------------------------------------------------------------

    def dump(self) -> SavedState:
        """The whole state, by name (what a restart loads)."""
        self._note_marks()
        windows = self._windows
        return SavedState(
            layout=self.layout,
            carries={name: group.carry[row].copy() for name, (group, row) in self._where.items()},
            late_ts=dict(self._last_ts),
            window_last={self._sensor_names[s]: int(windows.last[s]) for s in windows.windowed.tolist()},
            history={self._sensor_names[s]: _copies(*windows.history(s)) for s in windows.windowed.tolist()},
        )

    def take_changes(self) -> StateChanges:
        """What changed since the last call, in pages (`rules.state`): what the service commits.

        The first call (and the first after loading a state saved under another layout)
        gives everything, with the layout."""
        self._note_marks()
        everything = not self._layout_saved
        windows = self._windows
        changes = StateChanges(
            layout=self.layout if everything else None,
            carry_pages=[
                page
                for group in self._groups.values()
                for page in carry_pages(group.key, group.carry, group.take_dirty(everything))
            ],
            sensor_pages=sensor_pages(self._marks, self._take_sensor_pages(everything)),
            appended=Readings(*windows.all_history()) if everything else Readings.concat(self._appended),
            floors=windows.floors(),
            kept=windows.kept_count(),
        )
        self._appended.clear()
        self._layout_saved = True
        return changes

    def _note_marks(self) -> None:
        for sensor in self._changed_sensors:
            slot = self._slot[sensor]
            self._marks[slot, 0] = self._last_ts[sensor]
            self._sensor_dirty[slot // SENSOR_PAGE] = True
        self._changed_sensors.clear()
        self._marks[:, 1] = self._windows.last

    def _take_sensor_pages(self, everything: bool) -> list[int]:
        pages = list(range(self._sensor_dirty.shape[0])) if everything else np.flatnonzero(self._sensor_dirty).tolist()
        self._sensor_dirty[:] = False
        return pages

    def load(self, saved: SavedState) -> None:
        """Restore a saved state; rules and sensors the rule book no longer has are left out."""
        for name, carry in saved.carries.items():
            if name not in self._where:
                continue
            group, row = self._where[name]
            if carry.shape[0] != group.carry.shape[1]:
                raise ValueError(f"saved state of rule {name!r} does not fit its kind (was the rule changed?)")
            group.carry[row] = carry
        self._last_ts = {sensor: int(ts) for sensor, ts in saved.late_ts.items() if sensor in self._slot}
        self._changed_sensors = set(self._last_ts)
        windows = self._windows
        history = dict(saved.history)
        for name, (ts, vals) in saved.rule_history.items():  # the first format: per rule, merged per sensor
            if name in self._where and (sensor := self._by_name[name].sensors()[0]) in self._slot:
                history[sensor] = _union(*history.get(sensor, (ts[:0], vals[:0])), ts, vals)
        empty = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))
        for slot in windows.windowed.tolist():
            sensor = self._sensor_names[slot]
            last = saved.window_last.get(sensor, self._window_last_from_carries(slot))
            windows.restore(slot, *history.get(sensor, empty), last)
        self._appended.clear()
        self._layout_saved = saved.layout == self.layout

    def _window_last_from_carries(self, slot: int) -> int:
        """A sensor's windows' watermark when none was saved: its windowed rules all admitted the same readings."""
        marks = [group.carry[group.sensor == slot, 0] for group in self._batched if group.keep[0] > 0]
        return int(max((m.max() for m in marks if m.size), default=-1))

    def to_warning(self, transition: Transition) -> WarningMessage:
        rule = self._by_name[transition.rule]
        thresholds, unit, source, detail = self._describe(rule, transition)
        if self.network is not None and transition.state > transition.previous:
            note = self.network.arrival_note(transition.sensor, transition.station, transition.ts_ms)
            detail = "; ".join(part for part in (detail, note) if part)
        return WarningMessage(
            warning_id=transition.transition_id,
            rule=transition.rule,
            station=transition.station,
            sensor=transition.sensor,
            level=transition.state,
            previous_level=transition.previous,
            value=transition.value if math.isfinite(transition.value) else 0.0,
            ts_ms=transition.ts_ms,
            thresholds_m=thresholds,
            thresholds_source=source,
            kind=transition.kind,
            data_warning=isinstance(rule, StalenessKind),
            unit=unit,
            detail=detail,
        )

    def _describe(self, rule: object, transition: Transition) -> tuple[tuple[float, float, float], str, str, str]:
        if isinstance(rule, LevelKind | ForecastKind):
            station = self.levels.station(rule.levels, transition.ts_ms)  # the version that decided it
            source = f"{station.source} (effective from {station.effective_from.isoformat()})"
            detail = self.forecast_details.pop(transition.transition_id, "") if isinstance(rule, ForecastKind) else ""
            return station.thresholds_m, "m", source, detail
        if isinstance(rule, DurationKind):
            held = rule.fire_after if transition.state else rule.clear_after
            return (rule.above_m,) * 3, "m", f"rule {rule.name}", f"held for {held // 60_000} min"
        if isinstance(rule, RateOfRiseKind):
            return (rule.rise_cm_per_h,) * 3, "cm/h", f"rule {rule.name}", f"over {rule.window // 60_000} min"
        if isinstance(rule, RainfallKind):
            overs = [c.over_mm for c in rule.categories]
            overs += [overs[-1]] * (3 - len(overs))
            name = rule.categories[transition.state - 1].name if transition.state else "below categories"
            return (overs[0], overs[1], overs[2]), "mm", f"rule {rule.name}", f"{rule.window} rain: {name}"
        if isinstance(rule, StalenessKind):
            what = "silent" if transition.state else "reporting again"
            return (0.0, 0.0, 0.0), "m", f"rule {rule.name}", f"data warning: {rule.sensor} {what}"
        if isinstance(rule, KOfNKind):
            return (rule.above_m,) * 3, "m", f"rule {rule.name}", f"{rule.k} of {len(rule.sensors_)} sensors"
        assert isinstance(rule, EscalationKind)
        return (0.0, 0.0, 0.0), "m", f"rule {rule.name}", "combined hazards: " + ", ".join(c.rule for c in rule.when)

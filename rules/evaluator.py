"""Live evaluation of a rule book over telemetry batches, in event time: pure, no I/O.

`RuleBookEvaluator.evaluate(batch)` feeds each rule the readings of its sensors and
returns the transitions; `tick(now_ms)` judges silence for the staleness rules;
`to_warning` turns a transition into the `WarningMessage` that goes out.

Late and out-of-order readings (the stated policy):
- Within a batch a sensor's readings are taken in time order (a gateway may send them
  in any order).
- Across batches, a reading at or before the last admitted reading of its sensor is
  late: it is dropped for the rules (ingest still stores it) and counted in
  `late_readings`. A warning already sent is never taken back, and a QoS 1 resend,
  which repeats its time, counts once. The backtest feeds the history sorted, so a live
  run that received everything in order decides exactly what the backtest decides.
- A reading whose quality is not `good` (or whose value is null) abstains: NaN to the
  kernels. Staleness counts only good readings as signs of life.
"""

import math
from collections import defaultdict

from rules.inventory import quantity_for
from rules.levels import AlarmLevelTable
from rules.rulebook import (
    DurationKind,
    EscalationKind,
    KOfNKind,
    LevelKind,
    RainfallKind,
    RateOfRiseKind,
    RuleBook,
    StalenessKind,
)
from rules.runner import RuleRunner, Transition
from wire_contract.payload import Quality, TelemetryBatch, WarningMessage

Series = dict[str, tuple[list[int], list[float]]]


class RuleBookEvaluator:
    def __init__(self, book: RuleBook, levels: AlarmLevelTable, watch_from_ms: int = -1) -> None:
        self.book = book
        self.levels = levels
        self.runners = {rule.name: RuleRunner(rule, levels, watch_from_ms=watch_from_ms) for rule in book.rules}
        self.sensors = {sensor for rule in book.rules for sensor in rule.sensors()}
        # A sensor's readings count only in the quantity its rules read (a level rule never
        # sees millimetres of rain sent under the same id); staleness alone accepts any.
        self.quantities = {
            sensor: wanted for rule in book.rules if (wanted := quantity_for(rule)) for sensor in rule.sensors()
        }
        self.wrong_quantity_readings = 0
        self.late_readings = 0
        self._by_name = {rule.name: rule for rule in book.rules}
        self._escalations = [rule for rule in book.rules if isinstance(rule, EscalationKind)]
        self._last_ts: dict[str, int] = {}
        self._changed: set[str] = set()  # runners fed since the last take_changes()
        self._changed_sensors: set[str] = set()

    def evaluate(self, batch: TelemetryBatch) -> list[Transition]:
        series: Series = defaultdict(lambda: ([], []))
        for reading in sorted(batch.readings, key=lambda r: r.ts_ms):
            if reading.sensor not in self.sensors:
                continue
            if self.quantities.get(reading.sensor, reading.quantity) != reading.quantity:
                self.wrong_quantity_readings += 1
                continue
            if reading.ts_ms <= self._last_ts.get(reading.sensor, -1):
                self.late_readings += 1
                continue
            self._last_ts[reading.sensor] = reading.ts_ms
            self._changed_sensors.add(reading.sensor)
            good = reading.quality is Quality.good and reading.value is not None
            series[reading.sensor][0].append(reading.ts_ms)
            series[reading.sensor][1].append(float(reading.value) if good and reading.value is not None else math.nan)
        return self.feed(series)

    def feed(self, series: Series, horizon_ms: int = -1) -> list[Transition]:
        """Readings per sensor (times ascending, NaN = not good) through every rule."""
        out: list[Transition] = []
        for rule in self.book.rules:
            runner = self.runners[rule.name]
            if isinstance(rule, LevelKind | DurationKind | RateOfRiseKind | RainfallKind):
                if rule.sensor in series:
                    out += runner.feed(*series[rule.sensor])
                    self._changed.add(rule.name)
            elif isinstance(rule, StalenessKind):
                ts, vals = series.get(rule.sensor, ([], []))
                silence = runner.feed(ts, vals, horizon_ms)
                if ts or silence:
                    self._changed.add(rule.name)
                out += silence
            elif isinstance(rule, KOfNKind):
                merged = sorted(
                    (t, s, v)
                    for s, sensor in enumerate(rule.sensors_)
                    for t, v in zip(*series.get(sensor, ([], [])), strict=True)
                )
                if merged:
                    out += runner.feed_merged(*zip(*merged, strict=True))
                    self._changed.add(rule.name)
        by_rule: defaultdict[str, list[Transition]] = defaultdict(list)
        for transition in out:
            by_rule[transition.rule].append(transition)
        for rule in self._escalations:
            sources = [rule.base, *(c.rule for c in rule.when)]
            changes = sorted(
                ((t.ts_ms, index, t) for index, name in enumerate(sources) for t in by_rule.get(name, ())),
                key=lambda change: (change[0], change[1]),
            )
            if changes:
                out += self.runners[rule.name].feed_changes(changes)
                self._changed.add(rule.name)
        return sorted(out, key=lambda t: t.ts_ms)

    def tick(self, now_ms: int) -> list[Transition]:
        """Judge silence up to `now_ms` (staleness rules only)."""
        out: list[Transition] = []
        for rule in self.book.rules:
            if isinstance(rule, StalenessKind):
                silence = self.runners[rule.name].feed([], [], now_ms)
                if silence:
                    self._changed.add(rule.name)
                out += silence
        return out

    def dump(self) -> dict[str, object]:
        """The whole state (see `take_changes` for what changed)."""
        return {
            "runners": {name: runner.dump() for name, runner in self.runners.items()},
            "last_ts": dict(self._last_ts),
        }

    def take_changes(self) -> dict[str, object]:
        """The state of what was fed since the last call, in `dump`'s shape: what the service commits."""
        changes = {
            "runners": {name: self.runners[name].dump() for name in sorted(self._changed)},
            "last_ts": {sensor: self._last_ts[sensor] for sensor in sorted(self._changed_sensors)},
        }
        self._changed.clear()
        self._changed_sensors.clear()
        return changes

    def load(self, saved: dict[str, object]) -> None:
        runners = saved["runners"]
        last_ts = saved["last_ts"]
        assert isinstance(runners, dict) and isinstance(last_ts, dict)
        for name, state in runners.items():
            if name in self.runners:
                self.runners[name].load(state)
        self._last_ts = {str(k): int(v) for k, v in last_ts.items()}

    def to_warning(self, transition: Transition) -> WarningMessage:
        rule = self._by_name[transition.rule]
        thresholds, unit, source, detail = self._describe(rule, transition)
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
        if isinstance(rule, LevelKind):
            station = self.levels.station(rule.levels)
            source = f"{station.source} (effective from {station.effective_from.isoformat()})"
            return station.thresholds_m, "m", source, ""
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

"""Live evaluation of level rules over telemetry batches: pure, no I/O.

`LevelEvaluator.evaluate(batch)` takes the batch's `water_level` readings of sensors
that have a rule, advances each sensor's alarm level with the numba kernel (semantics
in `rules.reference`) and returns one `WarningMessage` per change of level.

- Only `good` readings count; any other quality abstains (neither raises nor clears),
  as a NaN does in the kernel.
- Late readings do not rewrite the past: a reading at or before the last evaluated time
  of its sensor is ignored (a QoS 1 resend repeats its time; the first value wins).
"""

from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from rules.kernel import level_states_kernel, transitions
from rules.levels import AlarmLevelTable, LevelRule, RuleSet, StationLevels, Thresholds
from wire_contract.payload import Quality, Reading, TelemetryBatch, WarningMessage


class _Point(NamedTuple):
    ts_ms: int
    value: float


@dataclass(frozen=True)
class _Binding:
    """A rule compiled at start-up: the kernel's arrays are built once, not per batch."""

    rule: LevelRule
    thresholds_m: Thresholds
    up: npt.NDArray[np.float64]
    down: npt.NDArray[np.float64]
    source: str


def _bind(rule: LevelRule, levels: StationLevels) -> _Binding:
    return _Binding(
        rule=rule,
        thresholds_m=levels.thresholds_m,
        up=np.array(levels.thresholds_m, dtype=np.float64),
        down=np.array(levels.clear_below_m, dtype=np.float64),
        source=f"{levels.source} (effective from {levels.effective_from.isoformat()})",
    )


class LevelEvaluator:
    """Keeps the current alarm level of each ruled sensor (0 at start)."""

    def __init__(self, rules: RuleSet, levels: AlarmLevelTable) -> None:
        self._bindings = {rule.sensor: _bind(rule, levels.station(rule.levels)) for rule in rules.rules}
        self._levels = dict.fromkeys(self._bindings, 0)
        self._last_ts_ms: dict[str, int] = {}

    def current_levels(self) -> dict[str, int]:
        return dict(self._levels)

    def snapshot(self) -> tuple[dict[str, int], dict[str, int]]:
        """The evaluator's state, so a caller whose delivery fails can roll back and retry."""
        return dict(self._levels), dict(self._last_ts_ms)

    def restore(self, snapshot: tuple[dict[str, int], dict[str, int]]) -> None:
        self._levels, self._last_ts_ms = dict(snapshot[0]), dict(snapshot[1])

    def evaluate(self, batch: TelemetryBatch) -> list[WarningMessage]:
        warnings: list[WarningMessage] = []
        for sensor, points in self._new_points(batch).items():
            warnings.extend(self._advance(self._bindings[sensor], points))
        return warnings

    def _counts(self, reading: Reading) -> bool:
        return (
            reading.quantity == "water_level" and reading.sensor in self._bindings and reading.quality is Quality.good
        )

    def _new_points(self, batch: TelemetryBatch) -> dict[str, list[_Point]]:
        """Per sensor, the readings that count, in time order, newer than evaluated."""
        grouped: defaultdict[str, list[_Point]] = defaultdict(list)
        for reading in batch.readings:
            # The contract allows no null value in a good reading; this narrows the type.
            if self._counts(reading) and reading.value is not None:
                grouped[reading.sensor].append(_Point(reading.ts_ms, reading.value))
        return {sensor: self._after_last(sensor, points) for sensor, points in grouped.items()}

    def _after_last(self, sensor: str, points: list[_Point]) -> list[_Point]:
        last = self._last_ts_ms.get(sensor, -1)
        kept = []
        for point in sorted(points, key=lambda p: p.ts_ms):  # stable: first value wins
            if point.ts_ms > last:
                kept.append(point)
                last = point.ts_ms
        return kept

    def _advance(self, binding: _Binding, points: list[_Point]) -> list[WarningMessage]:
        if not points:
            return []
        sensor = binding.rule.sensor
        start = self._levels[sensor]
        values = np.array([point.value for point in points], dtype=np.float64)
        states = level_states_kernel(values, binding.up, binding.down, start)
        warnings = [
            _warning(binding, points[i], int(states[i - 1]) if i else start, int(states[i]))
            for i in transitions(states, start)
        ]
        self._levels[sensor] = int(states[-1])
        self._last_ts_ms[sensor] = points[-1].ts_ms
        return warnings


def _warning(binding: _Binding, point: _Point, previous: int, level: int) -> WarningMessage:
    rule = binding.rule
    return WarningMessage(
        warning_id=f"{rule.name}:{rule.sensor}:{point.ts_ms}:{previous}->{level}",
        rule=rule.name,
        station=rule.station,
        sensor=rule.sensor,
        level=level,
        previous_level=previous,
        value=point.value,
        ts_ms=point.ts_ms,
        thresholds_m=binding.thresholds_m,
        thresholds_source=binding.source,
    )

"""The live evaluator on the shipped level rules: telemetry batches in, real WarningMessage objects out."""

import itertools

import pytest

from rules import SHIPPED_ALARM_LEVELS, SHIPPED_RULES, load_alarm_levels
from rules.evaluator import RuleBookEvaluator
from rules.rulebook import load_rulebook
from wire_contract import Quality, Reading, TelemetryBatch, WarningMessage, decode_warning, encode_warning

T0 = 1_602_086_400_000  # 2020-10-07T23:00+07:00
HOUR_MS = 3_600_000
LE_THUY_SOURCE_START = "Decision 05/2020/QĐ-TTg; BĐ1/BĐ2 from 2020 bulletins"
_seq = itertools.count()


def reading(
    hour: float,
    value: float | None,
    quality: Quality = Quality.good,
    sensor: str = "le_thuy.level",
    quantity: str = "water_level",
) -> Reading:
    unit = {"water_level": "m", "rain": "mm"}[quantity]
    station = sensor.split(".")[0]
    ts_ms = T0 + int(hour * HOUR_MS)
    return Reading(
        sensor=sensor, station=station, quantity=quantity, value=value, unit=unit, ts_ms=ts_ms, quality=quality
    )


def batch(*readings: Reading) -> TelemetryBatch:
    return TelemetryBatch(gateway="gw_hue_01", seq=next(_seq), readings=readings)


class LevelEvaluator:
    """RuleBookEvaluator seen as the warnings it sends and each sensor's current level."""

    def __init__(self) -> None:
        levels = load_alarm_levels(SHIPPED_ALARM_LEVELS)
        self.inner = RuleBookEvaluator(load_rulebook(SHIPPED_RULES, levels), levels)

    def evaluate(self, readings: TelemetryBatch) -> list[WarningMessage]:
        return [self.inner.to_warning(t) for t in self.inner.evaluate(readings)]

    def current_levels(self) -> dict[str, int]:
        return {rule.sensor: self.inner.state_of(rule.name) for rule in self.inner.book.rules}


@pytest.fixture
def evaluator() -> LevelEvaluator:
    return LevelEvaluator()


def steps(warnings: list[WarningMessage]) -> list[tuple[int, int, float]]:
    return [(w.previous_level, w.level, w.value) for w in warnings]


def test_starts_at_level_zero(evaluator: LevelEvaluator) -> None:
    assert evaluator.current_levels() == {"le_thuy.level": 0, "kim_long.level": 0, "phu_oc.level": 0}


def test_crossing_bd1_up_gives_exactly_one_warning(evaluator: LevelEvaluator) -> None:
    warnings = evaluator.evaluate(batch(reading(0, 1.01), reading(1, 1.10), reading(2, 1.22), reading(3, 1.30)))
    ts_ms = T0 + 2 * HOUR_MS
    assert warnings == [
        WarningMessage(
            warning_id=f"le_thuy_level:le_thuy.level:{ts_ms}:0->1",
            rule="le_thuy_level",
            station="le_thuy",
            sensor="le_thuy.level",
            level=1,
            previous_level=0,
            value=1.22,
            ts_ms=ts_ms,
            thresholds_m=(1.20, 2.20, 2.70),
            thresholds_source=warnings[0].thresholds_source,
            kind="level",
            unit="m",
        )
    ]
    assert warnings[0].thresholds_source.startswith(LE_THUY_SOURCE_START)
    assert warnings[0].thresholds_source.endswith("(effective from 2020-03-31)")
    assert decode_warning(encode_warning(warnings[0])) == warnings[0]
    assert evaluator.current_levels()["le_thuy.level"] == 1


def test_readings_are_taken_in_time_order(evaluator: LevelEvaluator) -> None:
    warnings = evaluator.evaluate(batch(reading(2, 2.81), reading(0, 1.22), reading(1, 2.25)))
    assert steps(warnings) == [(0, 1, 1.22), (1, 2, 2.25), (2, 3, 2.81)]
    assert [w.ts_ms for w in warnings] == [T0, T0 + HOUR_MS, T0 + 2 * HOUR_MS]


def test_jump_and_clear_across_batches(evaluator: LevelEvaluator) -> None:
    assert steps(evaluator.evaluate(batch(reading(0, 3.10)))) == [(0, 3, 3.10)]
    assert evaluator.evaluate(batch(reading(1, 2.68))) == []  # within hysteresis of BĐ3
    assert steps(evaluator.evaluate(batch(reading(2, 2.10), reading(3, 0.40)))) == [(3, 1, 2.10), (1, 0, 0.40)]
    assert evaluator.current_levels()["le_thuy.level"] == 0


@pytest.mark.parametrize("quality", [Quality.out_of_range, Quality.stale])
def test_bad_quality_reading_abstains(evaluator: LevelEvaluator, quality: Quality) -> None:
    evaluator.evaluate(batch(reading(0, 1.30)))
    # Neither clears the level (a bogus low value) nor raises one (a bogus high value).
    assert evaluator.evaluate(batch(reading(1, 0.10, quality), reading(2, 4.00, quality))) == []
    assert evaluator.evaluate(batch(reading(3, None, Quality.read_failure))) == []
    assert evaluator.current_levels()["le_thuy.level"] == 1


def test_late_reading_is_ignored(evaluator: LevelEvaluator) -> None:
    evaluator.evaluate(batch(reading(5, 1.00)))
    assert evaluator.evaluate(batch(reading(4, 3.00))) == []  # older than the last evaluated
    assert evaluator.evaluate(batch(reading(5, 3.00))) == []  # same time: the first value stands
    assert evaluator.current_levels()["le_thuy.level"] == 0
    assert steps(evaluator.evaluate(batch(reading(4.5, 3.00), reading(6, 1.25)))) == [(0, 1, 1.25)]


def test_unruled_sensors_and_other_quantities_are_ignored(evaluator: LevelEvaluator) -> None:
    warnings = evaluator.evaluate(
        batch(reading(0, 14.66, sensor="kien_giang.level"), reading(0, 70.2, quantity="rain"))
    )
    assert warnings == []
    assert set(evaluator.current_levels()) == {"le_thuy.level", "kim_long.level", "phu_oc.level"}


def test_sensors_keep_separate_levels(evaluator: LevelEvaluator) -> None:
    warnings = evaluator.evaluate(batch(reading(0, 2.05, sensor="kim_long.level"), reading(0, 2.05)))
    assert {(w.sensor, w.level) for w in warnings} == {("kim_long.level", 2), ("le_thuy.level", 1)}
    assert evaluator.current_levels() == {"le_thuy.level": 1, "kim_long.level": 2, "phu_oc.level": 0}

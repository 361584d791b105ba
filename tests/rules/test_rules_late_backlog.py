"""Late readings and windowed rules: a gateway's backlog, sent behind its live readings
after an outage (live first, as the edge agent does), still counts in the rain sums."""

import itertools
from pathlib import Path

from rules.evaluator import RuleBookEvaluator
from rules.levels import SHIPPED_ALARM_LEVELS, load_alarm_levels
from rules.rulebook import RuleBook
from rules.store import StateStore
from wire_contract import Quality, Reading, TelemetryBatch

T0 = 1_602_086_400_000
HOUR_MS = 3_600_000
LEVELS = load_alarm_levels(SHIPPED_ALARM_LEVELS)
BOOK = RuleBook.model_validate(
    {
        "rules": [
            {"name": "rain24", "kind": "rainfall", "station": "le_thuy", "sensor": "le_thuy.rain", "window": "24h",
             "categories": [{"name": "moderate", "over_mm": 15}, {"name": "heavy", "over_mm": 50},
                            {"name": "very heavy", "over_mm": 100}]},
        ]
    }
)  # fmt: skip
_seq = itertools.count()


def rain(hour: int, mm: float, quality: Quality = Quality.good) -> Reading:
    return Reading(
        sensor="le_thuy.rain", station="le_thuy", quantity="rain", unit="mm", value=mm, ts_ms=T0 + hour * HOUR_MS,
        quality=quality,
    )  # fmt: skip


def batch(*readings: Reading) -> TelemetryBatch:
    return TelemetryBatch(gateway="gw-le-thuy-01", seq=next(_seq), readings=readings)


def steps(evaluator: RuleBookEvaluator, *readings: Reading) -> list[tuple[int, int, int]]:
    return [((t.ts_ms - T0) // HOUR_MS, t.previous, t.state) for t in evaluator.evaluate(batch(*readings))]


def test_the_backlog_of_an_outage_counts_in_the_24h_sum_from_the_next_reading() -> None:
    evaluator = RuleBookEvaluator(BOOK, LEVELS)
    assert steps(evaluator, rain(0, 2.0)) == []
    # The link is down from hour 1 to 9; back up, the gateway sends the present first.
    assert steps(evaluator, rain(10, 5.0)) == []
    # Then the backlog: 30 mm an hour fell while it was down. Nothing is decided at those
    # times (the warning would be hours old), a bad reading and a resend count for nothing...
    backlog = [rain(h, 30.0) for h in range(1, 10)] + [rain(5, 30.0), rain(6, 99.0, Quality.out_of_range)]
    assert steps(evaluator, *backlog) == []
    assert evaluator.late_readings == 11 and evaluator.late_in_windows == 9
    # ...but the next reading sees 2 + 270 + 5 + 1 mm in 24 h: very heavy rain at once.
    assert steps(evaluator, rain(11, 1.0)) == [(11, 0, 3)]


def test_a_late_reading_out_of_the_window_reach_is_not_kept() -> None:
    evaluator = RuleBookEvaluator(BOOK, LEVELS)
    steps(evaluator, rain(0, 1.0), rain(30, 1.0))
    steps(evaluator, rain(2, 500.0))  # 28 h before the last reading: no 24 h window will ever hold it
    assert evaluator.late_in_windows == 0
    assert steps(evaluator, rain(31, 1.0)) == []


def test_the_backlog_taken_into_the_window_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    store = StateStore(path)
    evaluator = RuleBookEvaluator(BOOK, LEVELS)
    for readings in ([rain(0, 2.0)], [rain(10, 5.0)], [rain(h, 30.0) for h in range(1, 10)]):
        steps(evaluator, *readings)
        store.commit(evaluator.take_changes(), [])
    store.close()

    restarted = RuleBookEvaluator(BOOK, LEVELS)
    saved = StateStore.read(path)
    assert saved is not None
    restarted.load(saved)
    assert steps(restarted, rain(11, 1.0)) == [(11, 0, 3)]

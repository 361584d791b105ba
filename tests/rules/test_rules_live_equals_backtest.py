"""Live (telemetry batches, any order inside a batch) decides what the backtest decides.

The October 2020 data of the shipped example rule set, cut into random batches whose
readings are shuffled, go through `RuleBookEvaluator.evaluate` as the service feeds it;
the backtest replays the same history sorted, day by day. Same transitions, same ids.
"""

import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.backtest import load_csv, replay
from rules.cli import CSV_FILES
from rules.evaluator import RuleBookEvaluator
from rules.levels import SHIPPED_ALARM_LEVELS, load_alarm_levels
from rules.rulebook import load_rulebook
from tests.rules.live_harness import readings_of
from wire_contract import Reading, TelemetryBatch

EXAMPLE = Path(__file__).resolve().parents[2] / "rules" / "examples" / "quang_binh.yaml"
LEVELS = load_alarm_levels(SHIPPED_ALARM_LEVELS)
BOOK = load_rulebook(EXAMPLE, LEVELS)
START, END = 1_601_830_800_000, 1_602_867_600_000  # 2020-10-05 .. 2020-10-17, local midnight
SERIES = load_csv(CSV_FILES, START, END)
READINGS = readings_of(SERIES, SERIES)
BACKTEST = [t.transition_id for t in replay(BOOK, LEVELS, SERIES, START, END) if t.kind != "staleness"]


def by_time(readings: list[Reading]) -> list[Reading]:
    return sorted(readings, key=lambda r: (r.ts_ms, r.sensor))


@settings(max_examples=6, deadline=None)
@given(st.integers(5, 300), st.integers(0, 2**32))
def test_batches_in_any_order_give_the_backtest_transitions(batch_size: int, seed: int) -> None:
    shuffle = random.Random(seed).shuffle
    readings = by_time(READINGS)
    evaluator = RuleBookEvaluator(BOOK, LEVELS, watch_from_ms=START)
    live = []
    for seq, first in enumerate(range(0, len(readings), batch_size)):
        batch = list(readings[first : first + batch_size])
        shuffle(batch)
        live += evaluator.evaluate(TelemetryBatch(gateway="gw", seq=seq, readings=tuple(batch)))
    # Staleness is judged by the tick (wall clock) live and by day ends in the backtest.
    # Transitions at the same time are simultaneous: compared as sets (ids are unique).
    assert sorted(t.transition_id for t in live if t.kind != "staleness") == sorted(BACKTEST)
    assert len(BACKTEST) > 50
    assert evaluator.late_readings == 0

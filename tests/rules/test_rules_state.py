"""The evaluator's state in SQLite (rules/state.py, rules/store.py), without the service.

A restart from state committed batch by batch (pages and appended readings) continues as
if the service had never stopped; the window log stays bounded when a sensor goes
silent; the first format (a JSON row per rule) loads and is replaced; a changed rule
book keeps the state of the rules it still has, and a rule whose kind changed is
refused by name.
"""

import base64
import json
import math
import sqlite3
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devstack.many_rules import EXAMPLE, copies_of_example, example_rules
from rules import store as store_module
from rules.backtest import load_csv
from rules.cli import CSV_FILES
from rules.evaluator import RuleBookEvaluator
from rules.levels import SHIPPED_ALARM_LEVELS, load_alarm_levels
from rules.rulebook import RuleBook, load_rulebook
from rules.runner import Transition, history_ms
from rules.state import Readings, SavedState
from rules.store import StateStore
from wire_contract import Quality, Reading, TelemetryBatch

LEVELS = load_alarm_levels(SHIPPED_ALARM_LEVELS)
BOOK = load_rulebook(EXAMPLE, LEVELS)
START, END = 1_601_830_800_000, 1_602_867_600_000  # 2020-10-05 .. 2020-10-17, local midnight
READINGS = sorted(
    (
        Reading(
            sensor=sensor, station=sensor.split(".")[0],
            quantity="rain" if sensor.endswith(".rain") else "water_level",
            unit="mm" if sensor.endswith(".rain") else "m",
            value=None if math.isnan(value) else value, ts_ms=ts_ms,
            quality=Quality.read_failure if math.isnan(value) else Quality.good,
        )
        for sensor, (ts, vals) in load_csv(CSV_FILES, START, END).items()
        for ts_ms, value in zip(ts, vals, strict=True)
    ),
    key=lambda r: (r.ts_ms, r.sensor),
)  # fmt: skip
BATCH = 40
BATCHES = [
    TelemetryBatch(gateway="gw", seq=seq, readings=tuple(READINGS[i : i + BATCH]))
    for seq, i in enumerate(range(0, len(READINGS), BATCH))
]


def ids(transitions: list[Transition]) -> list[str]:
    return [t.transition_id for t in transitions]


def run(evaluator: RuleBookEvaluator, store: StateStore | None, batches: list[TelemetryBatch]) -> list[str]:
    """Batches through the evaluator as the service runs them: evaluate, tick, commit."""
    out: list[str] = []
    for batch in batches:
        transitions = evaluator.evaluate(batch)
        transitions += evaluator.tick(max(r.ts_ms for r in batch.readings))
        changes = evaluator.take_changes()
        if store is not None:
            store.commit(changes, [])
        out += ids(transitions)
    return out


def restarted(book: RuleBook, path: Path) -> tuple[RuleBookEvaluator, StateStore]:
    store = StateStore(path)
    evaluator = RuleBookEvaluator(book, LEVELS, watch_from_ms=START)
    saved = store.load()
    assert saved is not None
    evaluator.load(saved)
    return evaluator, store


def assert_same_state(a: SavedState, b: SavedState) -> None:
    assert a.carries.keys() == b.carries.keys()
    for name in a.carries:
        np.testing.assert_array_equal(a.carries[name], b.carries[name], err_msg=name)  # NaN equals NaN here
    assert a.late_ts == b.late_ts
    assert a.window_last == b.window_last
    assert a.history.keys() == b.history.keys()
    for sensor, (ts, vals) in a.history.items():
        np.testing.assert_array_equal(ts, b.history[sensor][0], err_msg=sensor)
        np.testing.assert_array_equal(vals, b.history[sensor][1], err_msg=sensor)


@settings(max_examples=4, deadline=None)
@given(st.integers(1, len(BATCHES) - 1))
def test_restart_from_incremental_commits_continues_as_if_never_stopped(stop_at: int) -> None:
    uninterrupted = RuleBookEvaluator(BOOK, LEVELS, watch_from_ms=START)
    expected = run(uninterrupted, None, BATCHES)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "state.sqlite"
        first, store = RuleBookEvaluator(BOOK, LEVELS, watch_from_ms=START), StateStore(path)
        before = run(first, store, BATCHES[:stop_at])
        store.close()
        second, store = restarted(BOOK, path)
        assert_same_state(second.dump(), first.dump())
        after = run(second, store, BATCHES[stop_at:])
        store.close()
        assert before + after == expected
        assert len(expected) > 50
        reloaded, store = restarted(BOOK, path)
        store.close()
        assert_same_state(reloaded.dump(), uninterrupted.dump())


def test_batches_that_touch_a_few_pages_restore_exactly(tmp_path: Path) -> None:
    """700 copies: every group spans two pages or more; each batch feeds the sensors of 100
    copies in a row (as one gateway would), so a commit writes a few pages only. A restart
    loads exactly what ran."""
    book = copies_of_example(700)
    sensors = sorted({sensor for rule in book.rules for sensor in rule.sensors()})
    rng = np.random.default_rng(5)
    path = tmp_path / "state.sqlite"
    evaluator, store = RuleBookEvaluator(book, LEVELS, watch_from_ms=START), StateStore(path)
    pages_written = []
    for tick in range(30):
        now = START + tick * 600_000
        first = int(rng.integers(0, 600))
        fed = [sensor for sensor in sensors if first <= int(sensor[1:].split("_")[0]) < first + 100]
        values = rng.gamma(1.0, 4.0, len(fed)) + np.where(rng.random(len(fed)) < 0.05, np.nan, 0.0)
        evaluator.feed({sensor: ([now], [float(v)]) for sensor, v in zip(fed, values, strict=True)})
        changes = evaluator.take_changes()
        pages_written.append(len(changes.carry_pages))
        store.commit(changes, [])
    store.close()
    assert max(pages_written[1:]) <= 2 * 7  # after the first: a page or two of each of the 7 groups
    reloaded, store = restarted(book, path)
    store.close()
    assert_same_state(reloaded.dump(), evaluator.dump())


SILENT_BOOK = RuleBook.model_validate(
    {
        "rules": [
            {"name": f"rain_{s}", "kind": "rainfall", "station": "x", "sensor": f"{s}.rain", "window": "1h",
             "categories": [{"name": "a", "over_mm": 5}]}
            for s in ("a", "b", "c")
        ]
    }
)  # fmt: skip


def log_readings(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return sum(len(Readings.from_bytes(blob)) for (blob,) in db.execute("SELECT readings FROM window_log"))


def test_the_window_log_stays_bounded_when_a_sensor_goes_silent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sensor b stops after 10 readings: its last ones stay in its window (and in the log
    entries holding them), but the log is compacted around them rather than growing."""
    monkeypatch.setattr(store_module, "_LOG_SLACK", 0)
    path = tmp_path / "state.sqlite"
    evaluator, store = RuleBookEvaluator(SILENT_BOOK, LEVELS, watch_from_ms=START), StateStore(path)
    step = 300_000
    for tick in range(400):
        now = START + tick * step
        series = {f"{s}.rain": ([now], [float(tick % 7)]) for s in ("a", "c") + (("b",) if tick < 10 else ())}
        evaluator.feed(series)
        store.commit(evaluator.take_changes(), [])
    kept = sum(len(ts) for ts, _ in evaluator.dump().history.values())
    assert kept == 2 * 13 + 10  # a and c: 1 h of 5-min readings and the one an hour before; b: all it sent
    assert log_readings(path) <= 2 * kept + 3 * 2  # compacted: twice what is kept, and a commit's worth
    store.close()
    reloaded, store = restarted(SILENT_BOOK, path)
    store.close()
    assert_same_state(reloaded.dump(), evaluator.dump())


def write_first_format(path: Path, saved: SavedState, book: RuleBook) -> None:
    """A state file as the first format wrote it: a row per rule with its carry and its own
    window history (what `RuleRunner.dump` gives), and `sensor(sensor, last_ts)`."""

    def b64(array: np.ndarray, dtype: str) -> str:
        return base64.b64encode(array.astype(dtype).tobytes()).decode()

    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE runner (name TEXT PRIMARY KEY, json TEXT NOT NULL)")
        db.execute("CREATE TABLE sensor (sensor TEXT PRIMARY KEY, last_ts INTEGER NOT NULL)")
        db.execute(
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, warning_id TEXT NOT NULL UNIQUE,"
            " payload BLOB NOT NULL, sent INTEGER NOT NULL DEFAULT 0)"
        )
        for rule in book.rules:
            carry = saved.carries[rule.name]
            ts, vals = np.empty(0, np.int64), np.empty(0, np.float64)
            if history_ms(rule) and rule.sensors()[0] in saved.history:
                ts, vals = saved.history[rule.sensors()[0]]
                reach = ts >= carry[0] - history_ms(rule) - 1  # what the rule's own runner kept
                ts, vals = ts[reach], vals[reach]
            state = {"carry": carry.tolist(), "hist_ts": b64(ts, "<i8"), "hist_vals": b64(vals, "<f8")}
            db.execute("INSERT INTO runner VALUES (?, ?)", (rule.name, json.dumps(state)))
        db.executemany("INSERT INTO sensor VALUES (?, ?)", list(saved.late_ts.items()))


def test_a_first_format_state_file_loads_and_is_replaced_at_the_first_commit(tmp_path: Path) -> None:
    half = len(BATCHES) // 2
    uninterrupted = RuleBookEvaluator(BOOK, LEVELS, watch_from_ms=START)
    expected = run(uninterrupted, None, BATCHES)
    first = RuleBookEvaluator(BOOK, LEVELS, watch_from_ms=START)
    before = run(first, None, BATCHES[:half])
    path = tmp_path / "state.sqlite"
    write_first_format(path, first.dump(), BOOK)

    second, store = restarted(BOOK, path)
    assert_same_state(second.dump(), first.dump())
    after = run(second, store, BATCHES[half:])
    store.close()
    assert before + after == expected
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "runner" not in tables and "sensor" not in tables
    reloaded, store = restarted(BOOK, path)
    store.close()
    assert_same_state(reloaded.dump(), uninterrupted.dump())


def test_a_changed_rule_book_keeps_the_state_of_the_rules_it_still_has(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    evaluator, store = RuleBookEvaluator(BOOK, LEVELS, watch_from_ms=START), StateStore(path)
    half = len(BATCHES) // 2
    run(evaluator, store, BATCHES[:half])
    store.close()
    added = {"name": "kien_giang_silent", "kind": "staleness", "station": "kien_giang",
             "sensor": "kien_giang.level", "max_silence": "12h"}  # fmt: skip
    bigger = RuleBook.model_validate({"rules": [added, *example_rules()]})
    grown, store = restarted(bigger, path)
    saved, now = evaluator.dump(), grown.dump()
    for name in saved.carries:
        np.testing.assert_array_equal(now.carries[name], saved.carries[name], err_msg=name)
    assert run(grown, store, BATCHES[half : half + 10])  # the first commit writes everything, newly laid out
    store.close()
    again, store = restarted(bigger, path)
    store.close()
    assert store_layout(path) == again.layout
    assert_same_state(again.dump(), grown.dump())


def store_layout(path: Path) -> object:
    saved = StateStore.read(path)
    assert saved is not None
    return saved.layout


def test_a_rule_whose_kind_changed_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    evaluator, store = RuleBookEvaluator(BOOK, LEVELS, watch_from_ms=START), StateStore(path)
    run(evaluator, store, BATCHES[:20])
    store.close()
    changed = [
        {"name": "le_thuy_level", "kind": "duration", "station": "le_thuy", "sensor": "le_thuy.level",
         "above_m": 2.2, "clear_below_m": 2.15, "fire_after": "1h", "clear_after": "2h", "severity": 2}
    ]  # fmt: skip
    store = StateStore(path)
    saved = store.load()
    store.close()
    assert saved is not None
    fresh = RuleBookEvaluator(RuleBook.model_validate({"rules": changed}), LEVELS)
    with pytest.raises(ValueError, match="saved state of rule 'le_thuy_level' does not fit its kind"):
        fresh.load(saved)

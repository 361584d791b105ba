"""The rule service's memory across restarts: evaluator state and a warning outbox, in SQLite.

One transaction holds both the evaluator's state after a batch (the rules and sensors that
batch touched: one row each, so a batch costs what it touches) and the warnings that
batch produced (the outbox, keyed by the transition's stable id). Delivery happens
after the commit and marks each warning sent. So, after a crash:

- before the commit: nothing was decided; the broker redelivers the unacknowledged
  telemetry and the same transitions are computed again, with the same ids;
- after the commit, before delivery: the restarted service finds the warnings unsent
  in the outbox and delivers them first; the redelivered telemetry is late for the
  restored state and decides nothing twice;
- after delivery, before it was pruned: the warning goes out again with the same id,
  which receivers drop as a repeat and InfluxDB overwrites (same series and time).

A delivered warning is deleted from the outbox (`mark_sent`): the outbox holds only
what is still to be delivered, so it stays small however long the service runs.

The state is saved in pages and appends (`rules.state`), so a commit costs what the batch
changed, not the size of the windows:

- `layout_rule(name, grp, slot)`, `layout_sensor(slot, sensor)`: where each rule's carry and
  each sensor's watermarks sit; written with everything, in one transaction, at the first
  commit and whenever the rule book's layout changes;
- `carry_page(grp, page, carries)`: the carries of `CARRY_PAGE` rules of a group, float64;
  a commit rewrites the pages of the rules the batch fed;
- `sensor_page(page, marks)`: per sensor, the late policy's and the windows' watermarks;
- `window_log(seq, readings)`: each commit appends the readings the windows admitted. The
  windows' history is the log's readings still in reach (no older than the sensor's
  oldest kept reading, `StateChanges.floors`). Entries no window reaches are deleted a few
  per commit; when the log holds more than twice what the windows keep, the oldest
  entry's readings still in reach are carried into the new entry and it is deleted, so
  a silent sensor does not pin the log (`_plan_log`);
- `outbox(seq, warning_id unique, payload, sent)`.

The first format (`runner(name, json)` with each rule's carry and its whole window history,
and `sensor(sensor, last_ts)`) still loads; the first commit after it writes this format
and drops those tables, in the same transaction.
"""

import base64
import json
import sqlite3
import threading
from collections import Counter, deque
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from rules.state import CARRY_PAGE, SENSOR_PAGE, Layout, Readings, SavedState, StateChanges
from wire_contract import WarningMessage, decode_warning, encode_warning

_SCHEMA = """
CREATE TABLE IF NOT EXISTS layout_rule (name TEXT PRIMARY KEY, grp TEXT NOT NULL, slot INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS layout_sensor (slot INTEGER PRIMARY KEY, sensor TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS carry_page (
    grp TEXT NOT NULL, page INTEGER NOT NULL, carries BLOB NOT NULL, PRIMARY KEY (grp, page)
);
CREATE TABLE IF NOT EXISTS sensor_page (page INTEGER PRIMARY KEY, marks BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS window_log (seq INTEGER PRIMARY KEY, readings BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    warning_id TEXT NOT NULL UNIQUE,
    payload BLOB NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0
);
"""
_TABLES = ("layout_rule", "layout_sensor", "carry_page", "sensor_page", "window_log")
_DEAD_PER_COMMIT = 16  # log entries no window reaches, deleted per commit (they die about one per commit)
_LOG_SLACK = 4096  # readings the log may hold beyond twice the windows' before it is compacted


@dataclass(frozen=True)
class _LogEntry:
    seq: int
    readings: Readings


class StateStore:
    """`path` None keeps everything in memory (state is then lost on restart, as before)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._db.execute("DELETE FROM outbox WHERE sent = 1")  # delivered, kept by files of before the pruning
        self._log: deque[_LogEntry] = deque()  # the window log's entries, oldest first
        self._log_size = 0  # readings in them

    def close(self) -> None:
        self._db.close()

    @staticmethod
    def read(path: Path) -> SavedState | None:
        """The state saved in the file at `path`, without keeping it open."""
        store = StateStore(path)
        try:
            return store.load()
        finally:
            store.close()

    def load(self) -> SavedState | None:
        """The saved state (`RuleBookEvaluator.load`), or None when nothing was saved."""
        with self._lock:
            if self._has_table("runner"):
                return self._load_first_format()
            rules = self._db.execute("SELECT name, grp, slot FROM layout_rule ORDER BY name").fetchall()
            sensors = [row[0] for row in self._db.execute("SELECT sensor FROM layout_sensor ORDER BY slot")]
            carry_rows = self._db.execute("SELECT grp, page, carries FROM carry_page").fetchall()
            sensor_rows = self._db.execute("SELECT page, marks FROM sensor_page").fetchall()
            log_rows = self._db.execute("SELECT seq, readings FROM window_log ORDER BY seq").fetchall()
        if not rules and not sensors:
            return None
        self._log = deque(_LogEntry(seq, Readings.from_bytes(blob)) for seq, blob in log_rows)
        self._log_size = sum(len(entry.readings) for entry in self._log)
        pages = {(grp, page): np.frombuffer(blob, dtype="<f8") for grp, page, blob in carry_rows}
        group_size = Counter(grp for _, grp, _ in rules)
        carries = {}
        for name, grp, slot in rules:
            page = pages.get((grp, slot // CARRY_PAGE))
            if page is not None:  # a group's page holds CARRY_PAGE rows but the last: the width follows
                rows = min(CARRY_PAGE, group_size[grp] - slot // CARRY_PAGE * CARRY_PAGE)
                width = page.shape[0] // rows
                row = slot % CARRY_PAGE
                carries[name] = page[row * width : (row + 1) * width].astype(np.float64)
        marks = np.full((len(sensors), 2), -1, dtype=np.int64)
        for page, blob in sensor_rows:
            block = np.frombuffer(blob, dtype="<i8").reshape(-1, 2)
            marks[page * SENSOR_PAGE : page * SENSOR_PAGE + block.shape[0]] = block
        history = _history_by_sensor(Readings.concat([entry.readings for entry in self._log]), sensors)
        return SavedState(
            layout=Layout(rules=tuple((str(n), str(g), int(s)) for n, g, s in rules), sensors=tuple(sensors)),
            carries=carries,
            late_ts={sensor: int(marks[slot, 0]) for slot, sensor in enumerate(sensors) if marks[slot, 0] >= 0},
            window_last={sensor: int(marks[slot, 1]) for slot, sensor in enumerate(sensors)},
            history=history,
        )

    def _has_table(self, name: str) -> bool:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return self._db.execute(query, (name,)).fetchone() is not None

    def _load_first_format(self) -> SavedState | None:
        """`runner(name, json)`: each rule's carry and its own window history (base64 arrays)."""
        runners = self._db.execute("SELECT name, json FROM runner").fetchall()
        sensors = self._db.execute("SELECT sensor, last_ts FROM sensor").fetchall()
        if not runners and not sensors:
            return None
        carries, rule_history = {}, {}
        for name, text in runners:
            state = json.loads(text)
            carries[name] = np.asarray(state["carry"], dtype=np.float64)
            ts = np.frombuffer(base64.b64decode(state["hist_ts"]), dtype="<i8").astype(np.int64)
            if ts.shape[0]:
                vals = np.frombuffer(base64.b64decode(state["hist_vals"]), dtype="<f8").astype(np.float64)
                rule_history[name] = (ts, vals)
        return SavedState(
            layout=None,
            carries=carries,
            late_ts={str(sensor): int(ts) for sensor, ts in sensors},
            window_last={},
            history={},
            rule_history=rule_history,
        )

    def commit(self, changes: StateChanges, warnings: list[WarningMessage]) -> None:
        """The state that changed (`RuleBookEvaluator.take_changes`) and its warnings, atomically."""
        with self._lock:
            if changes.layout is not None:  # everything is written anew: the log starts over
                log, log_size = deque[_LogEntry](), 0
            else:
                log, log_size = self._log, self._log_size
            entry, dropped = _plan_log(log, log_size, changes)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if changes.layout is not None:
                    self._replace_layout(changes.layout)
                self._db.executemany("INSERT OR REPLACE INTO carry_page VALUES (?, ?, ?)", changes.carry_pages)
                self._db.executemany("INSERT OR REPLACE INTO sensor_page VALUES (?, ?)", changes.sensor_pages)
                seq = None
                if len(entry):
                    seq = self._db.execute(
                        "INSERT INTO window_log (readings) VALUES (?)", (entry.to_bytes(),)
                    ).lastrowid
                self._db.executemany("DELETE FROM window_log WHERE seq = ?", [(e.seq,) for e in dropped])
                self._db.executemany(
                    "INSERT OR IGNORE INTO outbox (warning_id, payload) VALUES (?, ?)",
                    [(w.warning_id, encode_warning(w)) for w in warnings],
                )
                self._db.execute("COMMIT")  # may fail too (a full disk): then nothing of it holds
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            # Only now: a rolled-back commit leaves the log as it was.
            for _ in dropped:
                log_size -= len(log.popleft().readings)
            if seq is not None:
                log.append(_LogEntry(seq, entry))
                log_size += len(entry)
            self._log, self._log_size = log, log_size

    def _replace_layout(self, layout: Layout) -> None:
        """Everything is written anew: drop the first format's tables and this format's rows."""
        self._db.execute("DROP TABLE IF EXISTS runner")
        self._db.execute("DROP TABLE IF EXISTS sensor")
        for table in _TABLES:
            self._db.execute(f"DELETE FROM {table}")  # table names are constants
        self._db.executemany("INSERT INTO layout_rule VALUES (?, ?, ?)", layout.rules)
        self._db.executemany("INSERT INTO layout_sensor VALUES (?, ?)", list(enumerate(layout.sensors)))

    def pending(self) -> list[WarningMessage]:
        with self._lock:
            rows = self._db.execute("SELECT payload FROM outbox WHERE sent = 0 ORDER BY seq").fetchall()
        return [decode_warning(bytes(row[0])) for row in rows]

    def mark_sent(self, warning_ids: list[str]) -> None:
        """Delivered (published, PUBACK received, written to InfluxDB): out of the outbox."""
        with self._lock:
            self._db.executemany("DELETE FROM outbox WHERE warning_id = ?", [(i,) for i in warning_ids])

    def outbox_size(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])


def _plan_log(log: deque[_LogEntry], log_size: int, changes: StateChanges) -> tuple[Readings, list[_LogEntry]]:
    """The entry this commit appends and the oldest entries it deletes.

    Entries no window reaches any more go, a few per commit. When the log holds more than
    twice what the windows keep (a silent sensor keeps its old readings, and so the
    entries holding them), the oldest entry's readings still in reach move into the new
    entry and it goes too: one per commit, so no commit pays for the whole log."""
    floors, dropped, carried = changes.floors, [], []
    size = log_size + len(changes.appended)
    for entry in islice(log, _DEAD_PER_COMMIT):
        readings = entry.readings
        live = readings.ts >= floors[readings.sensor]
        moved = int(live.sum())
        if moved and size <= 2 * changes.kept + _LOG_SLACK:
            break
        dropped.append(entry)
        size -= len(readings) - moved
        if moved:
            carried.append(Readings(readings.sensor[live], readings.ts[live], readings.vals[live]))
            break
    return Readings.concat([changes.appended, *carried]), dropped


def _history_by_sensor(readings: Readings, sensors: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The log's readings per sensor, sorted by time (a reading is in one entry, but be safe: once)."""
    order = np.lexsort((readings.ts, readings.sensor))
    sensor, ts, vals = readings.sensor[order], readings.ts[order], readings.vals[order]
    first = np.ones(ts.shape[0], dtype=np.bool_)
    first[1:] = (sensor[1:] != sensor[:-1]) | (ts[1:] != ts[:-1])
    sensor, ts, vals = sensor[first], ts[first], vals[first]
    bounds = np.flatnonzero(np.diff(sensor)) + 1
    starts = [0, *bounds.tolist()]
    parts = zip(starts, np.split(ts, bounds), np.split(vals, bounds), strict=True)
    return {sensors[int(sensor[start])]: (t, v) for start, t, v in parts if t.shape[0]}

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
- after delivery, before it was marked: the warning goes out again with the same id,
  which receivers drop as a repeat and InfluxDB overwrites (same series and time).

Tables: `runner(name, json)` (carry and window history of a rule), `sensor(sensor,
last_ts)` (the late policy's watermark) and `outbox(seq, warning_id unique, payload, sent)`.
"""

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from wire_contract import WarningMessage, decode_warning, encode_warning

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runner (name TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sensor (sensor TEXT PRIMARY KEY, last_ts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    warning_id TEXT NOT NULL UNIQUE,
    payload BLOB NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0
);
"""


class StateStore:
    """`path` None keeps everything in memory (state is then lost on restart, as before)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def load(self) -> dict[str, Any] | None:
        """The saved state in `RuleBookEvaluator.dump`'s shape, or None when nothing was saved."""
        with self._lock:
            runners = self._db.execute("SELECT name, json FROM runner").fetchall()
            sensors = self._db.execute("SELECT sensor, last_ts FROM sensor").fetchall()
        if not runners and not sensors:
            return None
        return {"runners": {name: json.loads(text) for name, text in runners}, "last_ts": dict(sensors)}

    def commit(self, changes: dict[str, Any], warnings: list[WarningMessage]) -> None:
        """The state that changed (`RuleBookEvaluator.take_changes`) and its warnings, atomically."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO runner (name, json) VALUES (?, ?)",
                    [(name, json.dumps(state)) for name, state in changes["runners"].items()],
                )
                self._db.executemany(
                    "INSERT OR REPLACE INTO sensor (sensor, last_ts) VALUES (?, ?)", list(changes["last_ts"].items())
                )
                self._db.executemany(
                    "INSERT OR IGNORE INTO outbox (warning_id, payload) VALUES (?, ?)",
                    [(w.warning_id, encode_warning(w)) for w in warnings],
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def pending(self) -> list[WarningMessage]:
        with self._lock:
            rows = self._db.execute("SELECT payload FROM outbox WHERE sent = 0 ORDER BY seq").fetchall()
        return [decode_warning(bytes(row[0])) for row in rows]

    def mark_sent(self, warning_ids: list[str]) -> None:
        with self._lock:
            self._db.executemany("UPDATE outbox SET sent = 1 WHERE warning_id = ?", [(i,) for i in warning_ids])

    def sent_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM outbox WHERE sent = 1").fetchone()[0])

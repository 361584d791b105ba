"""The gateway's store-and-forward buffer: every reading is on disk before it is published.

One SQLite file in WAL mode, one writer thread. A reading is a row
(`id`, `priority`, `ts_ms`, `batch`, `body`: its JSON as the contract encodes it)
and goes through three states:

    unsent     batch IS NULL   written by the poll loops, one transaction per poll
    sealed     batch = seq     put in a telemetry batch with a sequence number,
                               committed *before* the batch is published
    gone       deleted         only when the centre confirmed the batch stored (a
                               `BatchAck` from ingest, after InfluxDB accepted it)

The broker's PUBACK is not enough: Mosquitto keeps a message in memory until
its next autosave, and a crash loses it. A sealed batch that was not confirmed
(broker gone, ingest down, gateway killed) is published again with the same seq
and the same readings, and InfluxDB overwrites it (same series and time).
`next_seq` lives in the same file and only grows: a restart never reuses a
sequence number.

The buffer is bounded by `max_bytes` (the readings' encoded size plus a fixed
per-row overhead for the indexes; SQLite's pages add up to about a third on top)
and by the disk's free space.
When either is exceeded the buffer deletes the oldest *unsent* rows of the lowest
priority first (camera health before rain before river level) and counts each
drop per priority in the file, so the counts survive restarts.
"""

import asyncio
import math
import shutil
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from edge_agent.counters import CounterState

SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    priority INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL,
    batch INTEGER,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS sealed ON readings(batch) WHERE batch IS NOT NULL;
CREATE INDEX IF NOT EXISTS unsent_by_priority ON readings(priority, id) WHERE batch IS NULL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS drops (priority INTEGER PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (sensor TEXT PRIMARY KEY, last_raw INTEGER NOT NULL, total INTEGER NOT NULL);
"""

T = TypeVar("T")

# Check the size every this many rows added (PRAGMAs are cheap, but not free).
SIZE_CHECK_EVERY_ROWS = 200
# Bytes a row costs beyond its body: id, priority, ts, batch and two index entries.
ROW_OVERHEAD_BYTES = 48
# When over the bound, drop down to this fraction of it, so drops come in chunks.
DROP_TO_FRACTION = 0.95


@dataclass(frozen=True)
class Row:
    priority: int
    ts_ms: int
    body: bytes


@dataclass(frozen=True)
class SealedBatch:
    seq: int
    bodies: tuple[bytes, ...]


@dataclass
class BufferStats:
    depth: int  # readings not yet confirmed stored by the centre
    oldest_unsent_ts_ms: int | None
    unconfirmed: int  # of `depth`: readings sealed in a batch, awaiting the centre's confirmation
    used_bytes: int
    next_seq: int
    drops: dict[int, int] = field(default_factory=dict)  # priority -> readings dropped, ever


class DiskBuffer:
    """Synchronous; every method runs on one thread (`AsyncBuffer` provides it)."""

    def __init__(
        self,
        path: Path | None,
        max_bytes: int,
        min_free_bytes: int = 0,
        synchronous: Literal["normal", "full"] = "full",
        first_seq: int = 0,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.min_free_bytes = min_free_bytes
        self.synchronous = synchronous
        self.first_seq = first_seq
        self.depth = 0
        self.stored_bytes = 0
        self._db: sqlite3.Connection | None = None
        self._rows_since_check = 0
        self._page_size = 4096

    # -- life cycle ---------------------------------------------------------------

    def open(self) -> "DiskBuffer":
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(":memory:" if self.path is None else str(self.path), isolation_level=None)
        if self.path is not None:
            db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
        db.executescript(SCHEMA)
        db.execute("INSERT OR IGNORE INTO meta VALUES ('next_seq', ?)", (self.first_seq,))
        self._page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
        count, body_bytes = db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM readings").fetchone()
        self.depth = int(count)
        self.stored_bytes = int(body_bytes) + self.depth * ROW_OVERHEAD_BYTES
        self._db = db
        return self

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("buffer is not open")
        return self._db

    # -- writing ------------------------------------------------------------------

    def add(self, rows: Sequence[Row], counters: dict[str, CounterState] | None = None) -> int:
        """Store readings durably, with the counter states they came from, in one transaction.

        Returns the id of the last reading."""
        db = self.db
        with _transaction(db):
            db.executemany(
                "INSERT INTO readings(priority, ts_ms, body) VALUES (?, ?, ?)",
                [(r.priority, r.ts_ms, r.body) for r in rows],
            )
            newest = max(r.ts_ms for r in rows)
            db.execute(
                "INSERT INTO meta VALUES ('newest_ts_ms', ?) ON CONFLICT(key) DO UPDATE SET value = "
                "MAX(value, excluded.value)",
                (newest,),
            )
            if counters:
                db.executemany(
                    "INSERT OR REPLACE INTO counters VALUES (?, ?, ?)",
                    [(sensor, state.last_raw, state.total) for sensor, state in counters.items()],
                )
            last = int(db.execute("SELECT last_insert_rowid()").fetchone()[0])
        self.depth += len(rows)
        self.stored_bytes += sum(len(r.body) for r in rows) + len(rows) * ROW_OVERHEAD_BYTES
        self._rows_since_check += len(rows)
        if self._rows_since_check >= SIZE_CHECK_EVERY_ROWS:
            self._rows_since_check = 0
            self.enforce_bounds()
        return last

    def newest_ts_ms(self) -> int:
        """The newest reading time ever stored here (the clock must not go back before it)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'newest_ts_ms'").fetchone()
        return int(row[0]) if row else 0

    def counters(self) -> dict[str, CounterState]:
        return {s: CounterState(int(r), int(t)) for s, r, t in self.db.execute("SELECT * FROM counters")}

    def last_id(self) -> int:
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'readings'").fetchone()
        return int(row[0]) if row else 0

    # -- sealing and acknowledging -------------------------------------------------

    def sealed(self) -> list[SealedBatch]:
        """Batches sealed earlier and not acknowledged: to publish again, same seq, same readings."""
        batches: dict[int, list[bytes]] = {}
        for seq, body in self.db.execute("SELECT batch, body FROM readings WHERE batch IS NOT NULL ORDER BY batch, id"):
            batches.setdefault(int(seq), []).append(bytes(body))
        return [SealedBatch(seq, tuple(bodies)) for seq, bodies in batches.items()]

    def seal(self, max_readings: int, from_id: int = 0, below_id: int | None = None) -> SealedBatch | None:
        """Give the oldest unsent readings with from_id <= id < below_id a sequence number."""
        db = self.db
        with _transaction(db):
            if below_id is None:
                rows = db.execute(
                    "SELECT id, body FROM readings WHERE id >= ? AND batch IS NULL ORDER BY id LIMIT ?",
                    (from_id, max_readings),
                ).fetchall()
            else:
                rows = db.execute(
                    "SELECT id, body FROM readings WHERE id >= ? AND id < ? AND batch IS NULL ORDER BY id LIMIT ?",
                    (from_id, below_id, max_readings),
                ).fetchall()
            if not rows:
                return None
            seq = int(db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0])
            db.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (seq + 1,))
            # The selected rows are exactly the unsent ones between the first and last id.
            db.execute(
                "UPDATE readings SET batch = ? WHERE id BETWEEN ? AND ? AND batch IS NULL",
                (seq, rows[0][0], rows[-1][0]),
            )
        return SealedBatch(seq, tuple(bytes(body) for _, body in rows))

    def batch(self, seq: int) -> SealedBatch | None:
        """The sealed batch `seq`, to send again; None once it was confirmed."""
        bodies = [bytes(b) for (b,) in self.db.execute("SELECT body FROM readings WHERE batch = ? ORDER BY id", (seq,))]
        return SealedBatch(seq, tuple(bodies)) if bodies else None

    def confirm(self, seqs: Sequence[int]) -> int:
        """The centre has stored these batches: forget their readings. Returns how many."""
        db = self.db
        lengths: list[tuple[int]] = []
        with _transaction(db):
            for seq in seqs:
                lengths += db.execute("DELETE FROM readings WHERE batch = ? RETURNING LENGTH(body)", (seq,)).fetchall()
        self._forget(lengths)
        return len(lengths)

    def _forget(self, lengths: list[tuple[int]]) -> None:
        self.depth -= len(lengths)
        self.stored_bytes -= sum(length for (length,) in lengths) + len(lengths) * ROW_OVERHEAD_BYTES

    # -- bounds ---------------------------------------------------------------------

    def used_bytes(self) -> int:
        pages = int(self.db.execute("PRAGMA page_count").fetchone()[0])
        free = int(self.db.execute("PRAGMA freelist_count").fetchone()[0])
        return (pages - free) * self._page_size

    def _disk_free(self) -> int | None:
        if self.path is None:
            return None
        return shutil.disk_usage(self.path.parent).free

    def enforce_bounds(self) -> int:
        """Drop the least important unsent readings until the buffer fits; returns how many."""
        used = self.stored_bytes
        limit = self.max_bytes
        free = self._disk_free()
        if free is not None and free < self.min_free_bytes:
            limit = min(limit, max(used - (self.min_free_bytes - free), 0))
        if used <= limit or self.depth == 0:
            return 0
        per_row = used / self.depth
        wanted = math.ceil((used - limit * DROP_TO_FRACTION) / per_row)
        return self._drop(wanted)

    def _drop(self, wanted: int) -> int:
        db = self.db
        dropped = 0
        with _transaction(db):
            priorities = [
                int(p) for (p,) in db.execute("SELECT DISTINCT priority FROM readings WHERE batch IS NULL ORDER BY 1")
            ]
            for priority in priorities:
                if dropped >= wanted:
                    break
                lengths = db.execute(
                    "DELETE FROM readings WHERE id IN "
                    "(SELECT id FROM readings WHERE priority = ? AND batch IS NULL ORDER BY id LIMIT ?) "
                    "RETURNING LENGTH(body)",
                    (priority, wanted - dropped),
                ).fetchall()
                self._forget(lengths)
                count = len(lengths)
                db.execute(
                    "INSERT INTO drops VALUES (?, ?) "
                    "ON CONFLICT(priority) DO UPDATE SET count = count + excluded.count",
                    (priority, count),
                )
                dropped += count
        return dropped

    # -- status ---------------------------------------------------------------------

    def stats(self) -> BufferStats:
        db = self.db
        oldest = db.execute("SELECT ts_ms FROM readings ORDER BY id LIMIT 1").fetchone()
        seq = int(db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0])
        drops = {int(p): int(c) for p, c in db.execute("SELECT priority, count FROM drops")}
        unconfirmed = int(db.execute("SELECT COUNT(*) FROM readings WHERE batch IS NOT NULL").fetchone()[0])
        oldest_ts = None if oldest is None else int(oldest[0])
        return BufferStats(self.depth, oldest_ts, unconfirmed, self.stored_bytes, seq, drops)


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error (the connection is in autocommit mode)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


class AsyncBuffer:
    """`DiskBuffer` on a thread of its own, so an fsync never stalls a serial bus."""

    def __init__(self, buffer: DiskBuffer) -> None:
        self.buffer = buffer
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="buffer")

    async def _call(self, function: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def open(self) -> None:
        await self._call(self.buffer.open)

    async def close(self) -> None:
        await self._call(self.buffer.close)
        self._executor.shutdown(wait=True)

    async def add(self, rows: Sequence[Row], counters: dict[str, CounterState] | None = None) -> int:
        return await self._call(self.buffer.add, rows, counters)

    async def newest_ts_ms(self) -> int:
        return await self._call(self.buffer.newest_ts_ms)

    async def counters(self) -> dict[str, CounterState]:
        return await self._call(self.buffer.counters)

    async def last_id(self) -> int:
        return await self._call(self.buffer.last_id)

    async def sealed(self) -> list[SealedBatch]:
        return await self._call(self.buffer.sealed)

    async def seal(self, max_readings: int, from_id: int = 0, below_id: int | None = None) -> SealedBatch | None:
        return await self._call(self.buffer.seal, max_readings, from_id, below_id)

    async def batch(self, seq: int) -> SealedBatch | None:
        return await self._call(self.buffer.batch, seq)

    async def confirm(self, seqs: Sequence[int]) -> int:
        return await self._call(self.buffer.confirm, seqs)

    async def stats(self) -> BufferStats:
        return await self._call(self.buffer.stats)

    @property
    def depth(self) -> int:
        return self.buffer.depth

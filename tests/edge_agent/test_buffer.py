"""The disk buffer on a real SQLite file: seal, acknowledge, survive a reopen, bounded with priority drops."""

from pathlib import Path

from edge_agent.buffer import DiskBuffer, Row
from edge_agent.publisher import telemetry_payload
from wire_contract import Quality, Reading, TelemetryBatch, decode_telemetry, encode_telemetry

TS = 1_602_000_000_000


def _reading(i: int, quantity: str = "water_level", unit: str = "m") -> Reading:
    return Reading(
        sensor=f"s{i % 3}", station="le_thuy", quantity=quantity, value=i / 100, unit=unit, ts_ms=TS + i,
        quality=Quality.good,
    )  # fmt: skip


def _rows(start: int, count: int, priority: int = 9) -> list[Row]:
    return [Row(priority, TS + i, _reading(i).model_dump_json().encode()) for i in range(start, start + count)]


def _open(path: Path, max_bytes: int = 1 << 30) -> DiskBuffer:
    return DiskBuffer(path, max_bytes, synchronous="normal").open()


def test_wal_mode_and_the_payload_is_what_the_codec_writes(tmp_path: Path) -> None:
    buffer = _open(tmp_path / "b.sqlite")
    assert buffer.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    buffer.add(_rows(0, 3))
    batch = buffer.seal(10)
    assert batch is not None
    payload = telemetry_payload("gw-1", batch.seq, batch.bodies)
    expected = TelemetryBatch(gateway="gw-1", seq=batch.seq, readings=tuple(_reading(i) for i in range(3)))
    assert payload == encode_telemetry(expected)
    assert decode_telemetry(payload) == expected


def test_unacknowledged_batches_come_back_unchanged_and_seq_never_repeats(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite"
    buffer = _open(path)
    buffer.add(_rows(0, 10))
    first = buffer.seal(4)
    second = buffer.seal(4)
    assert first is not None and second is not None
    assert (first.seq, second.seq) == (0, 1)
    assert buffer.confirm([first.seq]) == 4
    buffer.close()  # as if killed: the second batch was never acknowledged

    buffer = _open(path)
    assert buffer.depth == 6
    assert buffer.sealed() == [second]  # same seq, same readings
    third = buffer.seal(100)
    assert third is not None and third.seq == 2 and len(third.bodies) == 2
    assert buffer.confirm([second.seq, third.seq]) == 6
    assert buffer.depth == 0 and buffer.stats().oldest_unsent_ts_ms is None
    buffer.close()
    assert _open(path).seal(1) is None and _open(path).stats().next_seq == 3


def test_live_and_backlog_ranges(tmp_path: Path) -> None:
    buffer = _open(tmp_path / "b.sqlite")
    buffer.add(_rows(0, 5))
    live_from = buffer.last_id() + 1
    buffer.add(_rows(5, 3))
    live = buffer.seal(10, from_id=live_from)
    backlog = buffer.seal(2, below_id=live_from)
    assert live is not None and backlog is not None
    assert [decode(b) for b in live.bodies] == [5, 6, 7]
    assert [decode(b) for b in backlog.bodies] == [0, 1]


def decode(body: bytes) -> int:
    return Reading.model_validate_json(body).ts_ms - TS


def test_a_full_buffer_drops_camera_health_first_and_counts_every_drop(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite"
    buffer = _open(path, max_bytes=400_000)
    for start in range(0, 3000, 100):
        buffer.add(_rows(start, 50, priority=1))  # camera health
        buffer.add(_rows(start + 50, 50, priority=9))  # river level
    assert buffer.stored_bytes <= 400_000 + 200 * 400  # checked every 200 rows
    assert buffer.used_bytes() < 400_000 * 1.5  # the file: pages in use
    stats = buffer.stats()
    kept = dict(buffer.db.execute("SELECT priority, COUNT(*) FROM readings GROUP BY priority").fetchall())
    assert kept[9] == 1500, "river level must not be dropped while camera health is there"
    assert stats.drops[1] == 1500 - kept.get(1, 0) > 0
    assert set(stats.drops) == {1}
    assert stats.depth == sum(kept.values())
    buffer.close()
    assert _open(path).stats().drops == stats.drops  # counts survive a restart

"""Per-gateway sequence tracking: gaps, late arrivals, replays, restarts."""

from ingest.sequences import SequenceTracker


def _track(*seqs: int, max_holes: int = 10_000) -> SequenceTracker:
    tracker = SequenceTracker(max_holes=max_holes)
    for n, seq in enumerate(seqs):
        tracker.observe("gw", seq, now_s=1000.0 + n)
    return tracker


def test_in_order_counts_nothing() -> None:
    state = _track(0, 1, 2, 3).gateways["gw"]
    assert (state.highest, state.batches, state.gaps, state.replays, state.late, state.last_seen_s) == (
        3, 4, 0, 0, 0, 1003.0,
    )  # fmt: skip


def test_a_gap_is_counted_and_filled_late() -> None:
    state = _track(0, 1, 5, 3).gateways["gw"]
    assert (state.gaps, state.missing, state.late, state.highest) == (3, {2, 4}, 1, 5)


def test_a_replay_is_counted() -> None:
    state = _track(0, 1, 2, 1, 2).gateways["gw"]
    assert (state.replays, state.gaps) == (2, 0)


def test_a_restart_begins_a_new_numbering() -> None:
    state = _track(0, 1, 2, 9, 0, 1).gateways["gw"]
    assert (state.restarts, state.gaps, state.missing, state.highest, state.replays) == (1, 6, set(), 1, 0)


def test_holes_are_bounded_but_still_counted() -> None:
    state = _track(0, 1_000_000, max_holes=100).gateways["gw"]
    assert state.gaps == 999_999 and not state.missing


def test_gateways_are_tracked_apart_and_bounded() -> None:
    tracker = SequenceTracker(max_gateways=2)
    for gateway in ("a", "b", "c"):
        tracker.observe(gateway, 0, 1.0)
    tracker.observe("a", 2, 2.0)
    assert sorted(tracker.gateways) == ["a", "b"] and tracker.untracked_batches == 1
    assert tracker.gateways["a"].gaps == 1 and tracker.gateways["b"].gaps == 0

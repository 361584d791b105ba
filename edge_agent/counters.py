"""Counters that wrap: a tipping bucket's tip count -> a total that only grows.

A device counts in a 16- or 32-bit register. The gateway keeps, per sensor, the
last raw count it saw and the total it has accumulated; each new raw count adds

    raw - last                       when it grew (or stayed)
    raw + modulus - last             when it wrapped: last was in the top quarter, raw in the bottom
    raw                              otherwise: the device was reset (power cut) and counts from 0

The first count ever seen is the baseline: the total starts at it, so a gauge that
has counted since installation publishes its count unchanged, and its first increment
is 0 (what fell before the gateway watched is not rain of this reading's interval). The state is saved
in the disk buffer in the same transaction as the readings (`DiskBuffer.add`), so it
survives a gateway restart and a SIGKILL without counting a tip twice or losing one.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class CounterState:
    last_raw: int
    total: int


def advance(state: CounterState | None, raw: int, modulus: int) -> CounterState:
    if state is None:
        return CounterState(raw, raw)
    last = state.last_raw
    if raw >= last:
        delta = raw - last
    elif last >= modulus * 3 // 4 and raw < modulus // 4:
        delta = raw + modulus - last
    else:
        delta = raw
    return CounterState(raw, state.total + delta)


class Counters:
    """The counter states of one gateway; `dirty` are those changed since the last save."""

    def __init__(self, states: dict[str, CounterState] | None = None) -> None:
        self.states: dict[str, CounterState] = dict(states or {})
        self.dirty: dict[str, CounterState] = {}

    def update(self, key: str, raw: int, modulus: int) -> tuple[int, int]:
        """The new total of counter `key`, and what it grew by since its previous count."""
        before = self.states.get(key)
        state = advance(before, raw, modulus)
        if state != before:
            self.states[key] = self.dirty[key] = state
        return state.total, 0 if before is None else state.total - before.total

    def take_dirty(self) -> dict[str, CounterState]:
        dirty, self.dirty = self.dirty, {}
        return dirty

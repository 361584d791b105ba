"""The history windowed rules look back into, kept once per sensor (not once per rule).

A sensor's rate-of-rise and rainfall rules all see the same admitted good readings, so
the sensor keeps them once, as far back as its longest window reaches; each rule's
kernel starts where its own window does (`rules.batch_kernels.feed_rules`).

All sensors share one flat buffer (`ts`, `vals`): sensor s owns the region
`base[s] : base[s] + size[s]`, its history is `head[s] : end[s]` (sorted, good only), and
a batch's new readings are staged right after it so a kernel sees history + new as one
slice, without copying. `last[s]` is the window's late-policy watermark (the time of the
last admitted reading, good or not). A region that fills up is compacted in place; one
too small moves to the end of the buffer at twice the size (`_grow`), so a live tick
allocates nothing.
"""

import numpy as np
import numpy.typing as npt

from rules import batch_kernels

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
EMPTY_FLOOR = 2**62  # a sensor without history: every stored reading of it is stale


class SensorWindows:
    def __init__(self, keep: I64) -> None:
        """`keep[s]`: how far back sensor s's longest window reaches (0: no windowed rule)."""
        count = keep.shape[0]
        self.keep = keep.astype(np.int64)
        self.windowed = np.flatnonzero(self.keep > 0).astype(np.int64)
        self.base = np.zeros(count, dtype=np.int64)
        self.size = np.zeros(count, dtype=np.int64)
        self.head = np.zeros(count, dtype=np.int64)
        self.end = np.zeros(count, dtype=np.int64)
        self.last = np.full(count, -1, dtype=np.int64)
        self.ts = np.empty(0, dtype=np.int64)
        self.vals = np.empty(0, dtype=np.float64)
        self._used = 0

    def stage(self, sensors: I64, new_ts: I64, new_vals: F64, first: I64, count: I64) -> I64:
        """Write the new readings of `sensors` after their histories; returns where each sensor's start."""
        need = np.zeros_like(self.size)
        args = (self.base, self.size, self.head, self.end, sensors, new_ts, new_vals, first, count, need)
        while not batch_kernels.stage(self.ts, self.vals, *args):
            grow = np.flatnonzero(need)
            self._grow(grow, need[grow])
            need[grow] = 0
        return self.end.copy()

    def admit(self, sensors: I64, count: I64) -> tuple[I64, I64, F64]:
        """Keep the staged readings that are admitted and good; returns them as (sensor, ts, value)."""
        total = int(count[sensors].sum())
        out_sensor = np.empty(total, dtype=np.int64)
        out_ts = np.empty(total, dtype=np.int64)
        out_vals = np.empty(total, dtype=np.float64)
        kept = batch_kernels.admit(
            self.ts, self.vals, self.head, self.end, self.last, self.keep, sensors, count, out_sensor, out_ts, out_vals
        )
        return out_sensor[:kept], out_ts[:kept], out_vals[:kept]

    def history(self, sensor: int) -> tuple[I64, F64]:
        return self.ts[self.head[sensor] : self.end[sensor]], self.vals[self.head[sensor] : self.end[sensor]]

    def all_history(self) -> tuple[I64, I64, F64]:
        """Every kept reading as (sensor, ts, value)."""
        sensors = self.windowed
        lengths = (self.end - self.head)[sensors]
        owner = np.repeat(sensors, lengths)
        index = np.concatenate([np.arange(self.head[s], self.end[s]) for s in sensors]) if sensors.size else owner
        return owner, self.ts[index], self.vals[index]

    def floors(self) -> I64:
        """Per sensor, the time of its oldest kept reading (EMPTY_FLOOR when none): older ones are gone."""
        floors = np.full(self.keep.shape[0], EMPTY_FLOOR, dtype=np.int64)
        has = self.end > self.head
        floors[has] = self.ts[self.head[has]]
        return floors

    def kept_count(self) -> int:
        return int((self.end - self.head).sum())

    def restore(self, sensor: int, ts: I64, vals: F64, last: int) -> None:
        """Set a sensor's history (sorted, admitted, good) and watermark, as saved."""
        reach = int(np.searchsorted(ts, last - self.keep[sensor] - 1))  # what `admit` would have dropped
        ts, vals = ts[reach:], vals[reach:]
        self.head[sensor] = self.end[sensor] = self.base[sensor]
        if ts.shape[0] > self.size[sensor]:
            self._grow(np.array([sensor], dtype=np.int64), np.array([ts.shape[0]], dtype=np.int64))
        start = self.base[sensor]
        self.ts[start : start + ts.shape[0]] = ts
        self.vals[start : start + ts.shape[0]] = vals
        self.head[sensor], self.end[sensor] = start, start + ts.shape[0]
        self.last[sensor] = last

    def _grow(self, sensors: I64, need: I64) -> None:
        """Give `sensors` regions of at least twice `need` (and twice their size) at the end of the buffer."""
        sizes = np.maximum(np.maximum(2 * need, 2 * self.size[sensors]), 16)
        if self._used + int(sizes.sum()) > self.ts.shape[0]:
            self._repack(extra=int(sizes.sum()))
        bases = self._used + np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        batch_kernels.relocate(
            self.ts, self.vals, self.ts, self.vals, self.head, self.end, self.base, sensors.astype(np.int64), bases
        )  # the new regions are after every old one: copying forward overwrites nothing still needed
        self.size[sensors] = sizes
        self._used += int(sizes.sum())

    def _repack(self, extra: int) -> None:
        """New buffers holding every region packed from the start, with room for `extra` more (doubling)."""
        owners = np.flatnonzero(self.size).astype(np.int64)
        sizes = self.size[owners]
        capacity = max(2 * (int(sizes.sum()) + extra), 1024)
        ts, vals = np.empty(capacity, dtype=np.int64), np.empty(capacity, dtype=np.float64)
        bases = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        batch_kernels.relocate(self.ts, self.vals, ts, vals, self.head, self.end, self.base, owners, bases)
        self.ts, self.vals, self._used = ts, vals, int(sizes.sum())

"""When a reading was taken, and whether the gateway's clock could be trusted then.

A Raspberry Pi has no real-time clock: it boots at the last time it saved (or in
1970) and jumps when NTP answers, which over 4G in a storm may take hours. So:

- a wall time before `RELEASE_DATE` (or before the newest reading this gateway
  ever stored) is impossible: the reading is stamped just after that floor, in
  order, by the monotonic clock, and marked `clock_synced: false`;
- otherwise the reading carries the wall time, marked synchronised only if the
  kernel says NTP has disciplined the clock (adjtimex does not report TIME_ERROR).

The gateway's status says which of the two holds (`clock_synced`, `clock_problem`).
"""

import ctypes
import ctypes.util
import time
from collections.abc import Callable
from datetime import UTC, datetime

# No reading can be older than the software that took it. Bump with each release.
RELEASE_DATE = datetime(2026, 11, 23, tzinfo=UTC)
RELEASE_MS = int(RELEASE_DATE.timestamp() * 1000)
TIME_ERROR = 5  # adjtimex(2): the clock is not synchronised
KERNEL_CHECK_EVERY_S = 10.0


def kernel_clock_synced() -> bool | None:
    """What `timedatectl` calls "System clock synchronized"; None where adjtimex is not available."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        timex = ctypes.create_string_buffer(512)  # struct timex, modes = 0: read only
        return bool(libc.adjtimex(timex) != TIME_ERROR)
    except (OSError, AttributeError):
        return None


class GatewayClock:
    def __init__(
        self,
        floor_ms: int = RELEASE_MS,
        kernel_synced: Callable[[], bool | None] = kernel_clock_synced,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self.floor_ms = floor_ms
        self._kernel_synced = kernel_synced
        self._wall_ms = wall_ms
        self._monotonic_s = monotonic_s
        self._kernel: bool | None = None
        self._kernel_checked = -KERNEL_CHECK_EVERY_S
        self._behind_since: float | None = None  # monotonic time the wall clock was first seen impossible
        self.problem: str | None = None
        self.synced = False

    def raise_floor(self, ts_ms: int) -> None:
        """The newest time this gateway ever stamped: nothing later may be stamped earlier."""
        self.floor_ms = max(self.floor_ms, ts_ms)

    def stamp(self) -> tuple[int, bool]:
        wall = self._wall_ms()
        now = self._monotonic_s()
        if wall < self.floor_ms:
            if self._behind_since is None:
                self._behind_since = now
            self.problem = f"wall clock {wall} ms is before {self.floor_ms} ms (release date or newest reading)"
            self.synced = False
            return self.floor_ms + 1 + int((now - self._behind_since) * 1000), False
        self._behind_since = None
        if now - self._kernel_checked >= KERNEL_CHECK_EVERY_S:
            self._kernel = self._kernel_synced()
            self._kernel_checked = now
        self.synced = bool(self._kernel)
        self.problem = None if self.synced else "kernel reports the clock not synchronised (NTP)"
        return wall, self.synced

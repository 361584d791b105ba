"""Why the alarm-level rule means what it does, and a helper to run it on a plain series.

The rule itself is `rules.reference_kinds.level` (one place for every kind's meaning);
`level_states` below feeds it a series of values one after another.

A station has three alarm levels BĐ1 < BĐ2 < BĐ3 (báo động 1/2/3, Decision
05/2020/QĐ-TTg). A river's state is 0 (below BĐ1) to 3 (at or above BĐ3). Values are
taken in time order, and for each one:

- NaN means no information: the state stays as it is.
- Rising: while state < 3 and value >= up[state], state += 1.
- Falling: while state > 0 and value < down[state - 1], state -= 1.

where up[k] = BĐ(k+1) and down[k] = BĐ(k+1) - hysteresis. One value may move the
state by several levels: a flash flood or a gap in the readings can take a river
from 0 to 3 between two readings, and the warning must say 3 at once. A falling river
clears level by level in the same way.

Why hysteresis: a river hovering at a threshold (2.19, 2.21, 2.20, 2.18 m at a BĐ2 of
2.20 m) would raise and clear the same warning with every reading, and a warning that
flaps is a warning people learn to ignore. With hysteresis h, BĐn is raised on reaching
BĐn and cleared only below BĐn - h. The config (levels.py) keeps 0 <= h < the gap
between levels, so a value that raises a level can never also clear it.
"""

from collections.abc import Sequence

from rules import reference_kinds

Thresholds = tuple[float, float, float]


def level_states(values: Sequence[float], up: Thresholds, down: Thresholds, initial: int) -> list[int]:
    """The state after each value, starting from state `initial` (0..3)."""
    if not 0 <= initial <= 3:
        raise ValueError(f"initial state must be 0..3, got {initial}")
    carry = [-1.0, float(initial)]
    return reference_kinds.level(range(len(values)), values, 0, (*up, *down), carry)

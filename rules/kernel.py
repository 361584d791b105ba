"""The alarm-level rule on a plain series, compiled: `rules.kernels.level` fed one value after another.

The semantics live once, in `rules.reference_kinds.level` (see `rules.reference` for why);
`rules.kernels.level` is its numba twin, and the differential tests hold the two equal.
"""

import numpy as np
import numpy.typing as npt

from rules import kernels


def level_states_kernel(
    values: npt.NDArray[np.float64],
    up: npt.NDArray[np.float64],
    down: npt.NDArray[np.float64],
    initial: int,
) -> npt.NDArray[np.int8]:
    """The state (0..3) after each value, starting from `initial`.

    `up` and `down` hold three float64 thresholds each: BĐ1..3 and BĐ1..3 - hysteresis.
    """
    if up.shape[0] != 3 or down.shape[0] != 3:
        raise ValueError("up and down must hold exactly three thresholds")
    if initial < 0 or initial > 3:
        raise ValueError("initial state must be 0..3")
    ts = np.arange(values.shape[0], dtype=np.int64)
    params = np.concatenate((up, down)).astype(np.float64)
    carry = np.array([-1.0, float(initial)], dtype=np.float64)
    return kernels.level(ts, values.astype(np.float64), 0, params, carry)


def transitions(states: npt.NDArray[np.integer], initial: int) -> npt.NDArray[np.intp]:
    """Indices of `states` where the state differs from the one before (`initial` first)."""
    previous = np.concatenate(([initial], states))[:-1]
    return np.flatnonzero(states != previous)

"""The alarm-level state machine compiled with numba, for the engine and long replays.

Same semantics as `rules.reference.level_states`, which is the spec (read it for what
the states mean); the differential tests hold the two equal element by element.
"""

import math

import numba
import numpy as np
import numpy.typing as npt


@numba.njit(cache=False, nogil=True)
def level_states_kernel(
    values: npt.NDArray[np.float64],
    up: npt.NDArray[np.float64],
    down: npt.NDArray[np.float64],
    initial: int,
) -> npt.NDArray[np.int8]:
    """The state (0..3) after each value, starting from `initial`.

    `up` and `down` hold three float64 thresholds each: BĐ1..3 and BĐ1..3 - hysteresis.
    """
    # Compiled code does not bounds-check: a short array would read garbage.
    if up.shape[0] != 3 or down.shape[0] != 3:
        raise ValueError("up and down must hold exactly three thresholds")
    if initial < 0 or initial > 3:
        raise ValueError("initial state must be 0..3")
    states = np.empty(values.shape[0], dtype=np.int8)
    state = initial
    for index in range(values.shape[0]):
        value = values[index]
        if not math.isnan(value):
            while state < 3 and value >= up[state]:
                state += 1
            while state > 0 and value < down[state - 1]:
                state -= 1
        states[index] = state
    return states


def transitions(states: npt.NDArray[np.integer], initial: int) -> npt.NDArray[np.intp]:
    """Indices of `states` where the state differs from the one before (`initial` first)."""
    previous = np.concatenate(([initial], states))[:-1]
    return np.flatnonzero(states != previous)

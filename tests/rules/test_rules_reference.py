"""The level semantics on hand-written series, and the numba kernel held equal to them."""

import math
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import level_states, level_states_kernel, transitions

NAN = math.nan
# Lệ Thủy: BĐ1/2/3 and the same less a hysteresis of 0.05 m, written out so that the
# table does not depend on float subtraction.
UP = (1.20, 2.20, 2.70)
DOWN = (1.15, 2.15, 2.65)

Levels = tuple[float, float, float]
Impl = Callable[[Sequence[float], Levels, Levels, int], list[int]]


def run_kernel(values: Sequence[float], up: Levels, down: Levels, initial: int) -> list[int]:
    states = level_states_kernel(
        np.array(values, dtype=np.float64),
        np.array(up, dtype=np.float64),
        np.array(down, dtype=np.float64),
        initial,
    )
    return [int(state) for state in states]


IMPLEMENTATIONS = pytest.mark.parametrize("impl", [level_states, run_kernel], ids=["reference", "kernel"])

CASES = {
    "rise through all levels": ([0.5, 1.2, 1.8, 2.2, 2.5, 2.7, 3.0], 0, [0, 1, 1, 2, 2, 3, 3]),
    "jump 0 -> 3 in one reading": ([0.3, 2.9], 0, [0, 3]),
    "drop 3 -> 0 in one reading": ([3.0, 0.5], 3, [3, 0]),
    "hovering at BD2 +- 0.02 does not flap": (
        [2.18, 2.22, 2.19, 2.21, 2.18, 2.20, 2.19, 2.22],
        1,
        [1, 2, 2, 2, 2, 2, 2, 2],
    ),
    "NaN keeps the state": ([1.3, NAN, NAN, 0.0, NAN], 0, [1, 1, 1, 0, 0]),
    "NaN at start keeps initial": ([NAN], 2, [2]),
    "falling clears level by level": (
        [2.68, 2.64, 2.30, 2.16, 2.14, 1.50, 1.16, 1.14],
        3,
        [3, 2, 2, 2, 1, 1, 1, 0],
    ),
    "exactly at a level raises it": ([1.20, 2.20, 2.70], 0, [1, 2, 3]),
    "exactly at the clear value keeps the level": (
        [2.65, 2.64, 2.15, 2.14, 1.15],
        3,
        [3, 2, 2, 1, 1],
    ),
    "empty series": ([], 2, []),
}


@IMPLEMENTATIONS
@pytest.mark.parametrize(("values", "initial", "expected"), CASES.values(), ids=CASES.keys())
def test_hand_written_series(impl: Impl, values: list[float], initial: int, expected: list[int]) -> None:
    assert impl(values, UP, DOWN, initial) == expected


@IMPLEMENTATIONS
def test_without_hysteresis_a_hovering_river_flaps(impl: Impl) -> None:
    # The reason hysteresis exists: the same series as above, with down == up.
    values = [2.18, 2.22, 2.19, 2.21, 2.18]
    assert impl(values, UP, UP, 1) == [1, 2, 1, 2, 1]


def test_reference_refuses_initial_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"initial state must be 0\.\.3, got 4"):
        level_states([1.0], UP, DOWN, 4)


def test_kernel_refuses_bad_arguments() -> None:
    values = np.array([1.0])
    with pytest.raises(ValueError, match="exactly three thresholds"):
        level_states_kernel(values, np.array([1.0, 2.0]), np.array(DOWN), 0)
    with pytest.raises(ValueError, match=r"initial state must be 0\.\.3"):
        level_states_kernel(values, np.array(UP), np.array(DOWN), -1)


@pytest.mark.parametrize(
    ("states", "initial", "expected"),
    [
        ([0, 1, 1, 3, 0], 0, [1, 3, 4]),
        ([2, 2], 1, [0]),
        ([2, 2], 2, []),
        ([], 0, []),
    ],
)
def test_transitions(states: list[int], initial: int, expected: list[int]) -> None:
    found = transitions(np.array(states, dtype=np.int8), initial)
    assert found.tolist() == expected


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[float], Levels, Levels, int]:
    """Valid levels and hysteresis, and series crowding the raise and clear values."""
    bd1 = draw(st.floats(-5, 10))
    gap1, gap2 = draw(st.floats(0.01, 3)), draw(st.floats(0.01, 3))
    up = (bd1, bd1 + gap1, bd1 + gap1 + gap2)
    hysteresis = draw(st.floats(0, 0.999)) * min(gap1, gap2)
    down = (up[0] - hysteresis, up[1] - hysteresis, up[2] - hysteresis)
    edges = st.sampled_from(up + down)
    value = st.one_of(
        st.just(NAN),
        edges,
        st.builds(lambda edge, delta: edge + delta, edges, st.floats(-0.1, 0.1)),
        st.floats(-20, 30),
    )
    values = draw(st.lists(value, max_size=60))
    return values, up, down, draw(st.integers(0, 3))


@settings(max_examples=300, deadline=None)  # no deadline: the first call compiles
@given(scenarios())
def test_kernel_equals_reference(scenario: tuple[list[float], Levels, Levels, int]) -> None:
    values, up, down, initial = scenario
    assert run_kernel(values, up, down, initial) == level_states(values, up, down, initial)

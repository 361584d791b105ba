"""Readings per sensor as columns, the shape the evaluator and the backtest pass around."""

import bisect
from collections.abc import Sequence

# sensor id -> (times in UTC ms, ascending; values, NaN where a reading was not good)
Series = dict[str, tuple[list[int], list[float]]]


def cut_at(series: Series, instants: Sequence[int]) -> list[tuple[int, Series]]:
    """`series` in pieces at `instants` (ascending). Piece k holds the readings with
    instants[k-1] <= ts < instants[k]; pieces without readings are left out, and a series
    that lies within one piece comes back as it is."""
    first = bisect.bisect_right(instants, min([ts[0] for ts, _ in series.values() if ts], default=-1))
    if first == len(instants):  # after the last instant: the usual case live, one pass over the sensors
        return [(first, series)]
    last = bisect.bisect_right(instants, max([ts[-1] for ts, _ in series.values() if ts], default=-1))
    if first == last:
        return [(first, series)]
    pieces = []
    for k in range(first, last + 1):
        start = instants[k - 1] if k > 0 else -(2**62)
        end = instants[k] if k < len(instants) else 2**62
        piece: Series = {}
        for sensor, (ts, vals) in series.items():
            i, j = bisect.bisect_left(ts, start), bisect.bisect_left(ts, end)
            if j > i:
                piece[sensor] = (ts[i:j], vals[i:j])
        if piece:
            pieces.append((k, piece))
    return pieces

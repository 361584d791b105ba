"""The evaluator's state as the store keeps it: what a commit writes and what a restart loads.

Carries are saved by page: the carries of a group of rules (one kind and carry width,
in rule-book order) are cut into pages of `CARRY_PAGE` rules, and a commit writes only
the pages holding a rule that was fed, as little-endian float64 bytes. Sensors' two
watermarks (the late policy's and the windows') are pages of `SENSOR_PAGE` sensors.
Window history is not rewritten: a commit appends the readings the windows admitted
(`Readings`), and `rules.store` drops them once no window reaches them.

Pages name rules and sensors by slot; the `Layout` (slot of every rule and sensor) is
written with the first commit and again, with everything, whenever it changes (a new rule
book). A restart loads by name (`SavedState`), so a changed rule book keeps the state of
the rules it still has.
"""

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
CARRY_PAGE = 512
SENSOR_PAGE = 1024


@dataclass(frozen=True)
class Layout:
    """Where each rule's carry and each sensor's watermarks sit in the pages."""

    rules: tuple[tuple[str, str, int], ...]  # (rule name, group, slot)
    sensors: tuple[str, ...]  # by slot


@dataclass(frozen=True)
class Readings:
    """Readings as columns: sensor slot, time, value."""

    sensor: I64
    ts: I64
    vals: F64

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @staticmethod
    def empty() -> "Readings":
        return Readings(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))

    @staticmethod
    def concat(parts: "list[Readings]") -> "Readings":
        if not parts:
            return Readings.empty()
        if len(parts) == 1:
            return parts[0]
        return Readings(*(np.concatenate(column) for column in zip(*(p.columns() for p in parts), strict=True)))

    def columns(self) -> tuple[I64, I64, F64]:
        return self.sensor, self.ts, self.vals

    def to_bytes(self) -> bytes:
        """count (int64), then the three columns, little-endian."""
        count = np.array([len(self)], dtype="<i8").tobytes()
        return (
            count
            + self.sensor.astype("<i8").tobytes()
            + self.ts.astype("<i8").tobytes()
            + self.vals.astype("<f8").tobytes()
        )

    @staticmethod
    def from_bytes(blob: bytes) -> "Readings":
        count = int(np.frombuffer(blob, dtype="<i8", count=1)[0])
        column = np.frombuffer(blob, dtype="<i8", count=2 * count, offset=8).astype(np.int64)
        vals = np.frombuffer(blob, dtype="<f8", count=count, offset=8 + 16 * count).astype(np.float64)
        return Readings(column[:count], column[count:], vals)


@dataclass
class StateChanges:
    """What one commit writes (`RuleBookEvaluator.take_changes`)."""

    layout: Layout | None  # not None: the layout is new; replace all state with what follows
    carry_pages: list[tuple[str, int, bytes]] = field(default_factory=list)  # (group, page, carries)
    sensor_pages: list[tuple[int, bytes]] = field(default_factory=list)  # (page, watermarks)
    appended: Readings = field(default_factory=Readings.empty)  # readings the windows admitted
    floors: I64 = field(default_factory=lambda: np.empty(0, np.int64))  # per sensor: oldest time kept
    kept: int = 0  # readings the windows hold in all

    def __bool__(self) -> bool:
        return bool(self.layout is not None or self.carry_pages or self.sensor_pages or len(self.appended))


@dataclass
class SavedState:
    """What a restart loads, by name (`RuleBookEvaluator.load`)."""

    layout: Layout | None  # None: from a format without one (everything is written anew)
    carries: dict[str, F64]  # rule -> carry
    late_ts: dict[str, int]  # sensor -> last admitted time (the evaluator's late policy)
    window_last: dict[str, int]  # sensor -> its windows' watermark
    history: dict[str, tuple[I64, F64]]  # sensor -> kept readings, sorted
    rule_history: dict[str, tuple[I64, F64]] = field(default_factory=dict)  # first format: rule -> its history


def carry_pages(group: str, carry: F64, pages: list[int]) -> list[tuple[str, int, bytes]]:
    return [(group, p, carry[p * CARRY_PAGE : (p + 1) * CARRY_PAGE].astype("<f8").tobytes()) for p in pages]


def sensor_pages(marks: I64, pages: list[int]) -> list[tuple[int, bytes]]:
    """`marks`: one row per sensor slot, (late-policy watermark, windows' watermark)."""
    return [(p, marks[p * SENSOR_PAGE : (p + 1) * SENSOR_PAGE].astype("<i8").tobytes()) for p in pages]

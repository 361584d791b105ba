"""A rule book cut into groups of one kind and carry width: params and carries as matrices.

The batched kernels (`rules.batch_kernels`) run a whole group in one call, and the store
saves a group's carries by page (`rules.state`), so a group is what both work on: row i
of `params` and `carry` is the group's i-th rule in rule-book order (its slot).
"""

import numpy as np
import numpy.typing as npt

from rules.levels import AlarmLevelTable
from rules.rulebook import Rule, RuleBook
from rules.runner import history_ms, initial_carry, params_of, severity_of
from rules.state import CARRY_PAGE

I64 = npt.NDArray[np.int64]


class RuleGroup:
    def __init__(
        self,
        key: str,
        rules: list[tuple[int, Rule]],
        levels: AlarmLevelTable,
        sensor_slot: dict[str, int],
        watch_from_ms: int,
    ) -> None:
        self.key = key
        self.kind = rules[0][1].kind
        self.rules = [rule for _, rule in rules]
        self.book_index = [index for index, _ in rules]
        self.names = [rule.name for rule in self.rules]
        self.carry = np.stack([initial_carry(rule, watch_from_ms) for rule in self.rules])
        self.params = np.stack([params_of(rule, levels) for rule in self.rules])
        self.sensor = np.array([sensor_slot[rule.sensors()[0]] if rule.sensors() else -1 for rule in self.rules])
        self.keep = np.array([history_ms(rule) for rule in self.rules], dtype=np.int64)
        self.severity = [severity_of(rule) for rule in self.rules]
        self.dirty = np.zeros(-(-len(self.rules) // CARRY_PAGE), dtype=np.bool_)

    def __len__(self) -> int:
        return len(self.rules)

    def touch(self, rows: I64) -> None:
        """These rules' carries changed (or may have): their pages go into the next commit."""
        self.dirty[rows // CARRY_PAGE] = True

    def take_dirty(self, everything: bool) -> list[int]:
        pages = list(range(self.dirty.shape[0])) if everything else np.flatnonzero(self.dirty).tolist()
        self.dirty[:] = False
        return pages

    def level_of(self, row: int, state: int) -> int:
        """The warning level of a state: a fixed severity when on, or the state itself."""
        fixed = self.severity[row]
        return (fixed if state else 0) if fixed else state


def group_rules(
    book: RuleBook, levels: AlarmLevelTable, sensor_slot: dict[str, int], watch_from_ms: int
) -> dict[str, RuleGroup]:
    """The rule book's groups, keyed `kind/carry width` (k-of-n and escalation carries vary in width)."""
    members: dict[str, list[tuple[int, Rule]]] = {}
    for index, rule in enumerate(book.rules):
        key = f"{rule.kind}/{initial_carry(rule).shape[0]}"
        members.setdefault(key, []).append((index, rule))
    return {key: RuleGroup(key, rules, levels, sensor_slot, watch_from_ms) for key, rules in members.items()}

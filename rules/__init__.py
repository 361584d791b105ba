"""Flood warnings: alarm levels BĐ1/BĐ2/BĐ3 and the rules authors write against them.

`levels` loads the versioned alarm levels; `rulebook` the rule files (every kind);
`reference_kinds` states each kind's meaning in plain Python and `kernels` runs it
compiled; `runner` and `evaluator` apply them to telemetry (live) and history
(`backtest`); `store` keeps the live state in SQLite. `reference`, `kernel` and
`engine` are the first, level-only version, kept for their tests and callers.
"""

from rules.evaluator import RuleBookEvaluator
from rules.kernel import level_states_kernel, transitions
from rules.levels import (
    SHIPPED_ALARM_LEVELS,
    SHIPPED_RULES,
    AlarmLevelTable,
    RuleConfigError,
    StationLevels,
    load_alarm_levels,
)
from rules.reference import level_states
from rules.rulebook import KINDS, RuleBook, load_rulebook
from rules.runner import RuleRunner, Transition

__all__ = [
    "KINDS",
    "SHIPPED_ALARM_LEVELS",
    "SHIPPED_RULES",
    "AlarmLevelTable",
    "RuleBook",
    "RuleBookEvaluator",
    "RuleConfigError",
    "RuleRunner",
    "StationLevels",
    "Transition",
    "level_states",
    "level_states_kernel",
    "load_alarm_levels",
    "load_rulebook",
    "transitions",
]

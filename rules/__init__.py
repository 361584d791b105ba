"""Flood warnings from river levels: alarm levels BĐ1/BĐ2/BĐ3 and the rules using them.

`levels` loads the versioned config (alarm_levels.yaml, rules.yaml), `reference` states
the semantics in plain Python, `kernel` runs them compiled, `engine` applies them live
to telemetry batches.
"""

from rules.engine import LevelEvaluator
from rules.kernel import level_states_kernel, transitions
from rules.levels import (
    SHIPPED_ALARM_LEVELS,
    SHIPPED_RULES,
    AlarmLevelTable,
    LevelRule,
    RuleConfigError,
    RuleSet,
    StationLevels,
    load_alarm_levels,
    load_rules,
)
from rules.reference import level_states

__all__ = [
    "SHIPPED_ALARM_LEVELS",
    "SHIPPED_RULES",
    "AlarmLevelTable",
    "LevelEvaluator",
    "LevelRule",
    "RuleConfigError",
    "RuleSet",
    "StationLevels",
    "level_states",
    "level_states_kernel",
    "load_alarm_levels",
    "load_rules",
    "transitions",
]

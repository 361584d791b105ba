"""Rule unit tests written by rule authors: a small series in, the expected transitions out.

A test file (YAML, see `rules/examples/quang_binh.test.yaml`):

    rules: quang_binh.yaml            # the rule file under test, relative to this file
    cases:
      - name: Lệ Thủy rises through BĐ1 and BĐ2
        start: 2020-10-07T20:00:00+07:00
        check: [le_thuy_level]        # the rules whose transitions must match exactly
        readings:                     # `value: null` is a reading of bad quality
          - {at: 0h, sensor: le_thuy.level, value: 1.0}
          - {at: 1h, sensor: le_thuy.level, value: 2.3}
        until: 2h                     # optional: judge staleness up to start + until
        expect:
          - {at: 1h, rule: le_thuy_level, from: 0, to: 2}

Readings go through the same evaluator as the live service, in the order written
(late ones are dropped, as live). Times are offsets from `start` (`30min`, `2h`).
"""

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from rules.evaluator import RuleBookEvaluator
from rules.levels import SHIPPED_ALARM_LEVELS, AlarmLevelTable, RuleConfigError, RuleName, load_alarm_levels
from rules.network import RiverNetwork, load_network
from rules.rulebook import DurationMs, RuleBook, load_rulebook
from typed_config import ConfigError, load_yaml_model
from wire_contract.payload import SensorId


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CaseReading(_Strict):
    at: DurationMs
    sensor: SensorId
    value: float | None


class Expected(_Strict):
    at: DurationMs
    rule: RuleName
    from_: Annotated[int, Field(alias="from", ge=0, le=3)]
    to: Annotated[int, Field(ge=0, le=3)]


class Case(_Strict):
    name: Annotated[str, Field(min_length=1)]
    start: AwareDatetime  # with its offset: a zone-less time would be read in the machine's zone
    check: Annotated[tuple[RuleName, ...], Field(min_length=1)]
    readings: tuple[CaseReading, ...]
    until: DurationMs | None = None
    expect: tuple[Expected, ...]


class RuleTestFile(_Strict):
    rules: Path
    cases: Annotated[tuple[Case, ...], Field(min_length=1)]


@dataclass(frozen=True)
class CaseResult:
    name: str
    expected: list[tuple[int, str, int, int]]
    got: list[tuple[int, str, int, int]]

    @property
    def passed(self) -> bool:
        return self.expected == self.got


def run_test_file(
    path: Path, levels: AlarmLevelTable | None = None, network: RiverNetwork | None = None
) -> list[CaseResult]:
    """Each case of a rule test file; forecast and upstream rules read `network` (default: the shipped one)."""
    try:
        spec = load_yaml_model(path, RuleTestFile)
    except ConfigError as error:
        raise RuleConfigError(path, str(error)) from None
    levels = levels or load_alarm_levels(SHIPPED_ALARM_LEVELS)
    network = network or load_network()
    book = load_rulebook(path.parent / spec.rules, levels, network)
    results = []
    for number, case in enumerate(spec.cases):
        unknown = [name for name in (*case.check, *(e.rule for e in case.expect)) if name not in _names(book)]
        if unknown:
            raise RuleConfigError(path, f"{path}: cases.{number} ({case.name}): unknown rules {unknown}")
        results.append(_run_case(book, levels, network, case))
    return results


def _names(book: RuleBook) -> set[str]:
    return {rule.name for rule in book.rules}


def _run_case(book: RuleBook, levels: AlarmLevelTable, network: RiverNetwork, case: Case) -> CaseResult:
    start_ms = int(case.start.timestamp() * 1000)
    evaluator = RuleBookEvaluator(book, levels, watch_from_ms=start_ms, network=network)
    series: defaultdict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    for reading in case.readings:
        series[reading.sensor][0].append(start_ms + reading.at)
        series[reading.sensor][1].append(math.nan if reading.value is None else reading.value)
    horizon = start_ms + case.until if case.until is not None else -1
    transitions = evaluator.feed(dict(series), horizon)
    got = sorted((t.ts_ms - start_ms, t.rule, t.previous, t.state) for t in transitions if t.rule in case.check)
    expected = sorted((e.at, e.rule, e.from_, e.to) for e in case.expect)
    return CaseResult(case.name, expected, got)

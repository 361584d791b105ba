"""Rule files: the kinds a rule author writes, as typed models, refused with file:line when wrong.

A rule file is YAML with a list of `rules`; each has a `name`, a `kind` (default
`level`, so the original `rules.yaml` is a rule file too) and the fields of its kind.
Times are written as `30min`, `3h`, `90s`, `1d`. The meaning of every kind is in
`rules/reference_kinds.py`; `rules/examples/` holds the shipped rule sets.

Cross-rule checks (names unique, escalation inputs exist and are not themselves
escalations, level rules name stations with alarm levels) happen here too, so an
author sees every mistake before the rules run.
"""

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from rules.forecast.model import ForecastInputs, forecast_inputs, load_forecast_model
from rules.levels import (
    SHIPPED_ALARM_LEVELS,
    AlarmLevelTable,
    RuleConfigError,
    RuleName,
    StationId,
    load_alarm_levels,
)
from rules.network import SHIPPED_NETWORK, RiverNetwork, load_network
from typed_config import ConfigError, describe_errors, line_of, load_yaml_model
from wire_contract.payload import SensorId

_UNITS_MS = {"s": 1_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|min|h|d)\s*$")


def parse_duration_ms(value: object) -> int:
    """'30min' -> 1_800_000. Numbers are refused: a bare 30 could be seconds or minutes."""
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return round(float(match.group(1)) * _UNITS_MS[match.group(2)])
    raise ValueError(f"write a duration as a number and a unit (s, min, h, d), e.g. '30min' or '3h'; got {value!r}")


DurationMs = Annotated[int, BeforeValidator(parse_duration_ms), Field(ge=0)]
Severity = Annotated[int, Field(ge=1, le=3)]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: RuleName
    station: StationId
    description: str = ""

    def sensors(self) -> tuple[str, ...]:
        return ()


class _OneSensor(_Rule):
    sensor: SensorId

    def sensors(self) -> tuple[str, ...]:
        return (self.sensor,)


class LevelKind(_OneSensor):
    """Alarm levels BĐ1/2/3 of `levels` (a station in alarm_levels.yaml), with its hysteresis."""

    kind: Literal["level"] = "level"
    levels: StationId


class DurationKind(_OneSensor):
    """Level at or above `above_m` for `fire_after`; cleared below `clear_below_m` for `clear_after`."""

    kind: Literal["duration"]
    above_m: float
    clear_below_m: float
    fire_after: DurationMs
    clear_after: DurationMs
    severity: Severity

    @model_validator(mode="after")
    def _clear_below_above(self) -> "DurationKind":
        if self.clear_below_m > self.above_m:
            raise ValueError(f"clear_below_m ({self.clear_below_m}) must be at most above_m ({self.above_m})")
        return self


class RateOfRiseKind(_OneSensor):
    """Level rising at least `rise_cm_per_h` over `window`; cleared below `clear_cm_per_h`."""

    kind: Literal["rate_of_rise"]
    window: DurationMs
    rise_cm_per_h: Annotated[float, Field(gt=0)]
    clear_cm_per_h: float
    min_span: DurationMs = 1_800_000
    severity: Severity

    @model_validator(mode="after")
    def _consistent(self) -> "RateOfRiseKind":
        if self.clear_cm_per_h > self.rise_cm_per_h:
            raise ValueError(f"clear_cm_per_h ({self.clear_cm_per_h}) must be at most rise_cm_per_h")
        if not 0 < self.min_span <= self.window:
            raise ValueError("min_span must be greater than 0 and at most the window")
        return self


class RainCategory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    name: Annotated[str, Field(min_length=1)]
    over_mm: Annotated[float, Field(ge=0)]


class RainfallKind(_OneSensor):
    """Rain summed over `window` (1h, 3h, 6h, 12h, 24h or bulletin_day) against 1-3 categories."""

    kind: Literal["rainfall"]
    window: Literal["1h", "3h", "6h", "12h", "24h", "bulletin_day"]
    categories: Annotated[tuple[RainCategory, ...], Field(min_length=1, max_length=3)]

    @model_validator(mode="after")
    def _increasing(self) -> "RainfallKind":
        overs = [c.over_mm for c in self.categories]
        if overs != sorted(set(overs)):
            raise ValueError(f"categories' over_mm must increase strictly, got {overs}")
        return self

    @property
    def window_ms(self) -> int:
        return 0 if self.window == "bulletin_day" else parse_duration_ms(self.window)


class StalenessKind(_OneSensor):
    """Deadman: no good reading for `max_silence` raises a data warning (not a flood warning)."""

    kind: Literal["staleness"]
    max_silence: Annotated[DurationMs, Field(gt=0)]


class KOfNKind(_Rule):
    """At least `k` of `sensors` at or above `above_m` (bad or stale sensors abstain)."""

    kind: Literal["k_of_n"]
    sensors_: Annotated[tuple[SensorId, ...], Field(alias="sensors", min_length=2)]
    k: Annotated[int, Field(ge=1)]
    above_m: float
    clear_below_m: float
    stale_after: Annotated[DurationMs, Field(gt=0)]
    severity: Severity

    @model_validator(mode="after")
    def _consistent(self) -> "KOfNKind":
        if self.k > len(self.sensors_):
            raise ValueError(f"k ({self.k}) must be at most the number of sensors ({len(self.sensors_)})")
        if len(set(self.sensors_)) != len(self.sensors_):
            raise ValueError("sensors must not repeat")
        if self.clear_below_m > self.above_m:
            raise ValueError("clear_below_m must be at most above_m")
        return self

    def sensors(self) -> tuple[str, ...]:
        return self.sensors_


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rule: RuleName
    at_least: Annotated[int, Field(ge=1, le=3)]


class EscalationKind(_Rule):
    """`base`'s severity raised by `raise_by` while it is at least `min_base` and every condition holds (else 0)."""

    kind: Literal["escalation"]
    base: RuleName
    min_base: Annotated[int, Field(ge=1, le=3)]
    when: Annotated[tuple[Condition, ...], Field(min_length=1)]
    raise_by: Annotated[int, Field(ge=1, le=2)] = 1


class ForecastKind(_Rule):
    """Alarm levels BĐ1/2/3 judged on the level `model` forecasts within its horizons (a file
    written by `floodwatch-rules calibrate`, relative to the rule file); `rules/forecast/rule.py`.

    `margin_sigmas`: each horizon's forecast is raised by this many of its calibration
    residuals' spread before it is compared (earlier warnings, more false ones).
    `confirm_h`: the forecast must say so for this many hours running before a raise.
    `hold_h`: a warning is held this many hours after the forecast falls back."""

    kind: Literal["forecast"]
    model: Path
    margin_sigmas: Annotated[float, Field(ge=0, le=3)] = 0.0
    confirm_h: Annotated[int, Field(ge=1, le=12)] = 1
    hold_h: Annotated[int, Field(ge=0, le=48)] = 0
    # The model and the sensors it reads: set by `load_rulebook` (or `with_inputs`), not written.
    inputs: Annotated[ForecastInputs | None, Field(exclude=True)] = None

    def sensors(self) -> tuple[str, ...]:
        return self.inputs.sensors if self.inputs is not None else ()

    @property
    def levels(self) -> str:
        return self.loaded.model.levels

    @property
    def loaded(self) -> ForecastInputs:
        if self.inputs is None:
            raise ValueError(f"forecast rule {self.name!r}: its model was not loaded (load_rulebook does it)")
        return self.inputs

    def with_inputs(self, network: RiverNetwork, base: Path | None = None) -> "ForecastKind":
        """This rule with its model loaded (a relative path from `base`) and its sensors resolved."""
        path = self.model if self.model.is_absolute() or base is None else base / self.model
        model = load_forecast_model(path)
        if model.station != self.station:
            raise ValueError(f"the model {path} forecasts {model.station!r}, not the rule's station {self.station!r}")
        return self.model_copy(update={"inputs": forecast_inputs(model, network)})


KINDS = ("level", "duration", "rate_of_rise", "rainfall", "staleness", "k_of_n", "escalation", "forecast")


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "level"))
    return str(getattr(value, "kind", "level"))


Rule = Annotated[
    Annotated[LevelKind, Tag("level")]
    | Annotated[DurationKind, Tag("duration")]
    | Annotated[RateOfRiseKind, Tag("rate_of_rise")]
    | Annotated[RainfallKind, Tag("rainfall")]
    | Annotated[StalenessKind, Tag("staleness")]
    | Annotated[KOfNKind, Tag("k_of_n")]
    | Annotated[EscalationKind, Tag("escalation")]
    | Annotated[ForecastKind, Tag("forecast")],
    Discriminator(
        _kind_of,
        custom_error_type="unknown_kind",
        custom_error_message=f"unknown kind; use one of {', '.join(KINDS)}",
        custom_error_context={},
    ),
]


class RuleBook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Not Field(min_length=1): pydantic would add it to every error in an item.
    rules: tuple[Rule, ...]

    @field_validator("rules")
    @classmethod
    def _references(cls, rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
        if not rules:
            raise ValueError("must not be empty")
        index: dict[str, int] = {}
        for position, rule in enumerate(rules):
            if rule.name in index:
                raise ValueError(f"rule name {rule.name!r} appears at positions {index[rule.name]} and {position}")
            index[rule.name] = position
        gauges: dict[str, int] = {}
        for position, rule in enumerate(rules):
            if isinstance(rule, LevelKind):
                # One BĐ level per gauge: two level rules would announce conflicting levels for it.
                if rule.sensor in gauges:
                    raise ValueError(
                        f"sensor {rule.sensor!r} appears at positions {gauges[rule.sensor]} and {position}; "
                        "it must be unique among level rules"
                    )
                gauges[rule.sensor] = position
        for rule in rules:
            if isinstance(rule, EscalationKind):
                for used in (rule.base, *(c.rule for c in rule.when)):
                    if used not in index:
                        raise ValueError(f"escalation {rule.name!r} uses unknown rule {used!r}; known: {sorted(index)}")
                    if isinstance(rules[index[used]], EscalationKind | StalenessKind):
                        raise ValueError(
                            f"escalation {rule.name!r} uses {used!r}, which is an escalation or a staleness rule; "
                            "use a level, duration, rate_of_rise, rainfall or k_of_n rule"
                        )
        return rules

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)


def load_rulebook(
    path: Path | str, levels: AlarmLevelTable | None = None, network: RiverNetwork | None = None
) -> RuleBook:
    """Load a rule file; level rules must name a station of `levels` (default: the shipped table).
    Forecast rules load their model and find their sensors in `network` (default: the shipped one)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        try:  # the shared loader words these errors the way every config's are worded
            load_yaml_model(path, RuleBook)
        except ConfigError as error:
            raise RuleConfigError(path, str(error)) from None
        raise
    try:
        book = RuleBook.model_validate(data if data is not None else {})
    except ValidationError as error:
        raise RuleConfigError(path, _describe(path, error, root)) from None
    book = _with_forecast_inputs(path, book, root, network)
    levels = levels if levels is not None else load_alarm_levels(SHIPPED_ALARM_LEVELS)
    known = levels.station_ids
    for position, rule in enumerate(book.rules):
        if isinstance(rule, LevelKind | ForecastKind) and rule.levels not in known:
            raise RuleConfigError(
                path,
                f"{path}:{line_of(root, ('rules', position, 'levels'))} rules.{position}.levels: unknown station "
                f"{rule.levels!r}; use one with alarm levels: {known}",
            )
    return book


def _with_forecast_inputs(path: Path, book: RuleBook, root: yaml.Node | None, network: RiverNetwork | None) -> RuleBook:
    if not any(isinstance(rule, ForecastKind) for rule in book.rules):
        return book
    network = network if network is not None else load_network(SHIPPED_NETWORK)
    rules: list[Rule] = []
    for position, rule in enumerate(book.rules):
        if isinstance(rule, ForecastKind):
            try:
                rule = rule.with_inputs(network, path.parent)
            except (ValueError, KeyError) as error:  # RuleConfigError (the model file's own) is a ValueError
                where = f"{path}:{line_of(root, ('rules', position, 'model'))} rules.{position}.model"
                raise RuleConfigError(path, f"{where}: {error}") from None
        rules.append(rule)
    return book.model_copy(update={"rules": tuple(rules)})


def _describe(path: Path, error: ValidationError, root: yaml.Node | None) -> str:
    return describe_errors(path, error, root, what="rule file", user_loc=_without_kind)


def _without_kind(keys: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """pydantic puts the rule's kind in the path (rules.0.duration.x); the file has no such key."""
    if len(keys) > 2 and keys[0] == "rules" and keys[2] in KINDS:
        return keys[:2] + keys[3:]
    return keys

"""Alarm levels and level rules: typed config, parsed once, refused when wrong.

`alarm_levels.yaml` holds each station's BĐ1/BĐ2/BĐ3 with its source and date of
effect; `rules.yaml` binds a sensor to a station's levels. Both become frozen pydantic
models here, the only place their defaults live. Files are read by the project's shared
`typed_config` loader, so a file that cannot be used fails like every other config:
`RuleConfigError` naming the file, line, key path (`stations.0.bd2_m`) and what is
expected. Nothing is clamped or guessed.
"""

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from typed_config import ConfigError, load_yaml_model

PACKAGE_DIR = Path(__file__).resolve().parent
SHIPPED_ALARM_LEVELS = PACKAGE_DIR / "alarm_levels.yaml"
SHIPPED_RULES = PACKAGE_DIR / "rules.yaml"

# Station ids travel as WarningMessage.station, so they are a subset of wire sensor ids.
StationId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
# Short enough that a warning_id (rule:sensor:ts:a->b) stays within the contract's 200.
RuleName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
Text = Annotated[str, Field(min_length=1)]
Thresholds = tuple[float, float, float]
_M = TypeVar("_M", bound=BaseModel)


class RuleConfigError(ConfigError):
    """alarm_levels.yaml or rules.yaml cannot be used; the message names file, key and fix.

    A `typed_config.ConfigError` like every other config's, so a caller may catch either.
    """


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class StationLevels(_Config):
    """One station's alarm levels, as the decision fixed them and a source reports them."""

    station: StationId
    river: Text
    display_name: Text
    bd1_m: float
    bd2_m: float
    bd3_m: float
    # Declared after the levels: its validator compares against them.
    hysteresis_m: Annotated[float, Field(ge=0)] = 0.05
    source: Text
    effective_from: date

    @field_validator("bd2_m", "bd3_m")
    @classmethod
    def _above_level_below(cls, value: float, info: ValidationInfo) -> float:
        below = "bd1_m" if info.field_name == "bd2_m" else "bd2_m"
        # A level that failed its own validation is reported on its own.
        if below in info.data and value <= info.data[below]:
            raise ValueError(f"must be greater than {below} ({info.data[below]} m)")
        return value

    @field_validator("hysteresis_m")
    @classmethod
    def _smaller_than_gaps(cls, value: float, info: ValidationInfo) -> float:
        levels = [info.data.get(key) for key in ("bd1_m", "bd2_m", "bd3_m")]
        if None in levels:
            return value
        bd1, bd2, bd3 = cast(list[float], levels)
        gap = min(bd2 - bd1, bd3 - bd2)
        # Otherwise clearing one level would also clear the one below it.
        if value >= gap:
            raise ValueError(f"must be smaller than the smallest gap between levels ({gap:.3g} m)")
        return value

    @property
    def thresholds_m(self) -> Thresholds:
        """BĐ1, BĐ2, BĐ3: reaching one raises that level."""
        return (self.bd1_m, self.bd2_m, self.bd3_m)

    @property
    def clear_below_m(self) -> Thresholds:
        """Falling below one of these clears the matching level."""
        h = self.hysteresis_m
        return (self.bd1_m - h, self.bd2_m - h, self.bd3_m - h)


class AlarmLevelTable(_Config):
    # Not Field(min_length=1): pydantic would add it to every error in an item.
    stations: tuple[StationLevels, ...]

    @field_validator("stations")
    @classmethod
    def _unique_ids(cls, stations: tuple[StationLevels, ...]) -> tuple[StationLevels, ...]:
        _refuse_repeats([entry.station for entry in stations], "station id")
        return stations

    def station(self, station_id: str) -> StationLevels:
        for entry in self.stations:
            if entry.station == station_id:
                return entry
        raise KeyError(f"no alarm levels for station {station_id!r}")


def load_alarm_levels(path: Path | str) -> AlarmLevelTable:
    return _load(Path(path), AlarmLevelTable)


def _load(path: Path, model: type[_M]) -> _M:
    try:
        return load_yaml_model(path, model)
    except ConfigError as error:
        raise RuleConfigError(path, str(error)) from None


def _refuse_repeats(values: Sequence[str], what: str) -> None:
    if not values:
        raise ValueError("must not be empty")
    first_seen: dict[str, int] = {}
    for index, value in enumerate(values):
        if value in first_seen:
            raise ValueError(
                f"{what} {value!r} appears at positions {first_seen[value]} and {index}; it must be unique"
            )
        first_seen[value] = index

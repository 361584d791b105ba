"""Alarm levels and level rules: typed config, parsed once, refused when wrong.

`alarm_levels.yaml` holds each station's BĐ1/BĐ2/BĐ3 with its source and date of
effect; `rules.yaml` binds a sensor to a station's levels.

Levels are versioned: a station may be listed once per decision, each entry with its
own `effective_from`. A reading is judged against the version in effect at its time
(from 00:00 Asia/Ho_Chi_Minh of `effective_from` until the next version's), so a
backtest of an old flood uses the levels of its day and a decision that takes effect
next month can be entered today. Before a station's first version it has no levels: its
level rules abstain. Both become frozen pydantic
models here, the only place their defaults live. Files are read by the project's shared
`typed_config` loader, so a file that cannot be used fails like every other config:
`RuleConfigError` naming the file, line, key path (`stations.0.bd2_m`) and what is
expected. Nothing is clamped or guessed.
"""

import bisect
import time
from datetime import date, datetime, timedelta, timezone
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
# Decisions take effect on a date in Việt Nam (UTC+07:00, no summer time).
LOCAL_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")


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

    @property
    def effective_ms(self) -> int:
        """When this version takes effect: 00:00 local time of `effective_from`, in UTC ms."""
        start = datetime.combine(self.effective_from, datetime.min.time(), LOCAL_TZ)
        return int(start.timestamp() * 1000)


class NoLevelsInEffect(KeyError):
    """A station has alarm levels, but none in effect yet at the time asked about."""


class AlarmLevelTable(_Config):
    # Not Field(min_length=1): pydantic would add it to every error in an item.
    stations: tuple[StationLevels, ...]

    @field_validator("stations")
    @classmethod
    def _versions_of_one_station_agree(cls, stations: tuple[StationLevels, ...]) -> tuple[StationLevels, ...]:
        if not stations:
            raise ValueError("must not be empty")
        versions: dict[tuple[str, date], int] = {}
        first: dict[str, StationLevels] = {}
        for index, entry in enumerate(stations):
            earlier = versions.setdefault((entry.station, entry.effective_from), index)
            if earlier != index:
                raise ValueError(
                    f"station {entry.station!r} appears at positions {earlier} and {index} with the same "
                    f"effective_from ({entry.effective_from}); a new version of its levels needs the date "
                    "it takes effect"
                )
            seen = first.setdefault(entry.station, entry)
            if (entry.river, entry.display_name) != (seen.river, seen.display_name):
                raise ValueError(
                    f"the versions of station {entry.station!r} name it differently "
                    f"({seen.river}/{seen.display_name} and {entry.river}/{entry.display_name}); "
                    "a version changes levels, not the station"
                )
        return stations

    @property
    def station_ids(self) -> list[str]:
        return sorted({entry.station for entry in self.stations})

    def versions(self, station_id: str) -> list[StationLevels]:
        """A station's versions, oldest first."""
        found = sorted((e for e in self.stations if e.station == station_id), key=lambda e: e.effective_from)
        if not found:
            raise KeyError(f"no alarm levels for station {station_id!r}")
        return found

    def station(self, station_id: str, at_ms: int | None = None) -> StationLevels:
        """The version in effect at `at_ms` (UTC ms; default: now)."""
        at = int(time.time() * 1000) if at_ms is None else at_ms
        versions = self.versions(station_id)
        index = bisect.bisect_right([v.effective_ms for v in versions], at) - 1
        if index < 0:
            raise NoLevelsInEffect(
                f"station {station_id!r} has no alarm levels in effect before "
                f"{versions[0].effective_from.isoformat()} (its first version)"
            )
        return versions[index]

    def changes_ms(self) -> list[int]:
        """Every instant a version takes effect, of any station, ascending."""
        return sorted({entry.effective_ms for entry in self.stations})


def load_alarm_levels(path: Path | str) -> AlarmLevelTable:
    return _load(Path(path), AlarmLevelTable)


def _load(path: Path, model: type[_M]) -> _M:
    try:
        return load_yaml_model(path, model)
    except ConfigError as error:
        raise RuleConfigError(path, str(error)) from None

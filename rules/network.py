"""The river network as data (`network.yaml`): each station's river, name and position.

Station coordinates live in that file only; maps and dashboards read them here.
"""

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rules.levels import PACKAGE_DIR, RuleConfigError, StationId, Text
from typed_config import ConfigError, load_yaml_model

SHIPPED_NETWORK = PACKAGE_DIR / "network.yaml"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class NetworkStation(_Config):
    station: StationId
    river: Text
    display_name: Text
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    coordinates_source: Text


class Network(_Config):
    stations: tuple[NetworkStation, ...]

    @field_validator("stations")
    @classmethod
    def _each_station_once(cls, stations: tuple[NetworkStation, ...]) -> tuple[NetworkStation, ...]:
        seen: set[str] = set()
        for entry in stations:
            if entry.station in seen:
                raise ValueError(f"station {entry.station!r} is listed twice; list each station once")
            seen.add(entry.station)
        return stations

    def station(self, station_id: str) -> NetworkStation:
        for entry in self.stations:
            if entry.station == station_id:
                return entry
        raise KeyError(f"station {station_id!r} is not in the river network; known: {self.station_ids}")

    @property
    def station_ids(self) -> list[str]:
        return [entry.station for entry in self.stations]


def load_network(path: Path | str = SHIPPED_NETWORK) -> Network:
    try:
        return load_yaml_model(Path(path), Network)
    except ConfigError as error:
        raise RuleConfigError(Path(path), str(error)) from None

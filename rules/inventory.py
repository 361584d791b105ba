"""The sensors that exist (`rules/examples/sensors.yaml`) and the check of rule files against them.

`check_rulebook` lists every problem at once, each naming the rule and what to do:
a sensor that does not exist, a sensor of the wrong quantity for the kind (a rain
gauge in a level rule), a rule whose station is not the sensor's.
"""

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from rules.levels import PACKAGE_DIR, RuleConfigError, StationId
from rules.network import RiverNetwork
from rules.rulebook import DurationKind, ForecastKind, KOfNKind, LevelKind, RainfallKind, RateOfRiseKind, RuleBook
from typed_config import ConfigError, load_yaml_model
from wire_contract.payload import QUANTITY_UNITS, SensorId

SHIPPED_SENSORS = PACKAGE_DIR / "examples" / "sensors.yaml"


class Sensor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sensor: SensorId
    station: StationId
    quantity: Annotated[str, Field(pattern=f"^({'|'.join(QUANTITY_UNITS)})$")]


class Inventory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sensors: tuple[Sensor, ...]

    def get(self, sensor: str) -> Sensor | None:
        return next((entry for entry in self.sensors if entry.sensor == sensor), None)


def load_inventory(path: Path | str = SHIPPED_SENSORS) -> Inventory:
    path = Path(path)
    try:
        return load_yaml_model(path, Inventory)
    except ConfigError as error:
        raise RuleConfigError(path, str(error)) from None


def quantity_for(rule: object) -> str | None:
    """The quantity a kind reads (None: any, as staleness watches whatever the sensor sends)."""
    if isinstance(rule, LevelKind | DurationKind | RateOfRiseKind | KOfNKind):
        return "water_level"
    if isinstance(rule, RainfallKind):
        return "rain"
    return None


def quantity_of(rule: object, sensor: str) -> str | None:
    """The quantity a rule reads from one of its sensors (a forecast reads levels and rain)."""
    if isinstance(rule, ForecastKind):
        return "rain" if sensor in rule.loaded.rain_gauges else "water_level"
    return quantity_for(rule)


def check_rulebook(book: RuleBook, inventory: Inventory, network: RiverNetwork | None = None) -> list[str]:
    """Every problem at once. With the river network, a rule may read a sensor of a station
    upstream of its own (an upstream rule: it warns its station before the water arrives) or
    a rain gauge of its station's catchment."""
    problems = []
    for rule in book.rules:
        for sensor in rule.sensors():
            wanted = quantity_of(rule, sensor)
            entry = inventory.get(sensor)
            if entry is None:
                problems.append(
                    f"rule {rule.name!r}: sensor {sensor!r} does not exist; "
                    f"add it to the sensor list or use one of {sorted(s.sensor for s in inventory.sensors)}"
                )
                continue
            if wanted and entry.quantity != wanted:
                problems.append(
                    f"rule {rule.name!r} ({rule.kind}) reads {wanted}, but sensor {sensor!r} measures {entry.quantity}"
                )
            if entry.station != rule.station and not _feeds(network, sensor, entry.station, rule.station):
                how = (
                    f"which the river network does not list upstream of {rule.station!r} nor as a rain gauge "
                    "of its catchment"
                    if network is not None
                    else "and no river network was given to say it lies upstream"
                )
                problems.append(
                    f"rule {rule.name!r}: station {rule.station!r}, but sensor {sensor!r} stands at "
                    f"{entry.station!r}, {how}"
                )
    return problems


def _feeds(network: RiverNetwork | None, sensor: str, sensor_station: str, rule_station: str) -> bool:
    """Does a reading of `sensor` (at `sensor_station`) tell of water on its way to `rule_station`?"""
    if network is None or rule_station not in network.station_ids:
        return False
    if sensor in network.station(rule_station).rain_gauges:
        return True
    return sensor_station in network.station_ids and network.travel_ms(sensor_station, rule_station) is not None

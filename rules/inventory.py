"""The sensors that exist (`rules/examples/sensors.yaml`) and the check of rule files against them.

`check_rulebook` lists every problem at once, each naming the rule and what to do:
a sensor that does not exist, a sensor of the wrong quantity for the kind (a rain
gauge in a level rule), a rule whose station is not the sensor's.
"""

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from rules.levels import PACKAGE_DIR, RuleConfigError, StationId
from rules.rulebook import DurationKind, KOfNKind, LevelKind, RainfallKind, RateOfRiseKind, RuleBook
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


def check_rulebook(book: RuleBook, inventory: Inventory) -> list[str]:
    problems = []
    for rule in book.rules:
        wanted = quantity_for(rule)
        for sensor in rule.sensors():
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
            if entry.station != rule.station:
                problems.append(
                    f"rule {rule.name!r}: station {rule.station!r}, but sensor {sensor!r} stands at {entry.station!r}"
                )
    return problems

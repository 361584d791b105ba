"""The river network (`network.yaml`): stations, what lies upstream and how far, rain gauges.

Each station has its river, coordinates (with their source), the IANA time zone of its
local time, its level sensor, the stations upstream of it with the typical travel time
of the water (`travel_h`), and the rain gauges of its catchment. Upstream rules and the
forecast kind read it; the backtest reads zone-less times in a station's zone.

Loaded once into frozen pydantic models by the shared `typed_config` loader; links that
the models cannot check alone (an upstream station that is not in the file, a station
upstream of itself, a loop) are refused after, with the file:line of the link:

    network.yaml:31 stations.0.upstream.0.station: unknown station 'kien_gaing' (known: ...)
"""

from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from rules.levels import PACKAGE_DIR, RuleConfigError, StationId, Text
from typed_config import ConfigError, line_of, load_yaml_model
from wire_contract.payload import SensorId

SHIPPED_NETWORK = PACKAGE_DIR / "network.yaml"
HOUR_MS = 3_600_000


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"not a time zone name (IANA, e.g. 'Asia/Ho_Chi_Minh'): {name!r}") from None
    return name


ZoneName = Annotated[str, AfterValidator(_known_zone)]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class UpstreamLink(_Config):
    """A station upstream and the typical time the water takes from it to this one."""

    station: StationId
    travel_h: Annotated[float, Field(gt=0, le=72)]

    @property
    def travel_ms(self) -> int:
        return round(self.travel_h * HOUR_MS)


class NetworkStation(_Config):
    station: StationId
    river: Text
    display_name: Text
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    coordinates_source: Text
    time_zone: ZoneName = "Asia/Ho_Chi_Minh"
    level_sensor: SensorId | None = None
    upstream: tuple[UpstreamLink, ...] = ()
    rain_gauges: tuple[SensorId, ...] = ()

    @property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.time_zone)


class RiverNetwork(_Config):
    stations: tuple[NetworkStation, ...]

    def station(self, station_id: str) -> NetworkStation:
        for entry in self.stations:
            if entry.station == station_id:
                return entry
        raise KeyError(f"station {station_id!r} is not in the river network (known: {', '.join(self.station_ids)})")

    @property
    def station_ids(self) -> list[str]:
        return [entry.station for entry in self.stations]

    def zone_of(self, station_id: str) -> tzinfo:
        return self.station(station_id).zone

    def travel_ms(self, upstream: str, downstream: str) -> int | None:
        """Travel time from `upstream` to `downstream` along the links (the shortest path), or None."""
        best: dict[str, int] = {downstream: 0}
        frontier = [downstream]
        while frontier:
            here = frontier.pop()
            for link in self.station(here).upstream:
                reach = best[here] + link.travel_ms
                if reach < best.get(link.station, reach + 1):
                    best[link.station] = reach
                    frontier.append(link.station)
        return best.get(upstream) if upstream != downstream else None

    def gauge_station(self, sensor: str) -> NetworkStation | None:
        """The station whose level gauge `sensor` is."""
        return next((entry for entry in self.stations if entry.level_sensor == sensor), None)

    def arrival_note(self, sensor: str, target: str, ts_ms: int) -> str | None:
        """For a warning of `target` raised by a reading of an upstream gauge at `ts_ms`: when the
        water is expected at `target` (the network's travel time); None when `sensor` is not upstream."""
        source = self.gauge_station(sensor)
        if source is None or target not in self.station_ids or source.station == target:
            return None
        travel = self.travel_ms(source.station, target)
        if travel is None:
            return None
        entry = self.station(target)
        arrives = datetime.fromtimestamp((ts_ms + travel) / 1000, entry.zone)
        return (
            f"upstream at {source.display_name}: water expected at {entry.display_name} "
            f"about {arrives:%Y-%m-%d %H:%M} (travel {travel / HOUR_MS:g} h)"
        )


@dataclass(frozen=True)
class _Problem:
    keys: tuple[int | str, ...]
    message: str


def link_problems(network: RiverNetwork) -> list[_Problem]:
    """What the models cannot see alone: duplicates, unknown upstream stations, loops."""
    problems = []
    index: dict[str, int] = {}
    for i, entry in enumerate(network.stations):
        if entry.station in index:
            twice = f"station {entry.station!r} is listed twice (first at {index[entry.station]})"
            problems.append(_Problem(("stations", i, "station"), twice))
        index.setdefault(entry.station, i)
    for i, entry in enumerate(network.stations):
        seen: set[str] = set()
        for j, link in enumerate(entry.upstream):
            keys = ("stations", i, "upstream", j, "station")
            if link.station == entry.station:
                problems.append(_Problem(keys, f"station {entry.station!r} cannot be upstream of itself"))
            elif link.station not in index:
                known = ", ".join(sorted(index))
                problems.append(_Problem(keys, f"unknown station {link.station!r} (known: {known})"))
            elif link.station in seen:
                problems.append(_Problem(keys, f"station {link.station!r} is listed upstream twice"))
            seen.add(link.station)
    if not problems:
        problems += _loops(network, index)
    return problems


def _loops(network: RiverNetwork, index: dict[str, int]) -> list[_Problem]:
    """Water does not flow in circles: a station found upstream of itself is refused."""
    for i, entry in enumerate(network.stations):
        stack = [[entry.station, link.station] for link in entry.upstream]
        while stack:
            path = stack.pop()
            if path[-1] == entry.station:
                return [_Problem(("stations", i, "upstream"), f"a loop: {' <- '.join(path)}")]
            if path[-1] in path[:-1]:
                continue  # a loop that does not pass through this station: found from its own
            stack += [[*path, link.station] for link in network.stations[index[path[-1]]].upstream]
    return []


def load_network(path: Path | str = SHIPPED_NETWORK) -> RiverNetwork:
    """`network.yaml` as a `RiverNetwork`; `RuleConfigError` naming file:line, key and fix."""
    path = Path(path)
    try:
        network = load_yaml_model(path, RiverNetwork)
    except ConfigError as error:
        raise RuleConfigError(path, str(error)) from None
    problems = link_problems(network)
    if problems:
        root = yaml.compose(path.read_text(encoding="utf-8"))
        lines = [f"{path}: invalid river network"]
        for problem in problems:
            line = line_of(root, problem.keys)
            key = ".".join(str(k) for k in problem.keys)
            lines.append(f"  {path}:{line} {key}: {problem.message}")
        raise RuleConfigError(path, "\n".join(lines))
    return network

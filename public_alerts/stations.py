"""Station names for alerts, from the rule service's alarm-level table (one place for them)."""

from collections.abc import Callable

from public_alerts.cap import StationNames
from rules.levels import AlarmLevelTable


def station_names(table: AlarmLevelTable) -> Callable[[str], StationNames]:
    """A lookup of display name and river; a station the table lacks is named by its id."""

    def names(station: str) -> StationNames:
        if station not in table.station_ids:
            return StationNames(station, station, "?")
        entry = table.station(station)
        return StationNames(station, entry.display_name, entry.river)

    return names

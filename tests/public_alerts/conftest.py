from collections.abc import Callable

import pytest

from public_alerts import AlertBook, PublicPolicy, StationNames, load_policy
from public_alerts.stations import station_names
from rules.levels import SHIPPED_ALARM_LEVELS, load_alarm_levels
from wire_contract import WarningMessage


@pytest.fixture(scope="session")
def policy() -> PublicPolicy:
    return load_policy()


@pytest.fixture(scope="session")
def names() -> Callable[[str], StationNames]:
    return station_names(load_alarm_levels(SHIPPED_ALARM_LEVELS))


@pytest.fixture
def book(policy: PublicPolicy, names: Callable[[str], StationNames]) -> AlertBook:
    return AlertBook(policy, names)


def warning(
    station: str, level: int, previous: int, ts_ms: int, *, kind: str = "level", rule: str = ""
) -> WarningMessage:
    rule = rule or f"{station}_{kind}"
    return WarningMessage(
        warning_id=f"{rule}:{station}:{ts_ms}:{previous}->{level}",
        rule=rule,
        station=station,
        sensor=station,
        level=level,
        previous_level=previous,
        value=1.0 + level * 0.7,
        ts_ms=ts_ms,
        thresholds_m=(1.2, 2.2, 2.7),
        thresholds_source="test",
        kind=kind,
    )

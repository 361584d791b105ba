"""The sample alert `cap --example` prints: Lệ Thủy (Kiến Giang) reaching BĐ3 on 18 Oct 2020."""

from public_alerts.alert_book import AlertBook, PublicAlert
from public_alerts.policy import PublicPolicy
from public_alerts.stations import station_names
from rules.levels import SHIPPED_ALARM_LEVELS, load_alarm_levels
from wire_contract import WarningMessage

# 2020-10-18 07:00 +07:00, as the Kiến Giang rose through BĐ3 in the October 2020 flood.
EXAMPLE_TS_MS = 1_602_979_200_000


def example_warning(level: int = 3, previous_level: int = 2, value_m: float = 2.81) -> WarningMessage:
    table = load_alarm_levels(SHIPPED_ALARM_LEVELS)
    station = table.station("le_thuy", EXAMPLE_TS_MS)
    return WarningMessage(
        warning_id=f"le_thuy_level:le_thuy:{EXAMPLE_TS_MS}:{previous_level}->{level}",
        rule="le_thuy_level",
        station="le_thuy",
        sensor="le_thuy",
        level=level,
        previous_level=previous_level,
        value=value_m,
        ts_ms=EXAMPLE_TS_MS,
        thresholds_m=station.thresholds_m,
        thresholds_source=station.source,
    )


def example_alert(policy: PublicPolicy) -> PublicAlert:
    book = AlertBook(policy, station_names(load_alarm_levels(SHIPPED_ALARM_LEVELS)))
    alert = book.take(example_warning(), EXAMPLE_TS_MS)
    if alert is None:
        raise ValueError("the policy does not make BĐ3 at Lệ Thủy public (no route to the cap_feed channel)")
    return alert

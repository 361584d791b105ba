"""The demo's replay data written into InfluxDB in ingest's storage layout, for dashboards.

The demo replays data/ through simulators, gateways and ingest in compressed wall time;
the dashboards need the same readings at their river times. This writes them directly,
point for point as ingest writes a reading (`ingest.points.reading_point`), then:

- warnings: the shipped rule book replayed over the same series (`rules.backtest.replay`),
  stored as the rule service stores them (`rules.service.warning_point`);
- rollups: ingest's retention policies and CQs (`apply_storage_layout`), filled for the
  range by running each CQ's SELECT ... INTO by hand with a time range (README, "Storage
  layout"), since the CQs only look back `resample_for` from now;
- reference data for the dashboards (`grafana.reference`).

Fault episodes (made up, not in the recorded data; times UTC+07:00) so the fleet and
cabinet panels have something to show, each listed in FAULTS:
- gw-kien-giang-01: the Kiến Giang radar fails three reads on 2020-10-08 (12:30, 13:30, 14:30);
- gw-dong-hoi-01: its clock unsynchronised for the readings of 2020-10-14 00:00-05:00;
- gw-kien-giang-01 loses its 4G link 2020-10-08 09:00-12:00: its status goes offline at
  09:02 (the broker's last will), no heartbeat until 12:00, when 18 readings wait on its disk,
  the oldest 3 h old; sent by 12:10. Every gateway sends a heartbeat every 10 minutes
  (`ingest.status.status_point`, as ingest stores them); device errors count the failed reads;
- the Lệ Thủy camera cabinet (gw-le-thuy-01, every 10 min): door open 2020-10-10
  09:00-09:30; mains lost 2020-10-18 02:00-08:00 (supply 11.4 V on battery, stream down).
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from centre.influx import InfluxV1
from centre.line_protocol import Point
from devstack.replay_data import LEVEL_CSV, RAIN_CSV
from grafana.reference import write_reference
from ingest.config import StorageConfig
from ingest.points import reading_point
from ingest.status import status_point
from ingest.storage import apply_storage_layout, rollup_select
from rules.backtest import load_csv, replay
from rules.evaluator import RuleBookEvaluator
from rules.levels import SHIPPED_ALARM_LEVELS, SHIPPED_RULES, load_alarm_levels
from rules.network import load_network
from rules.rulebook import load_rulebook
from rules.service import warning_point
from wire_contract import QUANTITY_UNITS, GatewayStatus, Quality, Reading

LOCAL = datetime.fromisoformat("2020-01-01T00:00:00+07:00").tzinfo
GATEWAYS = {"le_thuy": "gw-le-thuy-01", "kien_giang": "gw-kien-giang-01", "dong_hoi": "gw-dong-hoi-01"}
QUANTITY_OF_SUFFIX = {"level": "water_level", "rain": "rain"}
CABINET_STATION = "le_thuy"
CABINET_STEP = timedelta(minutes=10)


def _local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


READ_FAILURES = tuple(_ms(_local(f"2020-10-08T{h}:30")) for h in (12, 13, 14))
UNSYNCED = (_ms(_local("2020-10-14T00:00")), _ms(_local("2020-10-14T05:00")))
DOOR_OPEN = (_ms(_local("2020-10-10T09:00")), _ms(_local("2020-10-10T09:30")))
MAINS_LOST = (_ms(_local("2020-10-18T02:00")), _ms(_local("2020-10-18T08:00")))
OUTAGE = (_ms(_local("2020-10-08T09:00")), _ms(_local("2020-10-08T12:00")))
OUTAGE_BACKLOG = 18
HEARTBEAT_STEP_MS = 600_000


@dataclass(frozen=True)
class ReplayLoad:
    start_ms: int
    end_ms: int
    readings: int
    warnings: int


def _reading(sensor: str, station: str, quantity: str, value: float | None, ts_ms: int, synced: bool) -> Reading:
    quality = Quality.good if value is not None else Quality.read_failure
    return Reading(
        sensor=sensor,
        station=station,
        quantity=quantity,
        value=value,
        unit=QUANTITY_UNITS[quantity],
        ts_ms=ts_ms,
        quality=quality,
        clock_synced=synced,
    )


def recorded_points(start_ms: int, end_ms: int) -> list[Point]:
    points = []
    for sensor, (times, values) in load_csv((LEVEL_CSV, RAIN_CSV), start_ms, end_ms).items():
        station, suffix = sensor.split(".")
        gateway = GATEWAYS[station]
        for ts, value in zip(times, values, strict=True):
            if math.isfinite(value):
                synced = not (gateway == "gw-dong-hoi-01" and UNSYNCED[0] <= ts <= UNSYNCED[1])
                reading = _reading(sensor, station, QUANTITY_OF_SUFFIX[suffix], value, ts, synced)
                points.append(reading_point(gateway, reading))
    for ts in READ_FAILURES:
        if start_ms <= ts < end_ms:
            failed = _reading("kien_giang.level", "kien_giang", "water_level", None, ts, True)
            points.append(reading_point("gw-kien-giang-01", failed))
    return points


def cabinet_value(quantity: str, ts_ms: int) -> float:
    """The made-up cabinet at Lệ Thủy at one instant (see the module's docstring)."""
    on_battery = MAINS_LOST[0] <= ts_ms < MAINS_LOST[1]
    if quantity == "supply_voltage":
        return 11.4 if on_battery else 13.2
    if quantity == "temperature":
        hour = (ts_ms / 3_600_000 + 7) % 24
        return round(30.0 + 4.0 * math.sin((hour - 9) / 24 * 2 * math.pi), 2)
    if quantity == "door_open":
        return 1.0 if DOOR_OPEN[0] <= ts_ms < DOOR_OPEN[1] else 0.0
    if quantity == "stream_alive":
        return 0.0 if on_battery else 1.0
    return 1.0  # poe_on, link_up: the switch and the 4G router run on the battery too


CABINET_QUANTITIES = ("supply_voltage", "temperature", "door_open", "poe_on", "link_up", "stream_alive")


def cabinet_points(start_ms: int, end_ms: int) -> list[Point]:
    step = int(CABINET_STEP.total_seconds() * 1000)
    first = -(-start_ms // step) * step
    return [
        reading_point(
            GATEWAYS[CABINET_STATION],
            _reading(f"{CABINET_STATION}.cabinet.{q}", CABINET_STATION, q, cabinet_value(q, ts), ts, True),
        )
        for ts in range(first, end_ms, step)
        for q in CABINET_QUANTITIES
    ]


def heartbeat_points(start_ms: int, end_ms: int) -> list[Point]:
    points = []
    first = -(-start_ms // HEARTBEAT_STEP_MS) * HEARTBEAT_STEP_MS
    for gateway in GATEWAYS.values():
        outage = gateway == "gw-kien-giang-01"
        for ts in range(first, end_ms, HEARTBEAT_STEP_MS):
            if outage and OUTAGE[0] <= ts < OUTAGE[1]:
                continue
            backlog = outage and ts == OUTAGE[1]
            errors = sum(1 for t in READ_FAILURES if t <= ts) if outage else 0
            status = GatewayStatus(
                gateway=gateway,
                state="online",
                ts_ms=ts,
                uptime_s=(ts - start_ms) / 1000,
                buffer_depth=OUTAGE_BACKLOG if backlog else 0,
                oldest_unsent_age_s=(OUTAGE[1] - OUTAGE[0]) / 1000 if backlog else None,
                device_errors={"level": errors},
                clock_synced=not (gateway == "gw-dong-hoi-01" and UNSYNCED[0] <= ts <= UNSYNCED[1]),
            )
            points.append(status_point(status, ts))
        if outage and start_ms <= OUTAGE[0] < end_ms:
            points.append(status_point(GatewayStatus(gateway=gateway, state="offline"), OUTAGE[0] + 120_000))
    return points


def warning_points(start_ms: int, end_ms: int) -> list[Point]:
    levels = load_alarm_levels(SHIPPED_ALARM_LEVELS)
    book = load_rulebook(SHIPPED_RULES, levels)
    series = load_csv((LEVEL_CSV, RAIN_CSV), start_ms, end_ms)
    wanted = {rule.sensor for rule in book.rules if hasattr(rule, "sensor")}
    transitions = replay(book, levels, {s: v for s, v in series.items() if s in wanted or not wanted}, start_ms, end_ms)
    describe = RuleBookEvaluator(book, levels)
    return [warning_point(describe.to_warning(t)) for t in transitions]


def fill_rollups(influx: InfluxV1, storage: StorageConfig, start_ms: int, end_ms: int) -> None:
    """Each rollup's CQ query run once over [start, end), as README's "Storage layout" says."""
    for rollup in storage.rollups:
        select = rollup_select(influx.database, rollup)
        head, group = select.split(" GROUP BY ")
        influx.execute(f"{head} WHERE time >= {start_ms}ms AND time < {end_ms}ms GROUP BY {group}")


def load_replay(influx: InfluxV1, start: datetime, end: datetime, batch: int = 20_000) -> ReplayLoad:
    start_ms, end_ms = _ms(start), _ms(end)
    storage = StorageConfig()
    apply_storage_layout(influx, storage)
    readings = recorded_points(start_ms, end_ms) + cabinet_points(start_ms, end_ms)
    warnings = warning_points(start_ms, end_ms)
    points = readings + warnings + heartbeat_points(start_ms, end_ms)
    for i in range(0, len(points), batch):
        influx.write(points[i : i + batch])
    fill_rollups(influx, storage, start_ms, end_ms)
    write_reference(influx, load_network(), load_alarm_levels(SHIPPED_ALARM_LEVELS))
    return ReplayLoad(start_ms, end_ms, len(readings), len(warnings))

"""The rule service across restarts, against the real Mosquitto and InfluxDB.

State and outbox live in SQLite (rules/store.py): a restart neither repeats a
transition nor misses one, including the windowed history of a rain rule;
warnings decided before a failed delivery go out after the restart, once; and a
failed state commit (a full disk) is decided again when the message is retried.
"""

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from centre.influx import InfluxV1
from devstack.centre_influx import service_influx
from devstack.services import InfluxDB, Mosquitto
from rules.service import RulesService
from rules.service_config import RulesServiceConfig
from rules.store import StateStore
from tests.rules.live_harness import WarningWire
from wire_contract import Quality, Reading

T0 = 1_602_086_400_000  # 2020-10-07T23:00+07:00
H = 3_600_000
RULES = """
rules:
  - {name: level, station: le_thuy, sensor: le_thuy.level, levels: le_thuy}
  - name: rain24
    kind: rainfall
    station: le_thuy
    sensor: le_thuy.rain
    window: 24h
    categories: [{name: moderate, over_mm: 15}, {name: heavy, over_mm: 50}, {name: very heavy, over_mm: 100}]
"""


def reading(sensor: str, hour: int, value: float) -> Reading:
    quantity, unit = ("rain", "mm") if "rain" in sensor else ("water_level", "m")
    return Reading(
        sensor=sensor, station="le_thuy", quantity=quantity, unit=unit, value=value, ts_ms=T0 + hour * H,
        quality=Quality.good,
    )  # fmt: skip


def received_ids(wire: WarningWire, count: int) -> list[str]:
    """The warning ids received once `count` have arrived, and a repeat has had time to follow."""
    wire.wait_for_count(count)
    time.sleep(0.3)  # a repeat is the absence of an event: given the time a delivery takes here
    with wire.changed:
        return [w.warning_id for w in wire.received]


@pytest.fixture
def wire(mosquitto: Mosquitto, unique_name: str) -> Iterator[WarningWire]:
    wire = WarningWire(mosquitto, unique_name)
    yield wire
    wire.close()


def config(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB, db: InfluxV1, name: str, url: str | None = None
) -> RulesServiceConfig:
    """The rule service writing as `writer` to `db` (or to `url`: an InfluxDB that is not there)."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    influx = service_influx(influxdb, "writer", db.database) | ({"url": url} if url else {})
    return RulesServiceConfig.model_validate(
        {
            "broker": mosquitto.broker_config("rules", f"{name}-rules"),
            "influx": influx,
            "rules_path": rules,
            "state_path": tmp_path / "state.sqlite",
            "tick_s": 0,
        }
    )


def start(cfg: RulesServiceConfig) -> RulesService:
    """Start a service; `start` returns once the broker granted the subscription."""
    service = RulesService(cfg).start()
    assert service.consumer.connected.is_set()
    return service


def stored_ids(db: InfluxV1) -> list[str]:
    ids = []
    for series in db.query("SELECT warning_id FROM warning"):
        column = series["columns"].index("warning_id")
        ids += [row[column] for row in series["values"]]
    return ids


A_IDS = [
    f"level:le_thuy.level:{T0 + H}:0->1",
    f"rain24:le_thuy.rain:{T0}:0->1",
    f"rain24:le_thuy.rain:{T0 + H}:1->2",
]
B_IDS = [f"level:le_thuy.level:{T0 + 2 * H}:1->2", f"rain24:le_thuy.rain:{T0 + 2 * H}:2->3"]


def test_restart_neither_repeats_nor_misses(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB, influx_db: InfluxV1, wire: WarningWire, unique_name: str
) -> None:
    cfg = config(tmp_path, mosquitto, influxdb, influx_db, unique_name)
    first = [reading("le_thuy.level", 0, 1.0), reading("le_thuy.level", 1, 1.3)]
    first += [reading("le_thuy.rain", 0, 30.0), reading("le_thuy.rain", 1, 30.0)]
    service = start(cfg)
    try:
        wire.send(*first)
        assert sorted(received_ids(wire, 3)) == sorted(A_IDS)
    finally:
        service.stop()

    # While the service is down: new readings, then the first batch again (a gateway
    # resend, now late). 2.3 m is BĐ1 -> BĐ2 only for a service that remembers BĐ1, and
    # 50 mm at 2 h is "very heavy" only with the 60 mm before it in the 24 h window.
    wire.send(reading("le_thuy.level", 2, 2.3), reading("le_thuy.rain", 2, 50.0))
    wire.send(*first)
    service = start(cfg)
    try:
        received = received_ids(wire, 5)
    finally:
        service.stop()
    assert sorted(received) == sorted(A_IDS + B_IDS)
    assert sorted(stored_ids(influx_db)) == sorted(A_IDS + B_IDS)
    assert saved_carry(cfg.state_path, "level")[1] == 2  # the level rule at BĐ2


def saved_carry(path: Path, rule: str) -> list[float]:
    saved = StateStore.read(path)
    assert saved is not None
    return [float(x) for x in saved.carries[rule]]


def test_warnings_decided_before_a_failed_delivery_go_out_after_restart(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB, influx_db: InfluxV1, wire: WarningWire, unique_name: str
) -> None:
    # InfluxDB unreachable: the state and the warnings are committed, delivery fails.
    down = config(tmp_path, mosquitto, influxdb, influx_db, unique_name, url="http://127.0.0.1:9")
    service = start(down)
    try:
        wire.send(reading("le_thuy.level", 0, 1.0), reading("le_thuy.level", 1, 2.8))
        deadline = time.monotonic() + 10
        while service.consumer.failed_attempts == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        service.stop()
    assert service.consumer.failed_attempts > 0 and wire.received == []
    assert StateStore(down.state_path).outbox_size() == 1  # decided, kept until delivered

    service = start(config(tmp_path, mosquitto, influxdb, influx_db, unique_name))
    try:
        received = received_ids(wire, 1)
    finally:
        service.stop()
    expected = [f"level:le_thuy.level:{T0 + H}:0->3"]
    assert received == expected
    assert stored_ids(influx_db) == expected
    assert StateStore(down.state_path).outbox_size() == 0  # delivered: pruned


def test_a_failed_state_commit_is_decided_again_on_the_retry(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB, influx_db: InfluxV1, wire: WarningWire, unique_name: str
) -> None:
    service = start(config(tmp_path, mosquitto, influxdb, influx_db, unique_name))
    commit = service.store.commit
    failures = []

    def full_disk_once(*args: object) -> None:
        if not failures:
            failures.append(1)
            raise sqlite3.OperationalError("database or disk is full")
        commit(*args)  # type: ignore[arg-type]

    service.store.commit = full_disk_once  # type: ignore[method-assign]
    try:
        # The consumer retries the unacknowledged message; the reading must not then count as late.
        wire.send(reading("le_thuy.level", 0, 1.0), reading("le_thuy.level", 1, 2.8))
        received = received_ids(wire, 1)
    finally:
        service.stop()
    assert failures and service.consumer.failed_attempts == 1
    expected = [f"level:le_thuy.level:{T0 + H}:0->3"]
    assert received == expected
    assert stored_ids(influx_db) == expected
    assert saved_carry(tmp_path / "state.sqlite", "level")[1] == 3


def test_a_silent_gauge_raises_a_data_warning_on_the_tick(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB, influx_db: InfluxV1, wire: WarningWire, unique_name: str
) -> None:
    rules = tmp_path / "silent.yaml"
    rules.write_text(
        "rules:\n  - {name: silent, kind: staleness, station: le_thuy, sensor: le_thuy.level, max_silence: 2h}\n"
    )
    cfg = RulesServiceConfig.model_validate(
        {
            "broker": mosquitto.broker_config("rules", f"{unique_name}-rules"),
            "influx": service_influx(influxdb, "writer", influx_db.database),
            "rules_path": rules,
            "tick_s": 0,
        }
    )
    service = start(cfg)
    try:
        wire.send(reading("le_thuy.level", 0, 1.0))
        deadline = time.monotonic() + 10
        while service.consumer.handled_messages == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        service.tick(T0 + H)  # silent for 1 h: nothing yet
        service.tick(T0 + 3 * H)  # silent for 3 h: stale since 2 h
        received = received_ids(wire, 1)
    finally:
        service.stop()
    assert received == [f"silent:le_thuy.level:{T0 + 2 * H}:0->1"]
    rows = influx_db.query("SELECT data_warning, kind FROM warning")
    assert rows[0]["values"][0][1:] == [True, "staleness"]

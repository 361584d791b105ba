"""Retention policies and rollups on the real InfluxDB: the continuous query fills the
rollup with what the raw readings say, and re-applying the layout is harmless."""

import time
from pathlib import Path

import pytest

from centre.influx import InfluxUnauthorised, InfluxV1
from devstack.centre_influx import ingest_influx
from devstack.services import InfluxDB, Mosquitto
from ingest import IngestConfig, IngestService
from ingest.config import RollupConfig, StorageConfig
from ingest.storage import apply_storage_layout


def _cqs(influx: InfluxV1) -> dict[str, str]:
    return {
        row[0]: row[1]
        for series in influx.query("SHOW CONTINUOUS QUERIES")
        if series["name"] == influx.database
        for row in series.get("values", [])
    }


def test_layout_is_idempotent_and_follows_the_config(influxdb: InfluxDB, influx_db: InfluxV1) -> None:
    storage = StorageConfig(raw_retention="INF", rollups=[RollupConfig(interval="1h", retention="520w")])
    with pytest.raises(InfluxUnauthorised, match="403"):
        apply_storage_layout(influx_db, storage)  # the writer may not: an administrator lays it out
    admin = influxdb.client("admin", influx_db.database)
    apply_storage_layout(admin, storage)
    apply_storage_layout(admin, storage)
    rps = {row[0]: row[1] for row in admin.query("SHOW RETENTION POLICIES")[0]["values"]}
    assert rps["autogen"] == "0s" and rps["rollup_1h"] == "87360h0m0s"
    assert list(_cqs(admin)) == ["cq_rollup_1h"]
    changed = StorageConfig(rollups=[RollupConfig(interval="1h", retention="INF", resample_for="12h")])
    apply_storage_layout(admin, changed)
    assert "FOR 12h" in _cqs(admin)["cq_rollup_1h"]
    assert {row[0]: row[1] for row in admin.query("SHOW RETENTION POLICIES")[0]["values"]}["rollup_1h"] == "0s"
    admin.close()


def test_the_continuous_query_rolls_up_raw_readings(
    mosquitto: Mosquitto, influxdb: InfluxDB, unique_name: str, tmp_path: Path, gateway_load, stored, wait_for
) -> None:  # type: ignore[no-untyped-def]
    # Minute rollups recomputed every second (the devstack InfluxDB runs CQs every 1 s).
    storage = StorageConfig(rollups=[RollupConfig(interval="1m", resample_every="1s", resample_for="10m")])
    config = IngestConfig.model_validate(
        {
            "broker": mosquitto.broker_config("ingest", f"ingest-{unique_name}"),
            # The administrator lays out the rollups ingest's config names (the writer may not).
            "influx": ingest_influx(influxdb, unique_name.replace("-", "_"), storage),
            "storage": storage.model_dump(),
            "dead_letter_file": str(tmp_path / "dl.jsonl"),
        }
    )
    service = IngestService(config).start()
    try:
        assert service.consumer.connected.wait(10)
        t0 = (time.time_ns() // 1_000_000 // 60_000 - 6) * 60_000  # six whole minutes ago
        load = gateway_load(gateways=2, batches=12, readings=20, t0_ms=t0).start()  # 240 s of readings per sensor
        load.join()
        wait_for(lambda: stored(service.influx)[0] == load.total_readings, 30, "raw readings")
        aggregates = 'mean("value"), min("value"), max("value"), sum("value"), count("value")'
        window = f"time >= {t0}ms AND time < {t0 + 240_000}ms"
        raw = service.influx.query(f'SELECT {aggregates} FROM "water_level" WHERE {window} GROUP BY time(1m), "sensor"')

        def rollup() -> list[dict[str, object]]:
            return service.influx.query(
                f'SELECT "mean", "min", "max", "sum", "count", "station", "gateway" FROM "rollup_1m"."water_level" '
                f'WHERE {window} GROUP BY "sensor"'
            )

        wait_for(lambda: sum(len(s["values"]) for s in rollup()) == 2 * 4, 30, "the CQ to fill the rollup")
        expected = {s["tags"]["sensor"]: [row for row in s["values"]] for s in raw}
        got = {s["tags"]["sensor"]: [row[:6] for row in s["values"]] for s in rollup()}  # type: ignore[index]
        assert got.keys() == expected.keys() == {f"{load.gateway(0)}.level", f"{load.gateway(1)}.level"}
        for sensor, rows in expected.items():
            assert got[sensor] == [pytest.approx(row) for row in rows]
            assert all(row[5] == 60 for row in rows)  # one reading a second, whole minutes
        tags = {tuple(row[6:]) for s in rollup() for row in s["values"]}  # type: ignore[index]
        assert tags == {(f"{load.gateway(i)}-st", load.gateway(i)) for i in range(2)}  # tags kept
        assert stored(service.influx)[0] == load.total_readings  # the raw record stays
    finally:
        service.stop()

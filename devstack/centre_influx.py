"""The `influx:` sections of the centre services' configs, for an InfluxDB devstack started.

As in production: an administrator creates the database, grants the accounts their rights
and lays out ingest's retention policies and continuous queries once; then ingest and the
rule service write as `writer`, the IOC app and dashboards read as `reader`. The demo and
the tests build their configs here, so both prove those two accounts are enough.
"""

from typing import Any

from devstack.services import InfluxDB
from ingest.config import StorageConfig
from ingest.storage import apply_storage_layout


def prepare_database(influxdb: InfluxDB, database: str, storage: StorageConfig | None = None) -> None:
    """The administrator's part: the database, the grants, and ingest's storage layout."""
    influxdb.grant(database)
    storage = storage or StorageConfig()
    if storage.manage:
        admin = influxdb.client("admin", database)
        try:
            apply_storage_layout(admin, storage)
        finally:
            admin.close()


def ingest_influx(influxdb: InfluxDB, database: str, storage: StorageConfig | None = None) -> dict[str, Any]:
    """Ingest's `influx:` section: the database prepared, the writer's account, which may
    not create databases or retention policies (so `create_database: false`)."""
    prepare_database(influxdb, database, storage)
    return influxdb.influx_config("writer", database) | {"create_database": False}


def service_influx(influxdb: InfluxDB, account: str, database: str) -> dict[str, Any]:
    """The `influx:` section of the rule service (`writer`) or the IOC app (`reader`)."""
    influxdb.grant(database)
    return influxdb.influx_config(account, database)

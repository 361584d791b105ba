"""The centre's ingest: MQTT telemetry -> validated -> InfluxDB (v1 HTTP API)."""

from centre.influx import InfluxRejected, InfluxUnavailable, InfluxV1
from ingest.config import IngestConfig, load_ingest_config
from ingest.service import IngestService

__all__ = ["InfluxRejected", "InfluxUnavailable", "InfluxV1", "IngestConfig", "IngestService", "load_ingest_config"]

"""Ingest configuration (typed; `floodwatch-ingest --config ingest.yaml`)."""

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from typed_config import load_yaml_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrokerConfig(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    client_id: Annotated[str, Field(min_length=1, max_length=64)] = "floodwatch-ingest-1"
    # With a group name, workers share the telemetry through `$share/<group>/...`.
    shared_group: Annotated[str, Field(pattern=r"^[a-z0-9_-]+$")] | None = None


class InfluxConfig(_Strict):
    url: str = "http://127.0.0.1:8086"
    database: str = "floodwatch"
    # InfluxDB 2.x/3: a token with write access; the database maps to a bucket.
    token: str | None = None
    create_database: bool = True
    timeout_ms: Annotated[int, Field(ge=100, le=120_000)] = 10_000


class IngestConfig(_Strict):
    broker: BrokerConfig = BrokerConfig()
    influx: InfluxConfig = InfluxConfig()
    max_batch_messages: Annotated[int, Field(ge=1, le=10_000)] = 100
    flush_ms: Annotated[int, Field(ge=0, le=60_000)] = 200
    dead_letter_file: Path = Path("deadletter.jsonl")


def load_ingest_config(path: Path) -> IngestConfig:
    return load_yaml_model(path, IngestConfig)

"""Ingest configuration (typed; `floodwatch-ingest --config ingest.yaml`)."""

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from centre.config import BrokerConfig, InfluxConfig
from typed_config import load_yaml_model
from wire_contract.topics import GATEWAY_ID_PATTERN

# InfluxQL durations as CQs and retention policies take them: 30s, 5m, 1h, 7d, 52w; INF for ever.
DURATION_PATTERN = r"^[1-9][0-9]*(s|m|h|d|w)$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestBrokerConfig(BrokerConfig):
    client_id: Annotated[str, Field(min_length=1, max_length=64)] = "floodwatch-ingest-1"
    # With a group name, workers share the telemetry through `$share/<group>/...`.
    shared_group: Annotated[str, Field(pattern=r"^[a-z0-9_-]+$")] | None = None


class IngestInfluxConfig(InfluxConfig):
    create_database: bool = True


class ValidationConfig(_Strict):
    # Allow-list of gateway ids; null accepts any id the contract allows.
    gateways: list[Annotated[str, Field(pattern=GATEWAY_ID_PATTERN)]] | None = None
    # A reading stamped further ahead than this is a broken clock.
    max_future_s: Annotated[int, Field(ge=0)] = 300
    # A reading older than this is refused; null keeps any age (backlogs, replays of past floods).
    max_age_days: Annotated[float, Field(gt=0)] | None = None


class MetricsConfig(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 9108  # 0: any free port
    # /healthz answers 503 while the broker connection is down, and once messages have
    # waited unacknowledged this long with no batch handled (InfluxDB down or hung).
    unhealthy_after_s: Annotated[float, Field(gt=0)] = 60.0


class RollupConfig(_Strict):
    interval: Annotated[str, Field(pattern=DURATION_PATTERN)] = "1h"
    # Where each interval starts after the epoch's (UTC) boundary, e.g. 13h for days that run
    # 20:00 -> 20:00 at UTC+07:00 (the rain bulletin's day); its retention policy and CQ are
    # then named after both (`rollup_1d_13h`).
    offset: Annotated[str, Field(pattern=DURATION_PATTERN)] | None = None
    retention: Annotated[str, Field(pattern=DURATION_PATTERN + "|^INF$")] = "INF"
    # The CQ recomputes the last `resample_for` every `resample_every`, so late readings count.
    resample_every: Annotated[str, Field(pattern=DURATION_PATTERN)] = "5m"
    resample_for: Annotated[str, Field(pattern=DURATION_PATTERN)] = "6h"


class StorageConfig(_Strict):
    # Create the retention policies and continuous queries at start (InfluxDB 1.x only).
    manage: bool = True
    raw_retention: Annotated[str, Field(pattern=DURATION_PATTERN + "|^INF$")] = "INF"
    rollups: list[RollupConfig] = [
        RollupConfig(interval="1h"),
        RollupConfig(interval="1d", resample_for="3d"),
        RollupConfig(interval="1d", offset="13h", resample_for="3d"),  # the 20:00 -> 20:00 (UTC+07:00) rain day
    ]


class IngestConfig(_Strict):
    broker: IngestBrokerConfig = IngestBrokerConfig()
    influx: IngestInfluxConfig = IngestInfluxConfig()
    validation: ValidationConfig = ValidationConfig()
    storage: StorageConfig = StorageConfig()
    metrics: MetricsConfig | None = None
    max_batch_messages: Annotated[int, Field(ge=1, le=10_000)] = 100
    # Receive Maximum: how many unacknowledged messages the broker may send. Mosquitto
    # 2.0.11 does not keep to it while draining a queue, so memory is bounded below.
    max_inflight_messages: Annotated[int, Field(ge=1, le=65_535)] = 1000
    # Ingest stops reading from the broker while it holds this many received, not yet
    # acknowledged messages, or this many payload bytes (the memory bound).
    max_queued_messages: Annotated[int, Field(ge=1, le=1_000_000)] = 5000
    max_queued_mb: Annotated[float, Field(gt=0, le=4096)] = 64.0
    # A dead letter keeps at most this much of the refused payload (plus its size and
    # SHA-256), so that the record, base64 and all, fits the broker's max_packet_size.
    dead_letter_max_payload_kb: Annotated[int, Field(ge=1, le=1024)] = 256
    # Seqs stored are confirmed to their gateway at most this often, one BatchAck per gateway
    # (0: after every write). Longer means fewer acks, and a reading leaves the gateway's disk later.
    ack_interval_ms: Annotated[int, Field(ge=0, le=10_000)] = 250
    # Threads that decode and write batches concurrently.
    writers: Annotated[int, Field(ge=1, le=16)] = 1
    flush_ms: Annotated[int, Field(ge=0, le=60_000)] = 200
    backoff_max_ms: Annotated[int, Field(ge=100, le=600_000)] = 30_000
    dead_letter_file: Path = Path("deadletter.jsonl")

    @model_validator(mode="after")
    def _batches_fit_in_flight(self) -> "IngestConfig":
        if self.max_batch_messages > self.max_queued_messages:
            raise ValueError(
                f"max_batch_messages ({self.max_batch_messages}) cannot exceed max_queued_messages "
                f"({self.max_queued_messages}): a batch would never fill"
            )
        if self.max_batch_messages > self.max_inflight_messages:
            raise ValueError(
                f"max_batch_messages ({self.max_batch_messages}) cannot exceed max_inflight_messages "
                f"({self.max_inflight_messages}): a batch would never fill"
            )
        return self


def load_ingest_config(path: Path) -> IngestConfig:
    return load_yaml_model(path, IngestConfig)

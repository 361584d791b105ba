"""Connection settings every centre service shares (ingest, the rule service, the IOC app).

One place for what a broker and an InfluxDB connection need, so each service's YAML
spells them the same way and a default lives once.
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrokerConfig(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    # The broker keeps each client's persistent session by this id: one per process.
    client_id: Annotated[str, Field(min_length=1, max_length=64)]
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 60


class InfluxConfig(_Strict):
    url: str = "http://127.0.0.1:8086"
    database: str = "floodwatch"
    # InfluxDB 2.x/3: a token for the v1 compatibility API; the database maps to a bucket.
    token: str | None = None
    timeout_ms: Annotated[int, Field(ge=100, le=120_000)] = 10_000

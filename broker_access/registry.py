"""The access registry: every account the broker knows, and the role that says what it may do.

    services:
      - {name: ingest, role: ingest}
      - {name: rules, role: rules}
      - {name: warnings, role: warnings}
      - {name: ioc, role: monitor}
    gateways:
      - {id: le-thuy}
      - {id: kien-giang}

A gateway's MQTT username is its gateway id, so the broker can tie it to its own topics.
"""

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from typed_config import load_yaml_model
from wire_contract.topics import GATEWAY_ID_PATTERN


class Role(StrEnum):
    INGEST = "ingest"  # reads telemetry; writes acknowledgements and dead letters
    RULES = "rules"  # reads telemetry; the only publisher of warnings
    WARNINGS = "warnings"  # reads warnings; the only publisher of gateway commands
    MONITOR = "monitor"  # the IOC app and dashboards: read everything, publish nothing
    # Tests and benchmarks that play several parts at once (a fake gateway, a subscriber to
    # everything): read and write every Floodwatch topic. Never in a production registry.
    HARNESS = "harness"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceAccount(_Strict):
    name: Annotated[str, Field(pattern=GATEWAY_ID_PATTERN)]
    role: Role


class GatewayAccount(_Strict):
    id: Annotated[str, Field(pattern=GATEWAY_ID_PATTERN)]


class AccessRegistry(_Strict):
    services: list[ServiceAccount] = []
    gateways: list[GatewayAccount] = []

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        seen: set[str] = set()
        for name in self.usernames():
            if name in seen:
                raise ValueError(f"account {name!r} appears twice (gateway ids and service names share one namespace)")
            seen.add(name)
        return self

    def usernames(self) -> list[str]:
        return [s.name for s in self.services] + [g.id for g in self.gateways]

    def gateway_ids(self) -> list[str]:
        return [g.id for g in self.gateways]

    def with_gateway(self, gateway: str) -> "AccessRegistry":
        return AccessRegistry(services=self.services, gateways=[*self.gateways, GatewayAccount(id=gateway)])

    def without_gateway(self, gateway: str) -> "AccessRegistry":
        return AccessRegistry(services=self.services, gateways=[g for g in self.gateways if g.id != gateway])


def load_registry(path: Path) -> AccessRegistry:
    return load_yaml_model(path, AccessRegistry)


def dump_registry(registry: AccessRegistry) -> str:
    return yaml.safe_dump(registry.model_dump(mode="json"), sort_keys=False)

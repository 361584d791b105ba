"""The rule service's configuration (typed; `floodwatch-rules run --config rules-service.yaml`).

Paths in the file are relative to the file. `rules/rules-service.sample.yaml` shows
every key with its default; the tests load it, so it cannot drift from these models.
"""

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from centre.config import BrokerConfig, InfluxConfig
from rules.levels import SHIPPED_ALARM_LEVELS, SHIPPED_RULES
from rules.network import SHIPPED_NETWORK
from typed_config import load_yaml_model


class RulesBrokerConfig(BrokerConfig):
    client_id: Annotated[str, Field(min_length=1, max_length=64)] = "floodwatch-rules-1"


class RulesServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    broker: RulesBrokerConfig = RulesBrokerConfig()
    influx: InfluxConfig = InfluxConfig()
    levels_path: Path = SHIPPED_ALARM_LEVELS
    rules_path: Path = SHIPPED_RULES  # a rule file (rules/rulebook.py): level rules or any kind
    # The river network: a warning from an upstream gauge says when the water arrives, and a
    # forecast rule finds the sensors its model reads in it.
    network_path: Path = SHIPPED_NETWORK
    # SQLite file for the evaluator's state and the warning outbox; null keeps them in
    # memory, so a restart starts every rule afresh.
    state_path: Path | None = None
    tick_s: Annotated[float, Field(ge=0, le=86_400)] = 30.0  # how often staleness rules are judged; 0: never
    # After the first message of a batch, wait this long for more before deciding. Each
    # warning waits this long at most; a longer window batches more under heavy load.
    batch_window_ms: Annotated[int, Field(ge=0, le=5000)] = 20
    max_batch_messages: Annotated[int, Field(ge=1, le=10_000)] = 500


def load_rules_service_config(path: Path) -> RulesServiceConfig:
    config = load_yaml_model(path, RulesServiceConfig)
    base = path.resolve().parent
    paths: dict[str, Path] = {}
    for name in ("levels_path", "rules_path", "network_path", "state_path"):
        value = getattr(config, name)
        if name in config.model_fields_set and isinstance(value, Path) and not value.is_absolute():
            paths[name] = base / value
    return config.model_copy(update=paths)

"""The rule service's YAML config: the sample loads, mistakes name file:line, paths are the file's."""

import json
import logging
from pathlib import Path

import pytest

from eventlog import JsonFormatter
from rules.levels import PACKAGE_DIR
from rules.service_config import RulesServiceConfig, load_rules_service_config
from typed_config import ConfigError

SAMPLE = PACKAGE_DIR / "rules-service.sample.yaml"


def test_the_sample_loads_and_its_paths_are_relative_to_it() -> None:
    config = load_rules_service_config(SAMPLE)
    assert config.levels_path == PACKAGE_DIR / "alarm_levels.yaml" and config.levels_path.exists()
    assert config.rules_path == PACKAGE_DIR / "rules.yaml" and config.rules_path.exists()
    assert config.broker.client_id == "floodwatch-rules-1" and config.batch_window_ms == 20
    assert config.broker.username == "rules" and config.influx.username == "writer"


def test_a_mistake_names_the_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "rules-service.yaml"
    path.write_text("broker:\n  port: 1883\nbatch_window_ms: -5\n")
    with pytest.raises(ConfigError, match=r"rules-service.yaml:3 batch_window_ms"):
        load_rules_service_config(path)


def test_defaults_without_a_file() -> None:
    assert RulesServiceConfig().state_path is None


def test_a_warning_log_record_keeps_level_for_the_log_level() -> None:
    record = logging.LogRecord("rules.service", logging.INFO, __file__, 1, "warning", None, None)
    record.__dict__.update({"event": "warning", "severity": 2, "previous_severity": 1})
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["severity"]) == ("info", 2)

from pathlib import Path

import pytest

from ingest import load_ingest_config
from typed_config import ConfigError

SAMPLE = Path(__file__).resolve().parents[2] / "ingest" / "ingest.sample.yaml"


def test_sample_config_loads() -> None:
    config = load_ingest_config(SAMPLE)
    assert config.influx.database == "floodwatch" and config.broker.shared_group is None
    # Secure as documented: TLS and a password for the broker, the writer account for InfluxDB.
    assert config.broker.tls_ca_file is not None and config.broker.username == "ingest"
    assert config.influx.username == "writer" and not config.influx.create_database


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ingest.yaml"
    path.write_text(SAMPLE.read_text().replace("flush_ms:", "flush_s:"))
    with pytest.raises(ConfigError, match=r"ingest.yaml:\d+ flush_s: Extra inputs are not permitted"):
        load_ingest_config(path)


def test_a_batch_larger_than_the_inflight_window_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ingest.yaml"
    path.write_text(SAMPLE.read_text().replace("max_batch_messages: 100 ", "max_batch_messages: 5000"))
    with pytest.raises(ConfigError, match=r"max_batch_messages \(5000\) cannot exceed max_inflight_messages \(1000\)"):
        load_ingest_config(path)


def test_rollup_durations_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "ingest.yaml"
    path.write_text(SAMPLE.read_text().replace("{interval: 1h,", "{interval: 1 hour,"))
    with pytest.raises(ConfigError, match=r"ingest.yaml:\d+ storage.rollups.0.interval: String should match pattern"):
        load_ingest_config(path)

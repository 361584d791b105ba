"""InfluxDB with authentication on (the session's, as every test's): the writer account stores
and reads, the reader only reads, nobody else gets in; ingest stores with the writer's password
from a 0600 file. The other tests of the suite run their services on these same accounts."""

from pathlib import Path

import pytest

from centre.config import InfluxConfig
from centre.influx import InfluxUnauthorised, InfluxV1
from centre.line_protocol import Point
from devstack.services import InfluxDB, Mosquitto
from ingest import IngestConfig, IngestService
from rules.levels import SHIPPED_RULES
from typed_config.secrets import SecretError
from wire_contract import Quality, Reading, TelemetryBatch, encode_telemetry, telemetry_topic


@pytest.fixture
def secure_influx(influxdb: InfluxDB) -> InfluxDB:
    assert influxdb.auth, "the session's InfluxDB must run with authentication on"
    return influxdb


@pytest.fixture
def database(influxdb: InfluxDB, unique_name: str) -> str:
    name = unique_name.replace("-", "_")
    influxdb.grant(name)
    return name


def _client(server: InfluxDB, database: str, account: str, password: str | None = None) -> InfluxV1:
    user, real = server.credentials(account)
    return InfluxV1(server.url, database, auth=(user, password or real))


def test_writer_writes_reader_reads_others_are_refused(secure_influx: InfluxDB, database: str) -> None:
    point = Point("water_level", {"sensor": "a"}, {"value": 1.25}, 1_700_000_000_000)
    writer, reader = _client(secure_influx, database, "writer"), _client(secure_influx, database, "reader")
    writer.write([point])
    assert reader.query("SELECT value FROM water_level")[0]["values"] == [[1_700_000_000_000, 1.25]]
    with pytest.raises(InfluxUnauthorised, match="403"):
        reader.write([point])  # a dashboard's account cannot change the record
    with pytest.raises(InfluxUnauthorised, match="401"):
        InfluxV1(secure_influx.url, database).query("SELECT value FROM water_level")  # anonymous
    with pytest.raises(InfluxUnauthorised, match="401"):
        _client(secure_influx, database, "writer", "guessed").write([point])
    with pytest.raises(InfluxUnauthorised, match="403"):
        reader.execute(f'DROP DATABASE "{database}"')
    with pytest.raises(InfluxUnauthorised, match="403"):
        writer.execute(f'DROP DATABASE "{database}"')  # nor may the services' account


def test_a_password_file_others_can_read_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "writer.password"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    config = InfluxConfig(username="writer", password={"file": secret})  # type: ignore[arg-type]
    with pytest.raises(SecretError, match="mode 0644 lets others read it; `chmod 600"):
        config.client()
    secret.chmod(0o600)
    assert config.credentials() == ("writer", "s3cret")


def test_ingest_stores_with_the_writer_account(  # type: ignore[no-untyped-def]
    secure_influx: InfluxDB, database: str, mosquitto: Mosquitto, unique_name: str, tmp_path: Path, wait_for
) -> None:
    config = IngestConfig.model_validate(
        {
            "broker": mosquitto.broker_config("ingest", f"ingest-{unique_name}"),
            # The writer may not create databases or retention policies: an admin did (`grant`).
            "influx": secure_influx.influx_config("writer", database) | {"create_database": False},
            "validation": {"max_age_days": 36500},
            "dead_letter_file": str(tmp_path / "dl.jsonl"),
        }
    )
    service = IngestService(config).start()
    publisher = mosquitto.client("harness", f"pub-{unique_name}")
    publisher.connect("127.0.0.1", mosquitto.port)
    publisher.loop_start()
    try:
        assert service.consumer.connected.wait(10)
        gateway = f"gw-{unique_name}"
        reading = Reading(
            sensor=f"{gateway}.level", station="s", quantity="water_level", value=2.5, unit="m",
            ts_ms=1_700_000_100_000, quality=Quality.good,
        )  # fmt: skip
        batch = encode_telemetry(TelemetryBatch(gateway=gateway, seq=1, readings=[reading]))
        publisher.publish(telemetry_topic(gateway), batch, qos=1).wait_for_publish(10)
        wait_for(lambda: service.points_written == 1, 20, "the reading stored")
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        service.stop()
    series = _client(secure_influx, database, "reader").query(
        f"SELECT value FROM water_level WHERE sensor = '{gateway}.level'"
    )
    assert series[0]["values"] == [[1_700_000_100_000, 2.5]]


def test_a_backtest_from_influxdb_needs_the_reader_account(
    secure_influx: InfluxDB, database: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from rules.cli import app as rules_app

    args = ["backtest", str(SHIPPED_RULES), "--from", "2020-10-01", "--to", "2020-10-02", "--out", str(tmp_path)]
    args += ["--influx-url", secure_influx.url, "--influx-database", database]
    refused = CliRunner().invoke(rules_app, args)
    assert refused.exit_code == 2 and "401" in refused.output, refused.output
    reader = CliRunner().invoke(
        rules_app,
        [*args, "--influx-username", "reader", "--influx-password-file", str(secure_influx.secret_path("reader"))],
    )
    assert "no readings between 2020-10-01 and 2020-10-02 in InfluxDB" in reader.output, reader.output  # let in

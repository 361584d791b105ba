"""`floodwatch-rules validate`, `test` and `backtest`, run as a rule author runs them."""

import csv
from pathlib import Path

from typer.testing import CliRunner

from centre.influx import InfluxV1
from centre.line_protocol import Point
from devstack.services import InfluxDB
from rules.cli import CSV_FILES, app

EXAMPLES = Path(__file__).resolve().parents[2] / "rules" / "examples"
runner = CliRunner()


def test_validate_accepts_the_examples() -> None:
    result = runner.invoke(app, ["validate", str(EXAMPLES / "hue.yaml"), str(EXAMPLES / "quang_binh.yaml")])
    assert result.exit_code == 0, result.output
    assert "hue.yaml: 14 rules OK" in result.output


def test_validate_names_sensors_that_do_not_exist_or_measure_something_else(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - {name: a, station: le_thuy, sensor: le_thuy.levl, levels: le_thuy}\n"
        "  - {name: b, kind: rainfall, station: le_thuy, sensor: le_thuy.level, window: 24h,"
        " categories: [{name: x, over_mm: 1}]}\n"
        "  - {name: c, kind: rainfall, station: le_thuy, sensor: le_thuy.rain_hour, window: 24h,"
        " categories: [{name: x, over_mm: 1}]}\n"
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "rule 'a': sensor 'le_thuy.levl' does not exist" in result.output
    assert "rule 'b' (rainfall) reads rain, but sensor 'le_thuy.level' measures water_level" in result.output
    # a gauge's running hourly sum is not rain since the previous reading: summing it would count it again and again
    assert "rule 'c' (rainfall) reads rain, but sensor 'le_thuy.rain_hour' measures rain_this_hour" in result.output


def test_author_tests_pass_and_a_wrong_expectation_fails(tmp_path: Path) -> None:
    result = runner.invoke(app, ["test", str(EXAMPLES / "quang_binh.test.yaml"), str(EXAMPLES / "hue.test.yaml")])
    assert result.exit_code == 0, result.output
    assert result.output.count("PASS") >= 5
    wrong = (
        (EXAMPLES / "quang_binh.test.yaml")
        .read_text()
        .replace("{at: 2h, rule: le_thuy_level, from: 1, to: 2}", "{at: 2h, rule: le_thuy_level, from: 1, to: 3}")
    )
    (tmp_path / "quang_binh.yaml").write_text((EXAMPLES / "quang_binh.yaml").read_text())
    (tmp_path / "wrong.test.yaml").write_text(wrong)
    result = runner.invoke(app, ["test", str(tmp_path / "wrong.test.yaml")])
    assert result.exit_code == 1
    assert "FAIL wrong.test.yaml: Lệ Thủy rises through BĐ1 and BĐ2" in result.output


def backtest(out: Path, *extra: str) -> list[dict[str, str]]:
    args = ["backtest", str(EXAMPLES / "quang_binh.yaml"), "--from", "2020-10-06", "--to", "2020-10-16"]
    result = runner.invoke(app, [*args, "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    with (out / "transitions.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_backtest_from_csv_reports_the_october_flood(tmp_path: Path) -> None:
    rows = backtest(tmp_path)
    level = [(r["time_local"], r["from"], r["to"]) for r in rows if r["rule"] == "le_thuy_level"]
    # The first flood of October 2020 at Lệ Thủy, as the data crosses 1.20 / 2.20 / 2.70 m.
    assert level[:3] == [("2020-10-07 22:00", "0", "1"), ("2020-10-08 06:00", "1", "2"), ("2020-10-08 08:00", "2", "3")]
    report = (tmp_path / "report.md").read_text()
    assert "BĐ3: 2 crossings, 2 hits, 0 misses" in report
    assert "Times in Asia/Ho_Chi_Minh." in report and "## Lead time by rule kind" in report
    png = (tmp_path / "hydrograph.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 50_000


def test_backtest_from_influxdb_decides_what_the_csv_backtest_decides(
    tmp_path: Path, influxdb: InfluxDB, influx_db: InfluxV1
) -> None:
    """The CSV history written in ingest's storage layout, replayed from InfluxDB as `reader`."""
    from rules.backtest import load_csv

    series = load_csv(CSV_FILES, 1_601_830_800_000, 1_602_867_600_000)  # 2020-10-05 .. 10-17 local
    points = [
        Point(
            "rain" if sensor.endswith(".rain") else "water_level",
            {"station": sensor.split(".")[0], "sensor": sensor, "gateway": "replay"},
            {"value": value, "quality": "good"},
            ts_ms,
        )
        for sensor, (ts, vals) in series.items()
        for ts_ms, value in zip(ts, vals, strict=True)
    ]
    influx_db.write(points)
    from_csv = backtest(tmp_path / "csv")
    reader = ["--influx-username", "reader", "--influx-password-file", str(influxdb.secret_path("reader"))]
    database = ["--influx-url", influx_db.url, "--influx-database", influx_db.database]
    from_influx = backtest(tmp_path / "influx", *database, *reader)
    assert len(from_csv) > 50
    assert from_influx == from_csv

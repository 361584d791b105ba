"""`floodwatch-rules`: validate, test and backtest rule files, and run them live."""

import signal
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from eventlog import setup_logging
from rules.authoring import run_test_file
from rules.inventory import SHIPPED_SENSORS, check_rulebook, load_inventory, quantity_for
from rules.levels import PACKAGE_DIR, SHIPPED_ALARM_LEVELS, SHIPPED_RULES, load_alarm_levels
from rules.rulebook import LevelKind, load_rulebook
from rules.service import RulesService
from rules.service_config import RulesServiceConfig, load_rules_service_config
from typed_config import ConfigError

app = typer.Typer(help="Floodwatch rules: flood warnings from river levels.", no_args_is_help=True)


@app.callback()
def _commands() -> None:
    """Floodwatch rules: flood warnings from river levels."""


@app.command()
def check(
    levels_path: Path = typer.Option(SHIPPED_ALARM_LEVELS, "--levels", help="alarm levels (YAML)"),
    rules_path: Path = typer.Option(SHIPPED_RULES, "--rules", help="level rules (YAML)"),
) -> None:
    """Validate alarm_levels.yaml and rules.yaml; print what each rule will watch."""
    try:
        levels = load_alarm_levels(levels_path)
        book = load_rulebook(rules_path, levels)
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    for rule in book.rules:
        if not isinstance(rule, LevelKind):
            typer.echo(f"{rule.name}: {rule.kind}")
            continue
        versions = levels.versions(rule.levels)
        typer.echo(f"{rule.name}: {rule.sensor} -> {versions[0].display_name} ({versions[0].river}), BĐ1/2/3")
        for version in versions:
            typer.echo(
                f"    {version.bd1_m:.2f}/{version.bd2_m:.2f}/{version.bd3_m:.2f} m "
                f"from {version.effective_from.isoformat()}"
            )


@app.command()
def run(
    config_path: Path | None = typer.Option(None, "--config", help="rule service config (YAML); defaults without"),
    log_level: str = "INFO",
) -> None:
    """Evaluate telemetry live; publish warnings to MQTT and write them to InfluxDB."""
    setup_logging(log_level)
    try:
        config = load_rules_service_config(config_path) if config_path else RulesServiceConfig()
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    try:
        service = RulesService(config).start()
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    service.stop()


LOCAL = timezone(timedelta(hours=7))
DATA_DIR = PACKAGE_DIR.parent / "data"
CSV_FILES = [DATA_DIR / "quangbinh_2020_level_observed.csv", DATA_DIR / "quangbinh_2020_rain_hourly.csv"]


@app.command()
def validate(
    rule_files: list[Path] = typer.Argument(..., help="rule files (YAML)"),
    levels_path: Path = typer.Option(SHIPPED_ALARM_LEVELS, "--levels", help="alarm levels (YAML)"),
    sensors_path: Path = typer.Option(SHIPPED_SENSORS, "--sensors", help="the sensors that exist (YAML)"),
) -> None:
    """Check rule files: their form, then their sensors and stations against those that exist."""
    failed = False
    try:
        levels = load_alarm_levels(levels_path)
        inventory = load_inventory(sensors_path)
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    for path in rule_files:
        try:
            book = load_rulebook(path, levels)
        except ConfigError as error:
            typer.echo(str(error), err=True)
            failed = True
            continue
        problems = check_rulebook(book, inventory)
        for problem in problems:
            typer.echo(f"{path}: {problem}", err=True)
        failed |= bool(problems)
        if not problems:
            kinds = sorted({rule.kind for rule in book.rules})
            typer.echo(f"{path}: {len(book.rules)} rules OK ({', '.join(kinds)})")
    if failed:
        raise typer.Exit(1)


@app.command("test")
def test_rules(test_files: list[Path] = typer.Argument(..., help="rule test files (YAML)")) -> None:
    """Run rule unit tests: a small series in, the expected transitions out."""
    failures = 0
    for path in test_files:
        try:
            results = run_test_file(path)
        except ConfigError as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(2) from None
        for result in results:
            typer.echo(f"{'PASS' if result.passed else 'FAIL'} {path.name}: {result.name}")
            if not result.passed:
                failures += 1
                typer.echo(f"  expected (at ms, rule, from, to): {result.expected}")
                typer.echo(f"  got:                              {result.got}")
    if failures:
        typer.echo(f"{failures} failed", err=True)
        raise typer.Exit(1)


def _when(text: str) -> int:
    """'2020-10-01' or an ISO time; without a zone, local time (UTC+07:00)."""
    moment = datetime.fromisoformat(text)
    return int((moment if moment.tzinfo else moment.replace(tzinfo=LOCAL)).timestamp() * 1000)


@app.command()
def backtest(
    rule_file: Path = typer.Argument(..., help="rule file (YAML)"),
    start: str = typer.Option(..., "--from", help="start, e.g. 2020-10-01 (local time unless a zone is given)"),
    end: str = typer.Option(..., "--to", help="end (exclusive)"),
    out_dir: Path = typer.Option(Path("backtest"), "--out", help="where report.md, transitions.csv, hydrograph.png go"),
    csv_files: list[Path] = typer.Option(CSV_FILES, "--csv", help="CSV history (time,station,level_m|rain_mm)"),
    influx_url: str | None = typer.Option(None, help="replay from InfluxDB instead of CSV"),
    influx_database: str = "floodwatch",
    sensors_path: Path = typer.Option(SHIPPED_SENSORS, "--sensors", help="sensor -> quantity (for InfluxDB)"),
    levels_path: Path = typer.Option(SHIPPED_ALARM_LEVELS, "--levels"),
    lead_window_h: float = typer.Option(24.0, help="how early a warning may come and still count for a crossing"),
) -> None:
    """Replay history through the rules (same kernels as live) and score them against the official crossings."""
    from centre.influx import InfluxV1
    from rules.backtest import load_csv, load_influx, replay, score
    from rules.report import hydrograph, summary_lines, write_markdown, write_transitions_csv

    console = Console(stderr=True)
    try:
        levels = load_alarm_levels(levels_path)
        book = load_rulebook(rule_file, levels)
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    start_ms, end_ms = _when(start), _when(end)
    if influx_url:
        inventory = load_inventory(sensors_path)
        measurements = {}
        for rule in book.rules:
            for sensor in rule.sensors():
                entry = inventory.get(sensor)
                measurements[sensor] = entry.quantity if entry else (quantity_for(rule) or "water_level")
        influx = InfluxV1(influx_url, influx_database)
        try:
            series = load_influx(influx, measurements, start_ms, end_ms)
        finally:
            influx.close()
        source = f"InfluxDB {influx_url} database {influx_database}"
    else:
        series = load_csv(csv_files, start_ms, end_ms)
        source = ", ".join(path.name for path in csv_files)
    used = {sensor for rule in book.rules for sensor in rule.sensors()}
    series = {sensor: data for sensor, data in series.items() if sensor in used}
    total = sum(len(ts) for ts, _ in series.values())
    if total == 0:
        typer.echo(f"no readings of the rule file's sensors ({sorted(used)}) between {start} and {end}", err=True)
        raise typer.Exit(1)
    columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TextColumn("readings"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("replay", total=total)
        transitions = replay(book, levels, series, start_ms, end_ms, lambda done: progress.advance(task, done))
    result = score(book, levels, series, transitions, int(lead_window_h * 3_600_000))
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"Backtest of {rule_file.name}, {start} to {end} ({source}; {total} readings)"
    png = out_dir / "hydrograph.png"
    hydrograph(png, book, levels, series, transitions, title)
    write_transitions_csv(out_dir / "transitions.csv", transitions)
    write_markdown(out_dir / "report.md", title, book, transitions, result, png)
    for line in summary_lines(book, transitions, result):
        typer.echo(line)
    typer.echo(f"report: {out_dir / 'report.md'}; plot: {png}; transitions: {out_dir / 'transitions.csv'}")
    sys.stdout.flush()


def main() -> None:
    app()

"""`floodwatch-rules`: validate, test and backtest rule files, and run them live."""

import signal
import sys
import threading
import time
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from centre.config import http_url
from eventlog import LogLevel, setup_logging
from rules.authoring import run_test_file
from rules.inventory import SHIPPED_SENSORS, check_rulebook, load_inventory, quantity_of
from rules.levels import PACKAGE_DIR, SHIPPED_ALARM_LEVELS, SHIPPED_RULES, load_alarm_levels
from rules.network import SHIPPED_NETWORK, load_network
from rules.rulebook import LevelKind, load_rulebook
from rules.service import RulesService
from rules.service_config import RulesServiceConfig, load_rules_service_config
from typed_config import ConfigError
from typed_config.secrets import SecretError, read_secret_file

LogLevelOption = typer.Option(LogLevel.INFO, case_sensitive=False)  # another level: exit 2, no traceback

app = typer.Typer(help="Floodwatch rules: flood warnings from river levels.", no_args_is_help=True)


@app.callback()
def _commands() -> None:
    """Floodwatch rules: flood warnings from river levels."""


@app.command()
def check(
    levels_path: Path = typer.Option(SHIPPED_ALARM_LEVELS, "--levels", help="alarm levels (YAML)"),
    rules_path: Path = typer.Option(SHIPPED_RULES, "--rules", help="level rules (YAML)"),
    network_path: Path = typer.Option(SHIPPED_NETWORK, "--network", help="the river network (YAML)"),
) -> None:
    """Validate alarm_levels.yaml, rules.yaml and network.yaml; print what each rule will watch."""
    try:
        levels = load_alarm_levels(levels_path)
        network = load_network(network_path)
        book = load_rulebook(rules_path, levels, network)
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
    for station in network.stations:
        upstream = ", ".join(f"{link.station} ({link.travel_h:g} h)" for link in station.upstream) or "none"
        typer.echo(
            f"{station.station}: {station.display_name} ({station.river}) at {station.lat:.4f}, {station.lon:.4f} "
            f"{station.time_zone}; upstream: {upstream}; rain gauges: {', '.join(station.rain_gauges) or 'none'}"
        )


@app.command()
def run(
    config_path: Path | None = typer.Option(None, "--config", help="rule service config (YAML); defaults without"),
    log_level: LogLevel = LogLevelOption,
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
    except (ConfigError, SecretError) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    service.stop()


DATA_DIR = PACKAGE_DIR.parent / "data"
CSV_FILES = [DATA_DIR / "quangbinh_2020_level_observed.csv", DATA_DIR / "quangbinh_2020_rain_hourly.csv"]


@app.command()
def validate(
    rule_files: list[Path] = typer.Argument(..., help="rule files (YAML)"),
    levels_path: Path = typer.Option(SHIPPED_ALARM_LEVELS, "--levels", help="alarm levels (YAML)"),
    sensors_path: Path = typer.Option(SHIPPED_SENSORS, "--sensors", help="the sensors that exist (YAML)"),
    network_path: Path = typer.Option(SHIPPED_NETWORK, "--network", help="the river network (YAML)"),
) -> None:
    """Check rule files: their form, then their sensors and stations against those that exist.

    A rule may read a sensor of a station upstream of its own, or a rain gauge of its
    catchment, when the river network says so: it warns its station before the water arrives."""
    failed = False
    try:
        levels = load_alarm_levels(levels_path)
        inventory = load_inventory(sensors_path)
        network = load_network(network_path)
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    for path in rule_files:
        try:
            book = load_rulebook(path, levels, network)
        except ConfigError as error:
            typer.echo(str(error), err=True)
            failed = True
            continue
        problems = check_rulebook(book, inventory, network)
        for problem in problems:
            typer.echo(f"{path}: {problem}", err=True)
        failed |= bool(problems)
        if not problems:
            kinds = sorted({rule.kind for rule in book.rules})
            typer.echo(f"{path}: {len(book.rules)} rules OK ({', '.join(kinds)})")
    if failed:
        raise typer.Exit(1)


@app.command("test")
def test_rules(
    test_files: list[Path] = typer.Argument(..., help="rule test files (YAML)"),
    levels_path: Path = typer.Option(SHIPPED_ALARM_LEVELS, "--levels", help="alarm levels (YAML)"),
    network_path: Path = typer.Option(SHIPPED_NETWORK, "--network", help="the river network (YAML)"),
) -> None:
    """Run rule unit tests: a small series in, the expected transitions out (the same --levels and
    --network as backtest; the network is checked, as the backtest would)."""
    failures = 0
    try:
        levels = load_alarm_levels(levels_path)
        network = load_network(network_path)
    except ConfigError as error:
        _fail(str(error))
    for path in test_files:
        try:
            results = run_test_file(path, levels, network)
        except ConfigError as error:
            _fail(str(error))
        for result in results:
            typer.echo(f"{'PASS' if result.passed else 'FAIL'} {path.name}: {result.name}")
            if not result.passed:
                failures += 1
                typer.echo(f"  expected (at ms, rule, from, to): {result.expected}")
                typer.echo(f"  got:                              {result.got}")
    if failures:
        typer.echo(f"{failures} failed", err=True)
        raise typer.Exit(1)


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


@app.command()
def backtest(
    rule_file: Path = typer.Argument(..., help="rule file (YAML)"),
    start: str = typer.Option(..., "--from", help="start, e.g. 2020-10-01 (in the stations' time zone unless given)"),
    end: str = typer.Option(..., "--to", help="end (exclusive)"),
    out_dir: Path = typer.Option(Path("backtest"), "--out", help="where report.md, transitions.csv, hydrograph.png go"),
    csv_files: list[Path] = typer.Option(CSV_FILES, "--csv", help="CSV history (time,station,level_m|rain_mm[,unit])"),
    unit_ft: bool = typer.Option(False, "--feet", help="levels in the CSV files without a unit column are in feet"),
    influx_url: str | None = typer.Option(None, help="replay from InfluxDB instead of CSV", parser=http_url),
    influx_database: str = "floodwatch",
    influx_username: str | None = typer.Option(None, help="InfluxDB with authentication: the reader account"),
    influx_password_file: Path | None = typer.Option(None, help="its password (a file of mode 0600)"),
    sensors_path: Path = typer.Option(SHIPPED_SENSORS, "--sensors", help="the sensors that exist (YAML)"),
    levels_path: Path = typer.Option(SHIPPED_ALARM_LEVELS, "--levels"),
    network_path: Path = typer.Option(SHIPPED_NETWORK, "--network", help="the river network (YAML)"),
    forecast_paths: list[Path] = typer.Option([], "--forecast", help="a calibrated forecast model (YAML), repeatable"),
) -> None:
    """Replay history through the rules (same kernels as live) and the forecasts, and score them
    against the official crossings: hits, lead times, false alarms per station-month."""
    from centre.influx import InfluxError, InfluxV1
    from rules.backtest import load_influx
    from rules.backtest_run import BacktestError, book_stations, parse_time, run_backtest, stations_zone, write_outputs
    from rules.forecast.model import load_forecast_model
    from rules.history_csv import HistoryError, read_history
    from rules.report import summary_lines

    console = Console(stderr=True)
    try:
        levels = load_alarm_levels(levels_path)
        network = load_network(network_path)
        book = load_rulebook(rule_file, levels, network)
        inventory = load_inventory(sensors_path)
        models = [load_forecast_model(path) for path in forecast_paths]
    except ConfigError as error:
        _fail(str(error))
    try:
        zone, zone_name = stations_zone(network, book_stations(book, models))
        start_ms, end_ms = parse_time(start, zone, zone_name, "--from"), parse_time(end, zone, zone_name, "--to")
        notes = []
        if influx_url:
            measurements = {}
            for rule in book.rules:
                for sensor in rule.sensors():
                    entry = inventory.get(sensor)
                    measurements[sensor] = entry.quantity if entry else (quantity_of(rule, sensor) or "water_level")
            for model in models:
                for gauge in (network.station(model.station).level_sensor, *model.rain_gauges):
                    if gauge:
                        measurements.setdefault(gauge, "rain" if gauge in model.rain_gauges else "water_level")
                for up in model.upstream:
                    if (gauge := network.station(up).level_sensor) is not None:
                        measurements.setdefault(gauge, "water_level")
            auth = None
            if influx_username is not None:
                if influx_password_file is None:
                    _fail("--influx-username needs --influx-password-file")
                auth = (influx_username, read_secret_file(influx_password_file))
            influx = InfluxV1(influx_url, influx_database, auth=auth)
            try:
                series = load_influx(influx, measurements, start_ms, end_ms)
            finally:
                influx.close()
            source = f"InfluxDB {influx_url} database {influx_database}"
        else:
            history = read_history(csv_files, start_ms, end_ms, network, unit_ft)
            series = history.series
            source = ", ".join(path.name for path in csv_files)
            notes += [f"{sensor}: {count} readings at a time already read, dropped (the first kept)"
                      for sensor, count in sorted(history.duplicates.items())]  # fmt: skip
            notes += [f"impossible jump: {jump}" for jump in history.jumps]
            if history.zoned_rows:
                notes.append(f"{history.zoned_rows} CSV times without an offset, read in their station's zone")
            if history.converted_ft:
                notes.append(f"{history.converted_ft} levels converted from feet")
        for line in notes:
            typer.echo(f"note: {line}", err=True)
        total = sum(len(ts) for ts, _ in series.values())
        if total == 0:
            _fail(f"no readings between {start} and {end} in {source}", 1)
        title = f"Backtest of {rule_file.name}, {start} to {end} ({source}; {total} readings)"
        if models:
            title += "; forecasts " + ", ".join(f"{m.station} (calibrated on {m.calibrated_on})" for m in models)
        columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TextColumn("readings"),
                   TimeElapsedColumn())  # fmt: skip
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("replay", total=total)
            result = run_backtest(book, levels, network, series, models, start_ms, end_ms, title, notes,
                                  lambda done: progress.advance(task, done))  # fmt: skip
    except (BacktestError, HistoryError, InfluxError, SecretError) as error:
        _fail(str(error))
    try:
        report = write_outputs(out_dir, result, levels)
    except OSError as error:
        _fail(f"cannot write the report into {out_dir}: {error.strerror or error}")
    for line in summary_lines(result.transitions, result.card):
        typer.echo(line)
    typer.echo(f"report: {report}; plot: {out_dir / 'hydrograph.png'}; transitions: {out_dir / 'transitions.csv'}")
    sys.stdout.flush()


@app.command()
def calibrate(
    station: str = typer.Argument(..., help="the station to forecast (in the river network)"),
    start: str = typer.Option(..., "--from", help="start of the record to fit on"),
    end: str = typer.Option(..., "--to", help="end (exclusive)"),
    out: Path = typer.Option(..., "--out", help="the model file to write (YAML)"),
    csv_files: list[Path] = typer.Option(CSV_FILES, "--csv", help="CSV history (time,station,level_m|rain_mm[,unit])"),
    unit_ft: bool = typer.Option(False, "--feet", help="levels in the CSV files without a unit column are in feet"),
    levels_path: Path = typer.Option(SHIPPED_ALARM_LEVELS, "--levels"),
    network_path: Path = typer.Option(SHIPPED_NETWORK, "--network", help="the river network (YAML)"),
    max_lag_h: int = typer.Option(24, help="the longest upstream lag tried (hours)"),
    train_above_m: float | None = typer.Option(None, help="fit only on the hours with the level at least this (m)"),
) -> None:
    """Fit a station's forecast (levels 1-12 h ahead) on the record: a search over upstream lags
    and rain windows, gains by least squares (numba). Writes the model for `backtest --forecast`."""
    import yaml

    from rules.backtest_run import BacktestError, parse_time
    from rules.forecast.calibrate import calibrate as fit_station
    from rules.history_csv import HistoryError, read_history

    try:
        levels = load_alarm_levels(levels_path)
        network = load_network(network_path)
    except ConfigError as error:
        _fail(str(error))
    if station not in network.station_ids:
        _fail(f"station {station!r} is not in the river network {network_path} (known: {network.station_ids})")
    if station not in levels.station_ids:
        _fail(f"station {station!r} has no alarm levels in {levels_path}: nothing to warn of")
    if out.is_dir() or not out.parent.is_dir():
        _fail(f"cannot write {out}: {'it is a directory' if out.is_dir() else f'{out.parent} is not a directory'}")
    zone = network.station(station).zone
    try:
        start_ms = parse_time(start, zone, network.station(station).time_zone, "--from")
        end_ms = parse_time(end, zone, network.station(station).time_zone, "--to")
        series = read_history(csv_files, start_ms, end_ms, network, unit_ft).series
        started = time.perf_counter()
        model = fit_station(series, network, station, station, start_ms, end_ms,
                            f"{start} to {end} ({', '.join(p.name for p in csv_files)})", max_lag_h=max_lag_h,
                            train_above_m=train_above_m)  # fmt: skip
    except (BacktestError, HistoryError, ValueError) as error:
        _fail(str(error))
    elapsed = time.perf_counter() - started
    header = (
        f"# Forecast of {station}, written by floodwatch-rules calibrate in {elapsed:.1f} s.\n"
        "# level(T + h) ~= intercept_m + own_gain * level(T) + upstream_gains . upstream(T - upstream_lags_h)\n"
        "#   + rain_gain_m_per_mm * catchment rain over the last rain_window_h (rules/forecast/reference.py)\n"
    )
    try:
        out.write_text(header + yaml.safe_dump(model.model_dump(mode="json"), allow_unicode=True, sort_keys=False),
                       encoding="utf-8")  # fmt: skip
    except OSError as error:
        _fail(f"cannot write {out}: {error.strerror or error}")
    typer.echo(f"{out}: {len(model.horizons)} horizons fitted in {elapsed:.1f} s")
    for fit in model.horizons:
        lags = ", ".join(f"{up} {lag} h" for up, lag in zip(model.upstream, fit.upstream_lags_h, strict=True))
        typer.echo(f"  +{fit.horizon_h:>2} h: lags {lags or '-'}, rain over {fit.rain_window_h or '-'} h, "
                   f"± {fit.sigma_m:.2f} m ({fit.rows} hours)")  # fmt: skip


def main() -> None:
    app()

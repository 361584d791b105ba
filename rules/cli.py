"""`floodwatch-rules`: check the alarm levels and rules before deploying them."""

import signal
import threading
from pathlib import Path

import typer

from eventlog import setup_logging
from rules.levels import SHIPPED_ALARM_LEVELS, SHIPPED_RULES, load_alarm_levels, load_rules
from rules.service import RulesService, RulesServiceConfig
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
        rule_set = load_rules(rules_path, levels)
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    for rule in rule_set.rules:
        station = levels.station(rule.levels)
        typer.echo(
            f"{rule.name}: {rule.sensor} -> {station.display_name} ({station.river}), "
            f"BĐ1/2/3 {station.bd1_m:.2f}/{station.bd2_m:.2f}/{station.bd3_m:.2f} m"
        )


@app.command()
def run(
    mqtt_host: str = "127.0.0.1",
    mqtt_port: int = 1883,
    influx_url: str = "http://127.0.0.1:8086",
    influx_database: str = "floodwatch",
    influx_token: str | None = typer.Option(None, envvar="FLOODWATCH_INFLUX_TOKEN"),
    levels_path: Path = typer.Option(SHIPPED_ALARM_LEVELS, "--levels"),
    rules_path: Path = typer.Option(SHIPPED_RULES, "--rules"),
    log_level: str = "INFO",
) -> None:
    """Evaluate telemetry live; publish warnings to MQTT and write them to InfluxDB."""
    setup_logging(log_level)
    config = RulesServiceConfig(
        mqtt_host, mqtt_port, influx_url, influx_database, influx_token, levels_path=levels_path, rules_path=rules_path
    )
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


def main() -> None:
    app()

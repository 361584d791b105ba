"""`floodwatch-grafana`: generate, check and push the IOC's dashboards; write their reference data."""

import os
from pathlib import Path

import typer

from centre.config import http_url
from centre.influx import InfluxError, InfluxV1
from grafana.generate import DASHBOARD_DIR, load_dashboards, stale_dashboards, write_dashboards
from grafana.push import PushError, push_dashboards
from grafana.reference import write_reference
from rules.levels import SHIPPED_ALARM_LEVELS, load_alarm_levels
from rules.network import SHIPPED_NETWORK, load_network
from typed_config import ConfigError

app = typer.Typer(
    help="Floodwatch dashboards for Grafana, as code.", no_args_is_help=True, pretty_exceptions_enable=False
)


@app.command()
def generate(
    check: bool = typer.Option(False, "--check", help="only report files that differ from the code"),
    out: Path = typer.Option(DASHBOARD_DIR, help="where the JSON files go"),
) -> None:
    """Write grafana/dashboards/*.json from grafana/boards.py."""
    if check:
        stale = stale_dashboards(out)
        if stale:
            typer.echo(f"out of date (run floodwatch-grafana generate): {', '.join(stale)}", err=True)
            raise typer.Exit(1)
        typer.echo(f"{out}: current")
        return
    for path in write_dashboards(out):
        typer.echo(f"wrote {path}")


@app.command()
def reference(
    influx_url: str = typer.Option(..., help="InfluxDB, e.g. http://127.0.0.1:8086", parser=http_url),
    database: str = "floodwatch",
    network_path: Path = typer.Option(SHIPPED_NETWORK, "--network"),
    levels_path: Path = typer.Option(SHIPPED_ALARM_LEVELS, "--levels"),
) -> None:
    """Write station_info, alarm_levels and rp_config (from the YAML) into InfluxDB."""
    try:
        network, levels = load_network(network_path), load_alarm_levels(levels_path)
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    influx = InfluxV1(influx_url, database, token=os.environ.get("INFLUX_TOKEN"))
    try:
        count = write_reference(influx, network, levels)
    except InfluxError as error:
        typer.echo(f"writing reference data to {influx_url} failed: {error}", err=True)
        raise typer.Exit(1) from None
    finally:
        influx.close()
    typer.echo(f"wrote {count} reference points to {influx_url} database {database}")


@app.command()
def push(
    url: str = typer.Option(..., help="Grafana, e.g. https://grafana.ioc.example", parser=http_url),
    token_env: str = typer.Option("GRAFANA_TOKEN", help="environment variable holding a service-account token"),
    source: Path = typer.Option(DASHBOARD_DIR, help="the generated JSON files"),
) -> None:
    """Create the Floodwatch folder if missing and create or overwrite every dashboard in it."""
    token = os.environ.get(token_env)
    if not token:
        typer.echo(f"set {token_env} to a Grafana service-account token (Editor role)", err=True)
        raise typer.Exit(2)
    try:
        pushed = push_dashboards(url, token, load_dashboards(source))
    except PushError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    for entry in pushed:
        typer.echo(f"{entry.uid}: version {entry.version} {entry.url}")


def main() -> None:
    app()

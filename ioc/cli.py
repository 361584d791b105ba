"""`floodwatch-ioc`: the IOC's warning desk (web app), its config check and its accounts."""

import sys
from pathlib import Path

import typer
import uvicorn

from eventlog import LogLevel, setup_logging
from ioc.accounts import AccountError, Role, add_user
from ioc.config import IocConfig, load_config
from ioc.database import DatabaseError, migrate, open_engine, session_factory
from public_alerts.cli import cap, check_policy
from typed_config import ConfigError

app = typer.Typer(help="Floodwatch IOC: warnings with a lifecycle, an API and a page.", no_args_is_help=True)
user_app = typer.Typer(help="Operators' accounts.", no_args_is_help=True)
app.add_typer(user_app, name="user")
# Public alerts (public_alerts/): `floodwatch-ioc cap --example`, `floodwatch-ioc public-policy`.
app.command(name="cap")(cap)
app.command(name="public-policy")(check_policy)
ConfigOption = typer.Option(None, "--config", help="IOC config (YAML); default: every default of ioc/config.py")
LogLevelOption = typer.Option(LogLevel.INFO, case_sensitive=False)


def _config(path: Path | None) -> IocConfig:
    try:
        return load_config(path) if path else IocConfig()
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None


@app.command()
def run(config_path: Path = ConfigOption, log_level: LogLevel = LogLevelOption) -> None:
    """Serve the API and the page until SIGINT/SIGTERM."""
    from ioc.api import create_app
    from ioc.desk import Desk

    setup_logging(log_level)
    config = _config(config_path)
    desk = Desk(config)
    try:
        migrate(desk.engine)
    except DatabaseError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    uvicorn.run(create_app(desk), host=config.http.host, port=config.http.port, log_level=log_level.value.lower())


@app.command()
def sirens(config_path: Path = ConfigOption, log_level: LogLevel = LogLevelOption) -> None:
    """Sound the sirens the public-alert policy sets off without approval; until SIGINT/SIGTERM."""
    import signal
    import threading

    from ioc.desk import Desk
    from ioc.sirens import siren_service

    setup_logging(log_level)
    desk = Desk(_config(config_path))
    try:
        migrate(desk.engine)
    except DatabaseError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    service = siren_service(desk).start()
    stop.wait()
    service.stop()


@app.command()
def check(config_path: Path) -> None:
    """Validate an IOC config file."""
    _config(config_path)
    typer.echo(f"{config_path}: valid")


@app.command(name="migrate")
def migrate_command(config_path: Path = ConfigOption) -> None:
    """Bring the database schema up to date (`run` does this too)."""
    config = _config(config_path)
    try:
        migrate(open_engine(config.database.url))
    except DatabaseError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{config.database.url}: schema up to date")


@user_app.command("add")
def user_add(
    username: str,
    role: Role = typer.Option(Role.operator, help="viewer, operator, rule_author or admin"),
    config_path: Path = ConfigOption,
    password_stdin: bool = typer.Option(False, "--password-stdin", help="read the password from standard input"),
) -> None:
    """Add an account; the password is asked for (twice), or read from standard input."""
    config = _config(config_path)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        engine = open_engine(config.database.url)
        migrate(engine)
        with session_factory(engine).begin() as db:
            add_user(db, username, password, role, actor="cli")
    except (AccountError, DatabaseError) as error:
        typer.echo(f"cannot add {username!r}: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"added {username} ({role.value})")


def main() -> None:
    app()

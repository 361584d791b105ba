"""`floodwatch-admin`: who may connect to the broker.

    floodwatch-admin init /etc/floodwatch/access --host broker.floodwatch.example
    floodwatch-admin add-gateway /etc/floodwatch/access le-thuy --reload /run/mosquitto.pid
    floodwatch-admin rotate /etc/floodwatch/access le-thuy --reload /run/mosquitto.pid
    floodwatch-admin revoke /etc/floodwatch/access le-thuy --reload /run/mosquitto.pid
    floodwatch-admin show /etc/floodwatch/access

Each change rewrites the password and ACL files from the registry; `--reload` sends the
broker SIGHUP, which rereads them without dropping the other clients. A new password is
written to `secrets/<name>` (0600) and never printed: copy it to the gateway
(`/etc/floodwatch/mqtt.password`, 0600) and delete it here.
"""

from pathlib import Path
from typing import NoReturn

import typer

from broker_access.directory import AccessDirectory, AccessError, reload_broker
from typed_config import ConfigError
from wire_contract.topics import GATEWAY_ID_PATTERN, telemetry_topic

app = typer.Typer(help="Floodwatch broker access: gateways, passwords, ACLs.", no_args_is_help=True)
AccessPath = typer.Argument(..., help="the access directory (registry.yaml, acl, passwords, certificates)")
ReloadOption = typer.Option(None, "--reload", help="the broker's pid file: send it SIGHUP after the change")


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(2)


def _gateway(gateway: str) -> str:
    try:
        telemetry_topic(gateway)  # checks the id
    except ValueError:
        _fail(f"gateway id {gateway!r} must match {GATEWAY_ID_PATTERN}")
    return gateway


def _reload(pid_file: Path | None) -> None:
    if pid_file is not None:
        typer.echo(f"broker (pid {reload_broker(pid_file)}) reloads its password and ACL files")


@app.command()
def init(
    access: Path = AccessPath,
    host: list[str] = typer.Option(..., "--host", help="a name or address clients reach the broker at (repeatable)"),
    gateway: list[str] = typer.Option([], "--gateway", help="a gateway id to add at once (repeatable)"),
) -> None:
    """A new project CA, the broker's certificate, the centre's accounts and any gateways."""
    try:
        registry = AccessDirectory(access).init(host, [_gateway(g) for g in gateway])
    except (AccessError, ConfigError, OSError) as error:
        _fail(str(error))
    typer.echo(f"{access}: CA, server certificate for {', '.join(host)}, accounts {', '.join(registry.usernames())}")
    typer.echo(f"passwords (0600) in {access / 'secrets'}: hand each to its service or gateway, then delete it")


@app.command("add-gateway")
def add_gateway(
    access: Path = AccessPath, gateway: str = typer.Argument(...), reload: Path | None = ReloadOption
) -> None:
    """Add a gateway: its password, and ACL lines for its own topics only."""
    try:
        secret = AccessDirectory(access).add_gateway(_gateway(gateway))
        _reload(reload)
    except (AccessError, ConfigError, OSError) as error:
        _fail(str(error))
    typer.echo(f"added {gateway}; its password is in {secret} (0600)")


@app.command()
def rotate(access: Path = AccessPath, name: str = typer.Argument(...), reload: Path | None = ReloadOption) -> None:
    """A new password for a gateway or service; the old one stops working at the reload."""
    try:
        secret = AccessDirectory(access).rotate(name)
        _reload(reload)
    except (AccessError, ConfigError, OSError) as error:
        _fail(str(error))
    typer.echo(f"rotated {name}; the new password is in {secret} (0600)")


@app.command()
def revoke(access: Path = AccessPath, gateway: str = typer.Argument(...), reload: Path | None = ReloadOption) -> None:
    """Remove a gateway: its password and ACL lines go; the reload disconnects it."""
    try:
        AccessDirectory(access).revoke(gateway)
        _reload(reload)
    except (AccessError, ConfigError, OSError) as error:
        _fail(str(error))
    typer.echo(f"revoked {gateway}")


@app.command()
def show(access: Path = AccessPath) -> None:
    """The accounts and their roles."""
    try:
        registry = AccessDirectory(access).registry()
    except (ConfigError, OSError) as error:
        _fail(str(error))
    for service in registry.services:
        typer.echo(f"{service.name}\t{service.role.value}")
    for gateway_id in registry.gateway_ids():
        typer.echo(f"{gateway_id}\tgateway")


def main() -> None:
    app()

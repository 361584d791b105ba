"""The public-alert commands of `floodwatch-ioc`: `public-policy [policy.yaml]`, `cap --example`.

ioc/cli.py mounts them; they are plain functions so that the IOC's CLI owns the app.
"""

from pathlib import Path

import typer

from public_alerts.cap_schema import CapInvalid, validate_cap
from public_alerts.example import example_alert
from public_alerts.policy import SAMPLE_POLICY, load_policy
from typed_config import ConfigError


def check_policy(policy_path: Path = typer.Argument(SAMPLE_POLICY, help="public-alert policy (YAML)")) -> None:
    """Validate a policy; print which warnings go where and how they are approved."""
    try:
        policy = load_policy(policy_path)
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    for route in policy.routes:
        stations = ", ".join(route.stations) if route.stations else "every station"
        typer.echo(
            f"{route.channel} ({policy.channels[route.channel].type}): {', '.join(route.kinds)} "
            f"from BĐ{route.min_level}, {stations}, approval {route.approval}"
        )


def cap(
    example: bool = typer.Option(False, "--example", help="a sample BĐ3 warning at Lệ Thủy"),
    policy_path: Path = typer.Option(SAMPLE_POLICY, "--policy", help="public-alert policy (YAML)"),
) -> None:
    """Print a CAP 1.2 alert (schema-checked before it is printed)."""
    if not example:
        typer.echo("say which alert: --example (alerts of live warnings are served by the IOC app)", err=True)
        raise typer.Exit(2)
    try:
        alert = example_alert(load_policy(policy_path))
        validate_cap(alert.xml)
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    except (CapInvalid, ValueError) as error:
        typer.echo(f"cannot make the example alert: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(alert.xml.decode(), nl=False)

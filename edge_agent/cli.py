"""`floodwatch-edge`: the gateway's commands for field technicians."""

import asyncio
import signal
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from edge_agent.agent import Agent
from edge_agent.config import GatewayConfig, load_gateway_config
from edge_agent.poller import DevicePoller
from eventlog import setup_logging
from hardware_specs import Profile, load_profiles
from typed_config import ConfigError
from wire_contract import Reading

app = typer.Typer(help="Floodwatch gateway: poll Modbus sensors, publish to the centre.", no_args_is_help=True)
console = Console()
ConfigPath = typer.Argument(..., exists=False, help="gateway config (YAML)")


def _load(config_path: Path) -> tuple[GatewayConfig, dict[str, Profile]]:
    try:
        profiles = load_profiles()
        return load_gateway_config(config_path, profiles), profiles
    except ConfigError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None


@app.command()
def run(config_path: Path = ConfigPath, log_level: str = "INFO") -> None:
    """Run the gateway service until SIGINT/SIGTERM."""
    setup_logging(log_level)
    config, profiles = _load(config_path)
    asyncio.run(_run(config, profiles))


async def _run(config: GatewayConfig, profiles: dict[str, Profile]) -> None:
    agent = Agent(config, profiles)  # pymodbus clients need the running loop
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await agent.run(stop)


@app.command()
def check(config_path: Path = ConfigPath) -> None:
    """Validate a gateway config, read every device once and show the values."""
    config, profiles = _load(config_path)
    console.print(f"[green]{config_path}: valid[/green] ({len(config.devices)} devices)")
    rows = asyncio.run(_read_once(config, profiles))
    table = Table("device", "sensor", "value", "unit", "quality")
    for device, reading in rows:
        value = "-" if reading.value is None else f"{reading.value:g}"
        style = "green" if reading.quality.value == "good" else "red"
        table.add_row(device, reading.sensor, value, reading.unit, f"[{style}]{reading.quality.value}[/{style}]")
    console.print(table)
    if any(r.quality.value != "good" for _, r in rows):
        raise typer.Exit(1)


async def _read_once(config: GatewayConfig, profiles: dict[str, Profile]) -> list[tuple[str, Reading]]:
    rows = []
    for device in config.devices:
        poller = DevicePoller(device, profiles[device.profile])
        rows += [(device.name, reading) for reading in await poller.poll()]
        await poller.close()
    return rows


def main() -> None:
    app()

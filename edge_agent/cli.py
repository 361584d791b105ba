"""`floodwatch-edge`: the gateway's commands for field technicians.

scan PORT     which units answer on a serial port, at which baud rate and parity, and which profiles fit
probe         raw registers of one device, decoded as every type in every byte order
check CONFIG  validate a gateway config, read every device once, show values with their quality
profile       the shipped device profiles; with a NAME, its registers and how to wire it
run CONFIG    the service (systemd: edge_agent/floodwatch-edge.service)
"""

import asyncio
import signal
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from edge_agent.agent import Agent, make_pollers
from edge_agent.bus import TransportError
from edge_agent.commissioning import scan_serial
from edge_agent.config import GatewayConfig, SerialTransport, line_settings, load_gateway_config
from edge_agent.decode import decode_all_orders
from edge_agent.poller import TcpReader
from edge_agent.profile_view import profile_view, profiles_table
from edge_agent.rtu import RtuError, SerialLine
from eventlog import setup_logging
from hardware_specs import ByteOrder, Profile, load_profiles
from typed_config import ConfigError
from typed_config.secrets import SecretError
from wire_contract import Reading

app = typer.Typer(help="Floodwatch gateway: poll Modbus sensors, publish to the centre.", no_args_is_help=True)
console = Console()
ConfigPath = typer.Argument(..., exists=False, help="gateway config (YAML)")


def _load(config_path: Path) -> tuple[GatewayConfig, dict[str, Profile]]:
    try:
        profiles = load_profiles()
        config = load_gateway_config(config_path, profiles)
        if config.mqtt.password is not None:
            config.mqtt.password.read()  # refuse at start, not at the first connection
    except (ConfigError, SecretError) as error:
        console.print(f"[red]{escape(str(error))}[/red]")  # messages hold [..] lists: not rich markup
        raise typer.Exit(2) from None
    return config, profiles


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
    buffer = config.buffer.path
    if buffer is None:
        console.print("[yellow]buffer.path is not set: readings are held in memory and lost on restart[/yellow]")
    else:
        console.print(f"buffer: {buffer} (up to {config.buffer.max_mb:g} MB)")
    for device in config.devices:
        if isinstance(device.transport, SerialTransport):
            line = line_settings(device, profiles[device.profile])
            console.print(
                f"{device.name}: {device.transport.port} {line.baud} {line.byte_size}{line.parity}{line.stop_bits}"
                f" unit {device.unit_id}"
            )
    rows = asyncio.run(_read_once(config, profiles))
    table = Table("device", "sensor", "value", "unit", "quality", "clock")
    registers = {
        sensor: profiles[device.profile].register(name)
        for device in config.devices
        for name, sensor in device.sensors.items()
    }
    for device_name, reading in rows:
        value = "-" if reading.value is None else f"{reading.value:g}"
        label = registers[reading.sensor].label(reading.value) if reading.value is not None else None
        value += f" ({label})" if label else ""
        style = "green" if reading.quality.value == "good" else "red"
        clock = "synced" if reading.clock_synced else "[yellow]not synced[/yellow]"
        quality = f"[{style}]{reading.quality.value}[/{style}]"
        table.add_row(device_name, reading.sensor, value, reading.unit, quality, clock)
    console.print(table)
    if any(r.quality.value != "good" for _, r in rows):
        raise typer.Exit(1)


async def _read_once(config: GatewayConfig, profiles: dict[str, Profile]) -> list[tuple[str, Reading]]:
    pollers, buses = make_pollers(config, profiles)
    rows = []
    try:
        for poller in pollers:
            rows += [(poller.device.name, reading) for reading in await poller.poll()]
    finally:
        for poller in pollers:
            await poller.close()
        for bus in buses:
            await bus.close()
    return rows


@app.command("profile")
def show_profile(name: str | None = typer.Argument(None, help="profile name; without it, a table of all")) -> None:
    """Show the shipped device profiles, or one profile's registers and wiring notes."""
    try:
        profiles = load_profiles()
    except ConfigError as error:
        console.print(f"[red]{escape(str(error))}[/red]")
        raise typer.Exit(2) from None
    if name is None:
        console.print(profiles_table(profiles))
        return
    profile = profiles.get(name)
    if profile is None:
        console.print(f"[red]no profile {name!r}[/red]; known: {', '.join(sorted(profiles))}")
        raise typer.Exit(2)
    console.print(profile_view(profile))


def _units(text: str) -> list[int]:
    units: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        units += range(int(first), int(last or first) + 1)
    if not units or not all(0 < u <= 247 for u in units):
        raise typer.BadParameter("unit ids are 1-247, e.g. 1-10 or 1,2,5")
    return units


@app.command()
def scan(
    port: str = typer.Argument(..., help="serial port, e.g. /dev/ttyUSB0"),
    baud: list[int] = typer.Option([9600, 19200], help="baud rates to try (repeat the option)"),
    parity: list[str] = typer.Option(["N", "E"], help="parities to try: N, E, O"),
    units: str = typer.Option("1-10", help="unit ids, e.g. 1-10 or 1,2,5"),
    address: int = typer.Option(0, help="register each unit is asked for"),
    count: int = typer.Option(1, help="registers asked for"),
    table: str = typer.Option("holding", help="holding or input"),
    timeout_ms: int = typer.Option(100, help="wait for an answer this long"),
) -> None:
    """Find which unit ids answer on a serial port, at which settings, and which profiles fit them."""
    unit_ids = _units(units)
    profiles = load_profiles()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"scanning {port}", total=len(baud) * len(parity) * len(unit_ids))
        answers = asyncio.run(
            scan_serial(
                port, baud, parity, unit_ids, profiles.values(), address, count, table, timeout_ms / 1000,
                step=lambda: progress.advance(task),
            )
        )  # fmt: skip
    if not answers:
        console.print(f"[red]nothing answered on {port}[/red]: check wiring (A/B), termination, baud rate and unit ids")
        raise typer.Exit(1)
    result = Table("baud", "parity", "unit", "answer", "matching profiles")
    for a in answers:
        answer = f"exception {a.exception}" if a.words is None else " ".join(f"{w:04x}" for w in a.words)
        result.add_row(str(a.baud), a.parity, str(a.unit), answer, ", ".join(a.profiles) or "-")
    console.print(result)


@app.command()
def probe(
    address: int = typer.Option(0, help="first register"),
    count: int = typer.Option(4, help="registers to read (1-125)"),
    unit: int = typer.Option(1, help="unit id"),
    table: str = typer.Option("holding", help="holding or input"),
    port: str | None = typer.Option(None, help="serial port (Modbus RTU)"),
    baud: int = typer.Option(9600),
    parity: str = typer.Option("N"),
    host: str | None = typer.Option(None, help="host (Modbus TCP)"),
    tcp_port: int = typer.Option(502),
    timeout_ms: int = typer.Option(500),
) -> None:
    """Read raw registers and show them decoded as every type in every byte order, side by side."""
    if (port is None) == (host is None):
        raise typer.BadParameter("give --port (RTU) or --host (TCP)")
    try:
        words = asyncio.run(_probe_words(address, count, unit, table, port, baud, parity, host, tcp_port, timeout_ms))
    except (RtuError, TransportError, OSError) as error:
        console.print(f"[red]no answer: {type(error).__name__}: {error}[/red]")
        raise typer.Exit(1) from None
    console.print("registers: " + "  ".join(f"{address + i}=0x{w:04x}" for i, w in enumerate(words)))
    result = Table("type", *(order.value for order in ByteOrder))
    for data_type, row in decode_all_orders(words).items():
        result.add_row(data_type, *("-" if row[o] is None else f"{row[o]:.7g}" for o in ByteOrder))
    console.print(result)


async def _probe_words(
    address: int,
    count: int,
    unit: int,
    table: str,
    port: str | None,
    baud: int,
    parity: str,
    host: str | None,
    tcp_port: int,
    timeout_ms: int,
) -> list[int]:
    if port is not None:
        line = SerialLine(port, baud, parity, 1, 8)
        try:
            return await line.read(unit, table, address, count, timeout_ms / 1000)
        finally:
            line.close()
    assert host is not None
    reader = TcpReader.for_address(host, tcp_port, unit, timeout_ms / 1000)
    try:
        return await reader.read(table, address, count)
    finally:
        await reader.close()


def main() -> None:
    app()

"""`floodwatch-edge`: the gateway's commands for field technicians.

scan PORT     which units answer on a serial port, at which baud rate and parity, and which profiles fit
probe         raw registers of one device, decoded as every type in every byte order
node PORT     a microcontroller node (firmware_bridge): its identity, settings and live readings
node-update   send a firmware image to a node; it switches only after a hash check and rolls back if it fails
check CONFIG  validate a gateway config, read every device once, show values with their quality
profile       the shipped device profiles; with a NAME, its registers and how to wire it
write CONFIG DEVICE REGISTER VALUE   a setting written to a device (a register its profile marks writable), read back
run CONFIG    the service (systemd: edge_agent/floodwatch-edge.service)
"""

import asyncio
import logging
import os
import signal
import termios
import threading
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from edge_agent.agent import Agent, make_pollers
from edge_agent.commissioning import Question, scan_serial, scan_tcp
from edge_agent.config import GatewayConfig, NodeTransport, SerialTransport, buffer_problem, line_settings, load_site
from edge_agent.decode import decode_all_orders
from edge_agent.failures import FIXES, TransportError, classify, describe
from edge_agent.node_commissioning import watch_node
from edge_agent.poller import DevicePoller, TcpReader
from edge_agent.profile_view import profile_view, profiles_table
from edge_agent.rtu import RtuError, SerialLine
from edge_agent.writes import WriteNotTaken, WriteRefused, write_value
from eventlog import LogLevel, setup_logging
from firmware_bridge import Hello, LinkError, NodeLink, Readings, ReadingStatus, UpdateFailed, update_firmware
from hardware_specs import BAUD_RATES, PARITIES, ByteOrder, Profile, load_profile_set
from hardware_specs.profile import BIT_TABLES, MODBUS_MAX_READ_BITS, MODBUS_MAX_READ_REGISTERS
from typed_config import ConfigError
from typed_config.secrets import SecretError
from wire_contract import Reading

LogLevelOption = typer.Option(LogLevel.INFO, case_sensitive=False)  # another level: exit 2, no traceback

app = typer.Typer(
    help="Floodwatch gateway: poll Modbus sensors, publish to the centre.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
# What `--table` takes (the Modbus spec's names), and the profile's name of each table.
CLI_TABLES = {"holding": "holding", "input": "input", "coils": "coil", "discrete-inputs": "discrete_input"}
READ_TABLES = list(CLI_TABLES)
ConfigPath = typer.Argument(..., exists=False, help="gateway config (YAML)")


ProfilesOption = typer.Option(None, "--profiles", help="a folder of the site's own profiles (NAME.yaml)")


def _refuse(error: ConfigError | SecretError) -> typer.Exit:
    console.print(f"[red]{escape(str(error))}[/red]", soft_wrap=True)  # messages hold [..] lists: not markup
    return typer.Exit(2)


def _profiles(site_dir: Path | None) -> dict[str, Profile]:
    """Shipped and site profiles that load; each broken file is named once and left out."""
    try:
        found = load_profile_set(*([site_dir] if site_dir is not None else []))
    except ConfigError as error:
        raise _refuse(error) from None
    for name, broken in found.broken.items():
        console.print(f"[yellow]profile {name} left out: {escape(str(broken))}[/yellow]", soft_wrap=True)
    return found.profiles


def _load(config_path: Path, profiles_dir: Path | None) -> tuple[GatewayConfig, dict[str, Profile]]:
    try:
        config, profiles = load_site(config_path, profiles_dir)
        config.mqtt.tls_context()  # refuse an unusable CA or password at start, not at the first connection
        if config.mqtt.password is not None:
            config.mqtt.password.read()
    except (ConfigError, SecretError) as error:
        raise _refuse(error) from None
    return config, profiles


def _writable_buffer(config: GatewayConfig) -> None:
    problem = buffer_problem(config)
    if problem is not None:
        console.print(f"[red]{escape(problem)}[/red]", soft_wrap=True)
        raise typer.Exit(2)


@app.command()
def run(
    config_path: Path = ConfigPath,
    log_level: LogLevel = LogLevelOption,
    profiles: Path | None = ProfilesOption,
) -> None:
    """Run the gateway service until SIGINT/SIGTERM."""
    config, site_profiles = _load(config_path, profiles)
    _writable_buffer(config)
    setup_logging(log_level)  # after the checks: a refused config is one line on the terminal
    asyncio.run(_run(config, site_profiles))


# SIGTERM stops the agent within this bound, whatever it is waiting on (below the unit's
# TimeoutStopSec=30); a second SIGTERM or SIGINT stops it at once. The buffer is SQLite in
# WAL mode: a reading committed before the exit is kept either way.
STOP_BOUND_S = 20.0


def _exit_now(why: str) -> None:
    logging.getLogger(__name__).error("forced_exit", extra={"event": "forced_exit", "reason": why})
    logging.shutdown()
    os._exit(3)


async def _run(config: GatewayConfig, profiles: dict[str, Profile]) -> None:
    agent = Agent(config, profiles)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            _exit_now("second signal")
        stop.set()
        # A timer thread, not the event loop: it fires even if the loop is wedged.
        timer = threading.Timer(STOP_BOUND_S, _exit_now, args=(f"not stopped within {STOP_BOUND_S:g} s",))
        timer.daemon = True
        timer.start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    await agent.run(stop, flush_timeout_s=10.0, stop_grace_s=5.0)


@app.command()
def check(config_path: Path = ConfigPath, profiles_dir: Path | None = ProfilesOption) -> None:
    """Validate a gateway config, read every device once and show the values."""
    config, profiles = _load(config_path, profiles_dir)
    console.print(f"[green]{config_path}: valid[/green] ({len(config.devices)} devices)")
    _writable_buffer(config)
    buffer = config.buffer.file
    if buffer is None:
        console.print("[yellow]buffer.in_memory: readings are held in memory and lost on restart[/yellow]")
    else:
        console.print(f"buffer: {buffer} (up to {config.buffer.max_mb:g} MB)")
    for device in config.devices:
        if isinstance(device.transport, NodeTransport):
            console.print(f"{device.name}: {device.transport.port} {device.transport.baud} (node)")
        if isinstance(device.transport, SerialTransport):
            line = line_settings(device, profiles[device.profile])
            console.print(
                f"{device.name}: {device.transport.port} {line.baud} {line.byte_size}{line.parity}{line.stop_bits}"
                f" unit {device.unit_id}"
            )
    rows = asyncio.run(_read_once(config, profiles))
    table = Table("device", "sensor", "value", "unit", "quality", "reason", "clock")
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
        reason = "" if reading.reason is None else f"[red]{reading.reason.value}[/red]"
        table.add_row(device_name, reading.sensor, value, reading.unit, quality, reason, clock)
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
def show_profile(
    name: str | None = typer.Argument(None, help="profile name; without it, a table of all"),
    profiles_dir: Path | None = ProfilesOption,
) -> None:
    """Show the device profiles (shipped and the site's), or one profile's registers and wiring notes."""
    profiles = _profiles(profiles_dir)
    if name is None:
        console.print(profiles_table(profiles))
        return
    profile = profiles.get(name)
    if profile is None:
        console.print(f"[red]no profile {name!r}[/red]; known: {', '.join(sorted(profiles))}")
        raise typer.Exit(2)
    console.print(profile_view(profile))


@app.command()
def write(
    config_path: Path = ConfigPath,
    device: str = typer.Argument(..., help="device name in the config"),
    register: str = typer.Argument(..., help="register name in its profile (one the profile marks writable)"),
    value: str = typer.Argument(..., help="value in the register's unit; a coil: on/off or 1/0"),
    table: str | None = typer.Option(None, help="expect the register in this table: holding or coils"),
    profiles_dir: Path | None = ProfilesOption,
) -> None:
    """Write a setting to a device (a holding register or coil its profile marks writable) and read it back."""
    config, profiles = _load(config_path, profiles_dir)
    if device not in {d.name for d in config.devices}:
        console.print(f"[red]no device {device!r}[/red]; the config has {', '.join(d.name for d in config.devices)}")
        raise typer.Exit(2)
    profile = profiles[next(d.profile for d in config.devices if d.name == device)]
    number = _write_number(value)
    if table is not None:
        _expect_table(profile, register, table)
    try:
        back = asyncio.run(_write(config, profiles, device, register, number))
    except WriteRefused as refused:
        console.print(f"[red]{escape(str(refused))}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    except WriteNotTaken as ignored:
        console.print(f"[red]{escape(str(ignored))}[/red]: the device did not keep the value", soft_wrap=True)
        raise typer.Exit(1) from None
    except TransportError as error:
        raise _io_failure(device, error) from None
    unit = profile.register(register).unit
    console.print(f"[green]{device}: {register} = {back:g} {unit} (read back)[/green]")


_SWITCH = {"on": 1.0, "off": 0.0, "true": 1.0, "false": 0.0}


def _write_number(text: str) -> float:
    try:
        number = _SWITCH.get(text.lower()) if text.lower() in _SWITCH else float(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give a number, or on/off for a coil", param_hint="VALUE") from None
    assert number is not None
    if number != number or number in (float("inf"), float("-inf")):
        raise typer.BadParameter(f"{text!r}: give a finite number", param_hint="VALUE")
    return number


def _expect_table(profile: Profile, register: str, table: str) -> None:
    wanted = CLI_TABLES.get(table)
    if wanted not in ("holding", "coil"):
        raise typer.BadParameter(f"table {table!r}: writes go to holding registers or coils", param_hint="--table")
    try:
        actual = profile.register(register).table
    except KeyError:
        return  # the write names the register the profile lacks
    if actual != wanted:
        raise typer.BadParameter(f"{register!r} is in the {actual} table of {profile.name!r}, not {table}")


async def _write(
    config: GatewayConfig, profiles: dict[str, Profile], device: str, register: str, value: float
) -> float:
    pollers, buses = make_pollers(config, profiles)
    try:
        (poller,) = [p for p in pollers if p.device.name == device]
        if not isinstance(poller, DevicePoller):
            raise WriteRefused(
                f"{device!r} is a microcontroller node: its settings are config keys (firmware_bridge/PROTOCOL.md), "
                "not registers"
            )
        return await write_value(poller, register, value)
    finally:
        for poller in pollers:
            await poller.close()
        for bus in buses:
            await bus.close()


def _units(text: str) -> list[int]:
    units: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.partition("-")
            units += range(int(first), int(last or first) + 1)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: unit ids are 1-247, e.g. 1-10 or 1,2,5") from None
    if not units or not all(0 < u <= 247 for u in units):
        raise typer.BadParameter(f"{text!r}: unit ids are 1-247, e.g. 1-10 or 1,2,5")
    return units


def _bauds(values: list[int]) -> list[int]:
    wrong = [b for b in values if b not in BAUD_RATES]
    if wrong:
        raise typer.BadParameter(
            f"{wrong[0]} is not a standard baud rate; use one of {', '.join(map(str, BAUD_RATES))}"
        )
    return values


def _parities(values: list[str]) -> list[str]:
    wrong = [p for p in values if p.upper() not in PARITIES]
    if wrong:
        raise typer.BadParameter(f"parity {wrong[0]!r}: use N (none), E (even) or O (odd)")
    return [p.upper() for p in values]


def _table(value: str, address: int, count: int) -> str:
    """The profile's name of a `--table`, its count and address range checked (bits: up to 2000)."""
    table = CLI_TABLES.get(value)
    if table is None:
        raise typer.BadParameter(f"table {value!r}: use {', '.join(READ_TABLES[:-1])} or {READ_TABLES[-1]}")
    limit, what = (MODBUS_MAX_READ_BITS, "bits") if table in BIT_TABLES else (MODBUS_MAX_READ_REGISTERS, "registers")
    if not 1 <= count <= limit:
        raise typer.BadParameter(f"--count {count}: read 1-{limit} {what} of the {value} table at a time")
    if address + count > 65536:
        raise typer.BadParameter(f"{what} {address}..{address + count - 1} run past 65535")
    return table


def _port_name(value: str | None) -> str | None:
    """A port or host as given on the command line; the OS cannot open a name with a NUL or a newline."""
    if value is not None and any(ord(c) < 32 for c in value):
        raise typer.BadParameter(f"{value!r} holds a control character: give a port such as /dev/ttyUSB0")
    return value


def _tcp_address(text: str) -> tuple[str, int] | None:
    """`host:port` (Modbus TCP), or None for a serial port path."""
    if text.startswith("/") or ":" not in text:
        return None
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise typer.BadParameter(f"{text!r}: give a serial port (/dev/ttyUSB0) or host:port with a port of 1-65535")
    return host, int(port)


def _io_failure(where: str, error: BaseException) -> typer.Exit:
    """An I/O error as the one line a technician reads, with what to do; exit code 2."""
    reason = classify(error)
    fix = FIXES.get(reason, "check the wiring, the unit id and the line settings, or try a longer --timeout-ms")
    console.print(
        f"[red]{escape(where)}: {escape(describe(error))}[/red] ({reason.value}): {escape(fix)}", soft_wrap=True
    )
    return typer.Exit(2)


PortArgument = typer.Argument(..., help="serial port (/dev/ttyUSB0) or Modbus TCP host:port", callback=_port_name)
TableOption = typer.Option("holding", help=f"Modbus table: {', '.join(READ_TABLES)}")
CountHelp = f"registers (1-{MODBUS_MAX_READ_REGISTERS}) or bits (coils, discrete-inputs: 1-{MODBUS_MAX_READ_BITS})"
TimeoutOption = typer.Option(100, min=10, max=60_000, help="wait for an answer this long (ms)")


@app.command()
def scan(
    port: str = PortArgument,
    baud: list[int] = typer.Option([9600, 19200], help="baud rates to try (repeat the option)"),
    parity: list[str] = typer.Option(["N", "E"], help="parities to try: N, E, O (repeat the option)"),
    units: str = typer.Option("1-10", help="unit ids, e.g. 1-10 or 1,2,5"),
    address: int = typer.Option(0, min=0, max=65535, help="register each unit is asked for"),
    count: int = typer.Option(1, help=f"asked for: {CountHelp}"),
    table: str = TableOption,
    timeout_ms: int = TimeoutOption,
    profiles_dir: Path | None = ProfilesOption,
) -> None:
    """Find which unit ids answer on a serial port (each baud rate and parity) or behind a Modbus TCP address."""
    unit_ids = _units(units)
    tcp = _tcp_address(port)
    bauds = _bauds(baud)
    parities = _parities(parity)
    table = _table(table, address, count)
    # node profiles speak firmware_bridge's protocol, not Modbus: `floodwatch-edge node` finds those
    profiles = {name: p for name, p in _profiles(profiles_dir).items() if p.protocol == "modbus"}
    tries = len(unit_ids) if tcp else len(bauds) * len(parities) * len(unit_ids)
    question = Question(address, count, table, timeout_ms / 1000)
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"scanning {port}", total=tries)
            if tcp is not None:
                found = scan_tcp(*tcp, unit_ids, profiles.values(), question, step=lambda: progress.advance(task))
            else:
                found = scan_serial(port, bauds, parities, unit_ids, profiles.values(), question,
                                    step=lambda: progress.advance(task))  # fmt: skip
            answers = asyncio.run(found)
    except (OSError, termios.error, TransportError) as error:
        raise _io_failure(port, error) from None
    if not answers:
        tried = "" if tcp else f" at {'/'.join(map(str, bauds))} baud, parity {'/'.join(parities)},"
        console.print(
            f"[red]nothing answered on {escape(port)}[/red]{tried} units {units}, waiting {timeout_ms} ms each: "
            f"check wiring (A/B), termination, baud rate and unit ids, or try a longer --timeout-ms {timeout_ms * 5}"
        )
        raise typer.Exit(1)
    result = Table("baud", "parity", "unit", "answer", "matching profiles")
    for a in answers:
        answer = a.exception or "" if a.words is None else " ".join(f"{w:04x}" for w in a.words)
        result.add_row(
            "tcp" if a.baud is None else str(a.baud), a.parity, str(a.unit), answer, ", ".join(a.profiles) or "-"
        )
    console.print(result)


@app.command()
def probe(
    address: int = typer.Option(0, min=0, max=65535, help="first register"),
    count: int = typer.Option(4, help=f"to read: {CountHelp}"),
    unit: int = typer.Option(1, min=0, max=247, help="unit id (0: a TCP device itself)"),
    table: str = TableOption,
    port: str | None = typer.Option(None, help="serial port (Modbus RTU)", callback=_port_name),
    baud: int = typer.Option(9600, help="baud rate"),
    parity: str = typer.Option("N", help="N, E or O"),
    host: str | None = typer.Option(None, help="host (Modbus TCP)", callback=_port_name),
    tcp_port: int = typer.Option(502, min=1, max=65535),
    timeout_ms: int = typer.Option(500, min=10, max=60_000, help="wait for an answer this long (ms)"),
) -> None:
    """Read raw registers and show them decoded as every type in every byte order, side by side
    (coils and discrete inputs: each bit)."""
    if (port is None) == (host is None):
        raise typer.BadParameter("give --port (RTU) or --host (TCP)")
    _bauds([baud])
    (parity,) = _parities([parity])
    table = _table(table, address, count)
    if port is not None and unit == 0:
        raise typer.BadParameter("unit 0 is the RTU broadcast address, which no device answers: use 1-247")
    where = port if port is not None else f"{host}:{tcp_port}"
    try:
        words = asyncio.run(_probe_words(address, count, unit, table, port, baud, parity, host, tcp_port, timeout_ms))
    except (RtuError, TransportError, OSError, termios.error) as error:
        raise _io_failure(f"{where} unit {unit}", error) from None
    if table in BIT_TABLES:
        on = [address + i for i, bit in enumerate(words) if bit]
        console.print(f"{table.replace('_', ' ')}s {address}..{address + count - 1}: " + "".join(map(str, words)))
        console.print(f"on: {', '.join(map(str, on)) or 'none'}")
        return
    console.print("registers: " + "  ".join(f"{address + i}=0x{w:04x}" for i, w in enumerate(words)))
    result = Table("type", *(order.value for order in ByteOrder))
    for data_type, row in decode_all_orders(words).items():
        result.add_row(data_type, *(_number(row[o]) for o in ByteOrder))
    console.print(result)


def _number(value: float | int | None) -> str:
    """Integers in full (1206985000, never 1.206985e+09); floats to 7 significant digits."""
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.7g}"


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


@app.command()
def node(
    port: str = typer.Argument(..., help="serial port of the node (/dev/ttyACM0, /dev/ttyUSB0)", callback=_port_name),
    baud: int = typer.Option(115200),
    polls: int = typer.Option(5, help="readings to show; 0: until Ctrl-C"),
    interval_s: float = typer.Option(1.0, help="seconds between readings"),
    timeout_ms: int = typer.Option(500, help="how long to wait for each answer (sent 3 times)"),
) -> None:
    """Identify a microcontroller node (firmware_bridge/PROTOCOL.md) and show its live readings."""
    if polls < 0 or interval_s < 0 or timeout_ms < 10:
        raise typer.BadParameter("polls >= 0, interval-s >= 0, timeout-ms >= 10")
    _bauds([baud])

    def show(hello: Hello, config: dict[str, int]) -> None:
        console.print(
            f"[green]{escape(hello.model)}[/green] serial {escape(hello.serial)}, firmware {hello.firmware_text} "
            f"({hello.image_state.name.lower()}), protocol {hello.protocol_version}, "
            f"last boot: {hello.boot_reason.name.lower()}"
        )
        console.print("settings: " + ", ".join(f"{key} {value}" for key, value in config.items()))

    def on_readings(readings: Readings) -> None:
        clock = "UTC" if readings.time_synced else "ms since boot"
        table = Table("channel", "raw", "scale", "value", "status", title=f"node time {readings.time_ms} ({clock})")
        for r in readings.readings:
            status = ", ".join(str(flag.name).lower() for flag in ReadingStatus if flag in r.status) or "ok"
            value = "-" if r.value is None else f"{r.value:g}"
            table.add_row(str(r.channel), str(r.raw), str(r.scale), value, status)
        console.print(table)

    try:
        report = asyncio.run(watch_node(port, baud, timeout_ms / 1000, polls, interval_s, show, on_readings))
    except LinkError as error:
        console.print(
            f"[red]{escape(str(error))}[/red]: check the port, the baud rate ({baud}) and that the node is powered"
        )
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    frames, link = report.frames, report.link
    console.print(
        f"line: {frames.frames_ok} frames good, {frames.crc_error} CRC errors, {frames.framing_errors} framing errors, "
        f"{link.bad_messages} bad messages, {link.retries} retries, {link.lost_messages} node messages lost"
    )


@app.command("node-update")
def node_update(
    port: str = typer.Argument(..., help="serial port of the node", callback=_port_name),
    image: Path = typer.Argument(..., help="the firmware image file"),
    version: str = typer.Option(..., help="the image's version, MAJOR.MINOR.PATCH (the node must report it)"),
    baud: int = typer.Option(115200),
    report_in_s: float = typer.Option(90.0, help="how long the new image may take to say HELLO"),
    timeout_ms: int = typer.Option(500, help="how long to wait for each answer (sent 3 times)"),
) -> None:
    """Update a node's firmware: resumes a cut transfer, confirms the new image once it reports in."""
    _bauds([baud])
    if report_in_s <= 0 or timeout_ms < 10:
        raise typer.BadParameter("report-in-s > 0, timeout-ms >= 10")
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() and int(p) <= 255 for p in parts):
        raise typer.BadParameter(f"--version {version!r}: expected MAJOR.MINOR.PATCH, each 0-255")
    try:
        data = image.read_bytes()
    except OSError as error:
        console.print(f"[red]{escape(str(image))}: cannot read the image: {escape(error.strerror or str(error))}[/red]")
        raise typer.Exit(2) from None
    wanted = (int(parts[0]), int(parts[1]), int(parts[2]))

    async def send() -> Hello:
        async with NodeLink(port, baud, timeout_ms / 1000) as link:
            before = await link.identify()
            console.print(
                f"{escape(before.model)} {escape(before.serial)}: firmware {before.firmware_text} -> {version}"
            )
            with Progress(console=console) as progress:
                task = progress.add_task("sending", total=len(data))
                outcome = await update_firmware(
                    link, data, wanted, report_in_s, progress=lambda done, _: progress.update(task, completed=done)
                )
            return outcome.hello

    try:
        hello = asyncio.run(send())
    except (LinkError, UpdateFailed) as error:
        console.print(f"[red]{escape(str(error))}[/red]")
        raise typer.Exit(2) from None
    console.print(f"[green]firmware {hello.firmware_text} reported in and is confirmed[/green]")


def main() -> None:
    try:
        app()
    except Exception as error:  # the last guard: a command never ends in a traceback
        console.print(f"[red]floodwatch-edge: internal error: {escape(f'{type(error).__name__}: {error}')}[/red]")
        raise SystemExit(2) from None

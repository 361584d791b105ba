"""`scripts/demo`: the October 2020 Lệ Thủy flood, replayed through the real flood path.

Starts Mosquitto and InfluxDB (in .demo/, on free loopback ports), simulated
stations, two gateways, ingest, the rule service and the IOC app (its URL and a demo
login printed); prints every warning as it fires. Ctrl-C (or the end of --duration-s)
stops it cleanly: the gateways publish what they hold, ingest writes it, and the data stays in .demo/ for scripts/query.
"""

import argparse
import asyncio
import contextlib
import signal
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from rich.console import Console

from devstack.ioc_demo import DEMO_LOGIN, start_demo_app
from devstack.stack import FloodStack
from devstack.webhook_receiver import WebhookReceiver
from eventlog import setup_logging
from rules.levels import SHIPPED_ALARM_LEVELS, load_alarm_levels
from wire_contract import WARNINGS_TOPIC, ContractError, WarningMessage, decode_warning

console = Console(soft_wrap=True)
LEVEL_NAMES = ("below BĐ1", "BĐ1", "BĐ2", "BĐ3")


def _instant(text: str) -> datetime:
    """An ISO 8601 time with its offset (the recorded data is in +07:00)."""
    moment = datetime.fromisoformat(text)  # ValueError: argparse says "invalid instant value"
    if moment.tzinfo is None:
        raise ValueError(text)
    return moment


def _positive(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise ValueError(text)
    return value


_TYPED = (
    ("--from", "start", datetime),
    ("--to", "end", datetime),
    ("--speedup", "speedup", float),
    ("--poll-s", "poll_s", float),
    ("--data-dir", "data_dir", Path),
    ("--duration-s", "duration_s", (float, type(None))),
)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    start, end = "2020-10-06T00:00:00+07:00", "2020-11-01T00:00:00+07:00"
    parser.add_argument(
        "--from", dest="start", type=_instant, default=_instant(start), help="replay start (ISO 8601, with offset)"
    )
    parser.add_argument(
        "--to", dest="end", type=_instant, default=_instant(end), help="replay end (ISO 8601, with offset)"
    )
    parser.add_argument("--speedup", type=_positive, default=7200.0, help="recorded seconds per wall second")
    parser.add_argument("--poll-s", type=_positive, default=0.25, help="gateway poll period")
    parser.add_argument("--data-dir", type=Path, default=Path(".demo"), help="where services keep their data")
    parser.add_argument("--duration-s", type=_positive, default=None, help="stop after this long (default: Ctrl-C)")
    args = parser.parse_args()
    for option, dest, kind in _TYPED:
        if not isinstance(getattr(args, dest), kind):  # argparse reads "--from=--" as an empty list
            parser.error(f"argument {option}: {getattr(args, dest)!r} is not a value; see --help")
    if args.start >= args.end:
        parser.error(f"--from {args.start.isoformat()} is not before --to {args.end.isoformat()}")
    return args


def _printer(stack: FloodStack) -> mqtt.Client:
    names = {s.station: f"{s.display_name} ({s.river})" for s in load_alarm_levels(SHIPPED_ALARM_LEVELS).stations}

    def show(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        try:
            warning: WarningMessage = decode_warning(bytes(message.payload))
        except ContractError as error:
            console.print(f"[red]unreadable warning: {error.reason}[/red]")
            return
        arrow = "↑" if warning.level > warning.previous_level else "↓"
        data_time = datetime.fromtimestamp(stack.clock.data_time(warning.ts_ms / 1000), tz=stack.start.tzinfo)
        style = ("green", "yellow", "dark_orange", "red")[warning.level]
        station = names.get(warning.station, warning.station)
        was = LEVEL_NAMES[warning.previous_level]
        console.print(
            f"[{style}]{arrow} {LEVEL_NAMES[warning.level]:<9}[/{style}] {station}  {warning.value:.2f} m"
            f"  (was {was}; river time {data_time:%Y-%m-%d %H:%M})"
        )

    client = stack.mosquitto.client("monitor", "floodwatch-demo-printer")
    client.on_message = show
    client.on_connect = lambda c, *_: c.subscribe(WARNINGS_TOPIC, qos=1)
    client.connect("127.0.0.1", stack.mosquitto.port)
    client.loop_start()
    return client


async def _run(args: argparse.Namespace) -> None:
    stack = FloodStack(args.data_dir.resolve(), args.start, args.end, args.speedup, args.poll_s)
    console.print(
        f"[bold]Floodwatch demo[/bold]: replaying {args.start.isoformat()} → {args.end.isoformat()}"
        f" at {args.speedup:g}× into {stack.root}"
    )
    stack.start_centre()
    console.print(
        f"Mosquitto on 127.0.0.1:{stack.mosquitto.port}, InfluxDB on {stack.influxdb.url}"
        f" (database floodwatch; writer and reader passwords in {stack.influxdb.secret_path('')})"
    )
    printer = _printer(stack)
    with WebhookReceiver() as sms:
        ioc = start_demo_app(stack.root, stack.mosquitto, stack.influxdb, sms.url)
        console.print(f"IOC warning desk on [bold]{ioc.url}[/bold] (log in as {DEMO_LOGIN[0]} / {DEMO_LOGIN[1]})")
        console.print(f"SMS gateway stand-in on {sms.url}: public alerts approved in the desk are delivered there")
        await _replay(stack, args)
        printer.loop_stop()
        ioc.stop()
        console.print(f"  public alerts delivered to the SMS stand-in: {len(sms.accepted())}")
    _summary(stack)
    stack.stop_centre()
    console.print(f"data kept in {stack.root}; query it with: scripts/query 'SELECT * FROM warning'")


async def _replay(stack: FloodStack, args: argparse.Namespace) -> None:
    """Run the stations until Ctrl-C (or --duration-s), then let the gateways hand over what they hold."""
    await stack.start_stations()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), args.duration_s)
    console.print("stopping: gateways publish what they hold, ingest writes it…")
    await stack.stop_stations()
    stack.wait_until_ingested()


def _summary(stack: FloodStack) -> None:
    served = sum(len(sim.served) for sim in stack.simulators.values())
    counts = {
        name: stack.ingest.influx.query(f'SELECT count(*) FROM "{name}"')
        for name in ("water_level", "rain", "rain_this_hour", "rain_tips", "warning")
    }
    console.print(f"served {served} Modbus responses; gateways published {stack.published_readings()} readings")
    for name, series in counts.items():
        total = series[0]["values"][0][1] if series else 0
        console.print(f"  InfluxDB {name}: {total} points")
    console.print(
        f"  warnings sent: {stack.rules.warnings_sent}; dead letters: {dict(stack.ingest.dead_letters.counts)}"
    )


def main() -> None:
    setup_logging("WARNING")
    asyncio.run(_run(_parse_args()))


if __name__ == "__main__":
    main()

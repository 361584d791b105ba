"""Rule decision -> CAP alert in the Atom feed, and -> webhook delivered: p50/p99, 1 warning against 100 at once.

    .venv/bin/python bench/public_alert_latency.py [--warnings 100] [--rounds 5] [--sqlite-wal]

Real parts on loopback: the IOC's public router served by uvicorn (the feed is read over
HTTP by a poller, as an aggregator would, every 5 ms), a local HTTP receiver for the
webhook (signed, SQLite delivery log), the sample policy with its rate limit raised so the
limiter does not dominate. A warning's clock starts when it is handed over (the rule
service's decision, operator approval taken as given) and stops when its entry is first
seen in the feed, and when the receiver has its webhook.
"""

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml
from fastapi import FastAPI
from lxml import etree
from sqlalchemy import create_engine, event

from devstack.services import free_port
from devstack.webhook_receiver import WebhookReceiver
from public_alerts import AlertBook, PublicPolicy
from public_alerts.delivery_log import DeliveryLog
from public_alerts.feed import ATOM_NS, alerts_router
from public_alerts.policy import SAMPLE_POLICY
from public_alerts.stations import station_names
from public_alerts.webhooks import IDEMPOTENCY_HEADER, WebhookSender
from rules.levels import SHIPPED_ALARM_LEVELS, load_alarm_levels
from wire_contract import WarningMessage

SECRET = b"bench-secret"


def _policy(url: str) -> PublicPolicy:
    data: dict[str, Any] = yaml.safe_load(SAMPLE_POLICY.read_text())
    data["channels"]["sms_gateway"].update(url=url, secret_env="BENCH_SECRET", max_per_minute=60_000)
    return PublicPolicy.model_validate(data)


def _warning(round_: int, n: int, now_ms: int) -> WarningMessage:
    return WarningMessage(
        warning_id=f"bench_{round_}_{n}:le_thuy:{now_ms}:2->3", rule=f"bench_{round_}_{n}", station="le_thuy",
        sensor="le_thuy", level=3, previous_level=2, value=2.8, ts_ms=now_ms, thresholds_m=(1.2, 2.2, 2.7),
        thresholds_source="bench",
    )  # fmt: skip


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class FeedWatcher(threading.Thread):
    """Polls the feed over HTTP every 5 ms and notes when each identifier first appears."""

    def __init__(self, url: str) -> None:
        super().__init__(name="feed-watcher", daemon=True)
        self.url = url
        self.seen: dict[str, float] = {}
        self.stop_flag = threading.Event()

    def run(self) -> None:
        with httpx.Client() as client:
            while not self.stop_flag.is_set():
                feed = etree.fromstring(client.get(self.url).content)
                now = time.perf_counter()
                for identifier in feed.xpath("//a:entry/a:id/text()", namespaces={"a": ATOM_NS}):
                    self.seen.setdefault(str(identifier), now)
                # every 5 ms, not flat out: in this process a busy poller takes the GIL from the sender
                self.stop_flag.wait(0.005)


async def one_round(
    round_: int, count: int, book: AlertBook, sender: WebhookSender, receiver: WebhookReceiver, watcher: FeedWatcher
) -> tuple[list[float], list[float]]:
    now_ms = time.time_ns() // 1_000_000
    warnings = [_warning(round_, n, now_ms) for n in range(count)]
    started: dict[str, float] = {}
    identifiers: dict[str, str] = {}
    alerts = []
    for warning in warnings:  # "simultaneous": handed over back to back, as one batch of decisions
        started[warning.warning_id] = time.perf_counter()
        alert = book.take(warning, now_ms)
        assert alert is not None
        identifiers[warning.warning_id] = alert.identifier
        alerts.append(alert)
    await asyncio.gather(*(sender.deliver(alert) for alert in alerts))
    await sender.drain()
    deadline = time.monotonic() + 30
    while any(i not in watcher.seen for i in identifiers.values()):
        if time.monotonic() > deadline:
            raise RuntimeError("alerts did not reach the feed in 30 s")
        await asyncio.sleep(0.005)
    arrived = {r.headers[IDEMPOTENCY_HEADER]: r.at_perf for r in receiver.accepted()}
    feed = [(watcher.seen[identifiers[k]] - t) * 1000 for k, t in started.items()]
    hooks = [(arrived[k] - t) * 1000 for k, t in started.items()]
    return feed, hooks


async def main_async(args: argparse.Namespace) -> None:
    with WebhookReceiver() as receiver, tempfile.TemporaryDirectory() as tmp:
        policy = _policy(receiver.url)
        book = AlertBook(policy, station_names(load_alarm_levels(SHIPPED_ALARM_LEVELS)))
        app = FastAPI()
        app.include_router(alerts_router(book, policy, lambda: time.time_ns() // 1_000_000))
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
        thread.start()
        while not server.started:
            await asyncio.sleep(0.01)
        watcher = FeedWatcher(f"http://127.0.0.1:{port}/public/alerts.atom")
        watcher.start()
        engine = create_engine(f"sqlite:///{Path(tmp) / 'desk.db'}")
        if args.sqlite_wal:
            # WAL with synchronous=NORMAL: a commit no longer waits for an fsync (the desk's own choice).
            event.listen(engine, "connect", lambda c, _r: c.execute("PRAGMA journal_mode=WAL").close())
            event.listen(engine, "connect", lambda c, _r: c.execute("PRAGMA synchronous=NORMAL").close())
        log = DeliveryLog(engine)
        log.create_tables()
        results: dict[int, tuple[list[float], list[float]]] = {}
        async with WebhookSender(policy, log, {"BENCH_SECRET": SECRET}) as sender:
            round_ = 0
            for count in (1, args.warnings):
                feed_all: list[float] = []
                hooks_all: list[float] = []
                for _ in range(args.rounds):
                    round_ += 1
                    feed, hooks = await one_round(round_, count, book, sender, receiver, watcher)
                    feed_all += feed
                    hooks_all += hooks
                results[count] = (feed_all, hooks_all)
        watcher.stop_flag.set()
        watcher.join()
        server.should_exit = True
        thread.join()
    single, many = results[1], results[args.warnings]
    journal = "WAL, synchronous=NORMAL" if args.sqlite_wal else "rollback journal, fsync per commit"
    print(f"rule decision -> public alert, {args.rounds} rounds; feed polled over HTTP, webhook to a local receiver")
    print(f"delivery log: SQLite, {journal}")
    print(f"{'':28}{'1 warning':>14}{f'{args.warnings} at once':>16}{'ratio':>8}")
    for name, index in (("CAP alert in the feed", 0), ("webhook delivered", 1)):
        for label, q in (("p50", 0.5), ("p99", 0.99)):
            a, b = _percentile(single[index], q), _percentile(many[index], q)
            print(f"{name + ' ' + label:28}{a:>11.1f} ms{b:>13.1f} ms{b / a:>7.1f}x")
    print(f"(median of the {args.warnings}-warning rounds' feed latency: {statistics.median(many[0]):.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warnings", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sqlite-wal", action="store_true", help="the delivery log in WAL, synchronous=NORMAL")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()

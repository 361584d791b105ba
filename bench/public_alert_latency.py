"""Public alerts through the IOC as it runs: p50/p99, 1 warning against 100 at once.

    .venv/bin/python bench/public_alert_latency.py [--warnings 100] [--rounds 5]

Real parts on loopback: Mosquitto, the IOC app (desk, sender, webhook sender; SQLite in WAL,
the desk's own choice) served by uvicorn in this process, a local HTTP receiver for the
SMS webhook (signed; the sample policy with its rate limit raised so the limiter does not
dominate), the Atom feed read over HTTP every 5 ms (`--feed-poll-ms`) as an aggregator would, and the operator
page's event stream (GET /api/events). Each round, at Kim Long (no siren there), N warnings
of N rules:

1. rise to BĐ3 on the warnings topic; the desk drafts each (the sample policy: feed and
   webhook wait for an operator; nothing automatic reaches a phone). Not timed.
2. approval route: N operators' approvals POSTed at once. From each POST sent to
   `sent` (the sender's `published` audit entry pushed on the event stream), to its CAP
   alert in the Atom feed, and to its webhook at the receiver.
3. automatic route: the rules' next word, BĐ3 -> BĐ2, published at once. A public chain's
   Update needs no approval: from the decision leaving the benchmark (QoS 1) through the
   broker, the desk's feed, the commit, to the Update in the Atom feed and its webhook.
4. the all clear (Cancels), not timed, so the next round starts with an empty feed.

The policy refuses `approval: automatic` for the feed and webhooks (only BĐ3 sirens go
without an operator), so (3), a chain's follower, is the automatic path that reaches them.
"""

import argparse
import contextlib
import json
import logging
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import yaml
from lxml import etree

from devstack.services import Mosquitto, free_port
from devstack.webhook_receiver import WebhookReceiver
from ioc.accounts import Role, add_user
from ioc.config import DatabaseConfig, HttpConfig, IocBrokerConfig, IocConfig, IocInfluxConfig
from ioc.desk import Desk
from ioc.serve import AppThread
from public_alerts.alert_book import alert_identifier
from public_alerts.feed import ATOM_NS
from public_alerts.policy import SAMPLE_POLICY
from public_alerts.webhooks import IDEMPOTENCY_HEADER
from wire_contract import WARNINGS_TOPIC, WarningMessage, encode_warning

SECRET = "bench-secret"
PASSWORD = "benchmark-password"
STATION = "kim_long"


def _policy(path: Path, hook_url: str, base_url: str) -> Path:
    data: dict[str, Any] = yaml.safe_load(SAMPLE_POLICY.read_text())
    data["base_url"] = base_url
    data["channels"]["sms_gateway"].update(url=hook_url, secret_env="BENCH_SMS_SECRET", max_per_minute=60_000)
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def _warning(rule: str, level: int, previous: int, ts_ms: int) -> WarningMessage:
    return WarningMessage(
        warning_id=f"{rule}:{STATION}.level:{ts_ms}:{previous}->{level}", rule=rule, station=STATION,
        sensor=f"{STATION}.level", level=level, previous_level=previous, value=1.0 + 0.6 * level, ts_ms=ts_ms,
        thresholds_m=(1.0, 2.0, 3.5), thresholds_source="bench",
    )  # fmt: skip


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _wait(condition: Any, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.005)


class FeedWatcher(threading.Thread):
    """Polls the Atom feed over HTTP every 5 ms and notes when each identifier first appears."""

    def __init__(self, url: str, poll_s: float) -> None:
        super().__init__(name="feed-watcher", daemon=True)
        self.url = url
        self.poll_s = poll_s
        self.seen: dict[str, float] = {}
        self.stop_flag = threading.Event()

    def run(self) -> None:
        with httpx.Client() as client:
            while not self.stop_flag.is_set():
                feed = etree.fromstring(client.get(self.url).content)
                now = time.perf_counter()
                for identifier in feed.xpath("//a:entry/a:id/text()", namespaces={"a": ATOM_NS}):
                    self.seen.setdefault(str(identifier), now)
                # not flat out: in this process a busy poller takes the GIL from the app
                self.stop_flag.wait(self.poll_s)


class PageWatcher(threading.Thread):
    """The operator page's event stream: each alert's `published` audit entry (the sender's commit,
    `at_ms` on the wall clock) and when the page had it."""

    def __init__(self, client: httpx.Client) -> None:
        super().__init__(name="page-watcher", daemon=True)
        self.client = client
        self.sent: dict[str, float] = {}
        self.sent_at_ms: dict[str, int] = {}
        self.opened = threading.Event()

    def run(self) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the app closing the stream at the end
            self._listen()

    def _listen(self) -> None:
        with self.client.stream("GET", "/api/events", timeout=None) as stream:
            self.opened.set()
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    audit = json.loads(line[6:])["audit"]
                    if audit["action"] == "published":
                        self.sent.setdefault(audit["detail"]["identifier"], time.perf_counter())
                        self.sent_at_ms.setdefault(audit["detail"]["identifier"], audit["at_ms"])


class Bench:
    def __init__(self, app: AppThread, broker: Mosquitto, receiver: WebhookReceiver, feed_poll_s: float) -> None:
        self.app = app
        self.receiver = receiver
        self.client = httpx.Client(base_url=app.url, timeout=30)
        self.client.post("/api/login", json={"username": "lan", "password": PASSWORD}).raise_for_status()
        self.approved_wall_ms: dict[str, float] = {}
        self.feed = FeedWatcher(f"{app.url}/public/alerts.atom", feed_poll_s)
        self.page = PageWatcher(httpx.Client(base_url=app.url, cookies=self.client.cookies))
        self.mqtt = broker.client("harness", protocol=mqtt.MQTTv5)
        self.mqtt.connect("127.0.0.1", broker.port)
        self.mqtt.loop_start()
        self.feed.start()
        self.page.start()
        assert self.page.opened.wait(10), "the event stream did not open"

    def close(self) -> None:
        self.feed.stop_flag.set()
        self.mqtt.loop_stop()
        self.mqtt.disconnect()

    def publish(self, warnings: list[WarningMessage]) -> dict[str, float]:
        """Back to back at QoS 1, as one batch of decisions; when each left (the clock's start)."""
        started = {}
        infos = []
        for warning in warnings:
            started[warning.warning_id] = time.perf_counter()
            infos.append(self.mqtt.publish(WARNINGS_TOPIC, encode_warning(warning), qos=1))
        for info in infos:
            info.wait_for_publish(10)
        return started

    def drafts(self, warnings: list[WarningMessage]) -> dict[str, int]:
        """Wait for the desk's drafts; the warning id of each transition."""
        wanted = {w.warning_id for w in warnings}
        found: dict[str, int] = {}

        def drafted() -> bool:
            for alert in self.client.get("/api/public/alerts?state=draft&limit=1000").json():
                if alert["transition_id"] in wanted:
                    found[alert["transition_id"]] = alert["warning_id"]
            return len(found) == len(wanted)

        _wait(drafted, "the drafts")
        return found

    def approve(self, warning_ids: dict[str, int]) -> dict[str, float]:
        """All at once, from as many threads: when each POST left."""
        started: dict[str, float] = {}

        def one(item: tuple[str, int]) -> None:
            self.approved_wall_ms[item[0]] = time.time() * 1000
            started[item[0]] = time.perf_counter()
            self.client.post(f"/api/warnings/{item[1]}/approve").raise_for_status()

        with ThreadPoolExecutor(max_workers=len(warning_ids)) as pool:
            list(pool.map(one, warning_ids.items()))
        return started

    def arrivals(self, started: dict[str, float], sent: bool) -> dict[str, list[float]]:
        """Wait until each transition's alert is in the feed and its webhook arrived (and was sent); ms each."""
        ids = {key: alert_identifier(key) for key in started}

        def hooks() -> dict[str, float]:
            return {r.headers[IDEMPOTENCY_HEADER]: r.at_perf for r in self.receiver.accepted()}

        _wait(lambda: all(i in self.feed.seen for i in ids.values()), "the alerts in the feed")
        _wait(lambda: all(k in hooks() for k in started), "the webhooks")
        if sent:
            _wait(lambda: all(i in self.page.sent for i in ids.values()), "the sent alerts on the page")
        arrived = hooks()
        result = {
            "feed": [(self.feed.seen[ids[k]] - t) * 1000 for k, t in started.items()],
            "webhook": [(arrived[k] - t) * 1000 for k, t in started.items()],
        }
        if sent:  # the sender's commit (wall clock, whole ms), and the page told
            result["sent"] = [self.page.sent_at_ms[ids[k]] - self.approved_wall_ms[k] for k in started]
            result["on the page"] = [(self.page.sent[ids[k]] - t) * 1000 for k, t in started.items()]
        return result

    def round(self, number: int, count: int) -> dict[str, list[float]]:
        ts = int(time.time() * 1000)
        rules = [f"bench_{number}_{n}" for n in range(count)]
        rise = [_warning(rule, 3, 0, ts) for rule in rules]
        self.publish(rise)
        approved = self.arrivals(self.approve(self.drafts(rise)), sent=True)
        fall = [_warning(rule, 2, 3, ts + 1000) for rule in rules]
        followed = self.arrivals(self.publish(fall), sent=False)
        clear = [_warning(rule, 0, 2, ts + 2000) for rule in rules]
        self.publish(clear)
        _wait(lambda: not any(alert_identifier(w.warning_id) in self.feed_ids() for w in fall), "the Cancels")
        named = {f"approve -> {k}": v for k, v in approved.items()}
        return named | {f"decision -> {k}": v for k, v in followed.items()}

    def feed_ids(self) -> set[str]:
        feed = etree.fromstring(self.client.get("/public/alerts.atom").content)
        return {str(i) for i in feed.xpath("//a:entry/a:id/text()", namespaces={"a": ATOM_NS})}


def _app(root: Path, broker: Mosquitto, receiver: WebhookReceiver) -> AppThread:
    port = free_port()
    config = IocConfig(
        database=DatabaseConfig(url=f"sqlite:///{root / 'ioc.sqlite'}"),
        broker=IocBrokerConfig.model_validate(broker.broker_config("monitor", "bench-ioc")),
        # no InfluxDB: the board's readings are not what is measured (refreshed once an hour)
        influx=IocInfluxConfig(url="http://127.0.0.1:1", latest_refresh_s=3600),
        http=HttpConfig(port=port),
        public_policy=_policy(root / "policy.yaml", receiver.url, f"http://127.0.0.1:{port}"),
    )
    os.environ["BENCH_SMS_SECRET"] = SECRET
    app = AppThread(Desk(config)).start()
    assert app.desk.feed.consumer.connected.wait(10), "the IOC's feed did not connect"
    with app.desk.sessions.begin() as db:
        add_user(db, "lan", PASSWORD, Role.operator, actor="bench")
    return app


@contextlib.contextmanager
def _running(feed_poll_s: float) -> Iterator[Bench]:
    with tempfile.TemporaryDirectory() as folder, WebhookReceiver() as receiver:
        root = Path(folder)
        broker = Mosquitto(root, max_inflight_messages=1000).start()
        app = _app(root, broker, receiver)
        bench = Bench(app, broker, receiver, feed_poll_s)
        try:
            yield bench
        finally:
            bench.close()
            app.server.force_exit = True  # the event stream is still open: do not wait for it
            logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)  # nor log its cancellation
            app.stop()
            broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warnings", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--feed-poll-ms", type=float, default=5.0, help="how often the aggregator reads the feed")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the desk's "no InfluxDB" warnings
    results: dict[int, dict[str, list[float]]] = {}
    with _running(args.feed_poll_ms / 1000) as bench:
        number = 0
        for count in (1, args.warnings):
            merged: dict[str, list[float]] = {}
            for _ in range(args.rounds):
                number += 1
                for name, values in bench.round(number, count).items():
                    merged.setdefault(name, []).extend(values)
            results[count] = merged
    single, many = results[1], results[args.warnings]
    print(f"public alerts through the IOC app, {args.rounds} rounds; Mosquitto, SQLite (WAL)")
    print(f"feed polled over HTTP every {args.feed_poll_ms:g} ms; load average {os.getloadavg()[0]:.1f}")
    print(f"{'':34}{'1 warning':>14}{f'{args.warnings} at once':>16}{'ratio':>8}")
    for name in single:
        for label, q in (("p50", 0.5), ("p99", 0.99)):
            a, b = _percentile(single[name], q), _percentile(many[name], q)
            print(f"{name + ' ' + label:34}{a:>11.1f} ms{b:>13.1f} ms{b / a:>7.1f}x")
    print(f"(median, {args.warnings} at once, approve -> sent: {statistics.median(many['approve -> sent']):.1f} ms)")


if __name__ == "__main__":
    main()

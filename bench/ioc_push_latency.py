"""Push latency: from the rule service's decision to the operator's page, p50 and p99.

    .venv/bin/python bench/ioc_push_latency.py [--rounds 200]

Starts Mosquitto and InfluxDB, the real rule service (shipped rules: Lệ Thủy's level rule)
in this process and `floodwatch-ioc run` in its own. Each round publishes one reading of
le_thuy.level on the telemetry topic, alternately 2.50 m (BĐ2) and 0.50 m (all clear), so
every reading is a transition. Three instants are taken per transition, all on this
machine's clock:

    published   the reading left the benchmark (QoS 1, PUBACK received)
    on the wire the rule service's WarningMessage reached a plain MQTT subscriber: the decision
    on the page  the warning's change arrived on the page's event stream (GET /api/events)

and printed side by side: the rule service's share (published -> on the wire), the IOC's
(on the wire -> on the page: feed, database commit, push hub, SSE) and the whole. The aim:
p99 < 1 s from the decision to the page.
"""

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devstack.ioc_process import IocProcess
from devstack.services import InfluxDB, Mosquitto, free_port
from ioc.accounts import Role, add_user
from ioc.database import migrate, open_engine, session_factory
from rules.service import RulesService
from rules.service_config import RulesServiceConfig
from wire_contract import WARNINGS_TOPIC, Quality, Reading, TelemetryBatch, encode_telemetry, telemetry_topic

PASSWORD = "benchmark-password"


class Clock:
    """When each transition id was seen, per observer, and a way to wait for it."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, float]] = {"wire": {}, "page": {}}
        self.condition = threading.Condition()

    def mark(self, observer: str, transition_id: str) -> None:
        with self.condition:
            self.seen[observer].setdefault(transition_id, time.monotonic())
            self.condition.notify_all()

    def wait_both(self, count: int, timeout_s: float) -> bool:
        with self.condition:
            return self.condition.wait_for(
                lambda: len(self.seen["wire"]) >= count and len(self.seen["page"]) >= count, timeout_s
            )


def listen_page(url: str, token: str, clock: Clock, opened: threading.Event, stop: threading.Event) -> None:
    with httpx.stream("GET", f"{url}/api/events", headers={"Authorization": f"Bearer {token}"}, timeout=None) as stream:
        opened.set()
        for line in stream.iter_lines():
            if line.startswith("data: "):
                change = json.loads(line[6:])
                if change["audit"]["actor"] == "rules":
                    clock.mark("page", change["audit"]["detail"]["transition_id"])
            if stop.is_set():
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-ioc-push-"))
    mosquitto = Mosquitto(root).start()
    influx = InfluxDB(root, auth=False).start()
    rules: RulesService | None = None
    server: IocProcess | None = None
    stop = threading.Event()
    try:
        database = f"sqlite:///{root / 'ioc.sqlite'}"
        engine = open_engine(database)
        migrate(engine)
        with session_factory(engine).begin() as db:
            add_user(db, "bench", PASSWORD, Role.viewer, actor="bench")
        engine.dispose()
        server = IocProcess(
            root,
            "ioc",
            {
                "database": {"url": database},
                "broker": {"port": mosquitto.port, "client_id": "bench-ioc"},
                "influx": {"url": influx.url, "database": "floodwatch"},
                "http": {"port": free_port()},
            },
        ).start()
        url = server.url
        rules_config = RulesServiceConfig.model_validate(
            {"broker": {"port": mosquitto.port}, "influx": {"url": influx.url}, "tick_s": 0}
        )
        rules = RulesService(rules_config).start()
        rules.influx.create_database()

        clock = Clock()
        wire = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-wire", protocol=mqtt.MQTTv5)
        wire.on_message = lambda _c, _u, m: clock.mark("wire", json.loads(m.payload)["warning_id"])
        subscribed = threading.Event()
        wire.on_subscribe = lambda *_: subscribed.set()
        wire.on_connect = lambda c, *_: c.subscribe(WARNINGS_TOPIC, qos=1)
        wire.connect("127.0.0.1", mosquitto.port)
        wire.loop_start()
        token = httpx.post(f"{url}/api/login", json={"username": "bench", "password": PASSWORD}).headers[
            "x-session-token"
        ]
        opened = threading.Event()
        page = threading.Thread(target=listen_page, args=(url, token, clock, opened, stop), daemon=True)
        page.start()
        if not (opened.wait(10) and subscribed.wait(10)):
            raise RuntimeError("the page's event stream or the wire subscriber did not open")

        gateway = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-gateway", protocol=mqtt.MQTTv5)
        gateway.connect("127.0.0.1", mosquitto.port)
        gateway.loop_start()
        published: list[float] = []
        last_ts = 0
        for n in range(args.rounds):
            last_ts = max(last_ts + 1, int(time.time() * 1000))
            reading = Reading(
                sensor="le_thuy.level",
                station="le_thuy",
                quantity="water_level",
                value=2.5 if n % 2 == 0 else 0.5,
                unit="m",
                ts_ms=last_ts,
                quality=Quality.good,
            )
            batch = TelemetryBatch(gateway="gw-bench", seq=n, readings=(reading,))
            info = gateway.publish(telemetry_topic("gw-bench"), encode_telemetry(batch), qos=1)
            info.wait_for_publish(10)
            published.append(time.monotonic())
            if not clock.wait_both(n + 1, 10):
                raise RuntimeError(f"round {n}: the transition did not reach both observers within 10 s")
        gateway.loop_stop()
        wire.loop_stop()
    finally:
        stop.set()
        if rules is not None:
            rules.stop()
        if server is not None:
            server.stop()
        influx.stop()
        mosquitto.stop()

    # Transition ids in the order they were decided (one per round).
    order = sorted(clock.seen["wire"], key=clock.seen["wire"].__getitem__)
    wire_at = np.array([clock.seen["wire"][t] for t in order])
    page_at = np.array([clock.seen["page"][t] for t in order])
    sent = np.array(published)
    parts = {
        "reading -> decision on the wire (rule service)": (wire_at - sent) * 1000,
        "decision -> page (IOC: feed, commit, push)": (page_at - wire_at) * 1000,
        "reading -> page (whole path)": (page_at - sent) * 1000,
    }
    print(f"{args.rounds} transitions, one at a time")
    print(f"{'':50}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, values in parts.items():
        print(f"{name:50}{np.percentile(values, 50):>9.1f}{np.percentile(values, 99):>9.1f}{values.max():>9.1f}")
    ratio = np.percentile(parts["reading -> page (whole path)"], 50) / np.percentile(
        parts["reading -> decision on the wire (rule service)"], 50
    )
    print(f"whole path / rule service alone, p50: {ratio:.2f}x")


if __name__ == "__main__":
    main()

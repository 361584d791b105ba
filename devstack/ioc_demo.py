"""The demo's IOC app (scripts/demo): over the demo's broker (the `monitor` account) and
InfluxDB (the `reader` account), its database beside the demo's data, on
http://127.0.0.1:8470 when that port is free, with a demo login.

The public-alert policy is the sample's, with its SMS gateway webhook pointed at a local
stand-in (`sms_url`) and signed with a key made for the run: an alert an operator approves in
the desk is delivered there as it would be to the real SMS gateway."""

import os
import secrets
import socket
from pathlib import Path

import yaml

from devstack.services import InfluxDB, Mosquitto, free_port
from ioc.accounts import Role
from ioc.config import DatabaseConfig, HttpConfig, IocBrokerConfig, IocConfig, IocInfluxConfig
from ioc.desk import Desk
from ioc.serve import AppThread
from public_alerts.policy import SAMPLE_POLICY

DEMO_LOGIN = ("demo", "floodwatch-demo")
DEMO_PORT = 8470


def start_demo_app(
    data_dir: Path, mosquitto: Mosquitto, influxdb: InfluxDB, sms_url: str, database: str = "floodwatch"
) -> AppThread:
    config = IocConfig(
        public_policy=_demo_policy(data_dir, sms_url),
        database=DatabaseConfig(url=f"sqlite:///{data_dir / 'ioc.sqlite'}"),
        broker=IocBrokerConfig.model_validate(mosquitto.broker_config("monitor", "floodwatch-ioc-demo")),
        influx=IocInfluxConfig.model_validate(influxdb.influx_config("reader", database)),
        http=HttpConfig(port=DEMO_PORT if _port_free(DEMO_PORT) else free_port()),
    )
    app = AppThread(Desk(config)).start()
    app.ensure_user(*DEMO_LOGIN, Role.operator)
    return app


def _demo_policy(data_dir: Path, sms_url: str) -> Path:
    policy = yaml.safe_load(SAMPLE_POLICY.read_text(encoding="utf-8"))
    sms = policy["channels"]["sms_gateway"]
    sms["url"] = sms_url
    os.environ.setdefault(sms["secret_env"], secrets.token_hex(32))  # the app reads webhook keys from its environment
    path = data_dir / "public-policy.yaml"
    path.write_text(yaml.safe_dump(policy, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True

"""The demo's IOC app (scripts/demo): over the demo's broker (the `monitor` account) and
InfluxDB (the `reader` account), its database beside the demo's data, on
http://127.0.0.1:8470 when that port is free, with a demo login."""

import socket
from pathlib import Path

from devstack.services import InfluxDB, Mosquitto, free_port
from ioc.accounts import Role
from ioc.config import DatabaseConfig, HttpConfig, IocBrokerConfig, IocConfig, IocInfluxConfig
from ioc.desk import Desk
from ioc.serve import AppThread

DEMO_LOGIN = ("demo", "floodwatch-demo")
DEMO_PORT = 8470


def start_demo_app(data_dir: Path, mosquitto: Mosquitto, influxdb: InfluxDB, database: str = "floodwatch") -> AppThread:
    config = IocConfig(
        database=DatabaseConfig(url=f"sqlite:///{data_dir / 'ioc.sqlite'}"),
        broker=IocBrokerConfig.model_validate(mosquitto.broker_config("monitor", "floodwatch-ioc-demo")),
        influx=IocInfluxConfig.model_validate(influxdb.influx_config("reader", database)),
        http=HttpConfig(port=DEMO_PORT if _port_free(DEMO_PORT) else free_port()),
    )
    app = AppThread(Desk(config)).start()
    app.ensure_user(*DEMO_LOGIN, Role.operator)
    return app


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True

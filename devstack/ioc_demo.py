"""The demo's IOC app (scripts/demo): over the demo's broker and InfluxDB, its database beside
the demo's data, on http://127.0.0.1:8470 when that port is free, with a demo login."""

import socket
from pathlib import Path

from devstack.services import free_port
from ioc.accounts import Role
from ioc.config import DatabaseConfig, HttpConfig, IocConfig
from ioc.desk import Desk
from ioc.serve import AppThread

DEMO_LOGIN = ("demo", "floodwatch-demo")
DEMO_PORT = 8470


def start_demo_app(data_dir: Path, mqtt_port: int, influx_url: str, database: str = "floodwatch") -> AppThread:
    defaults = IocConfig()
    config = defaults.model_copy(
        update={
            "database": DatabaseConfig(url=f"sqlite:///{data_dir / 'ioc.sqlite'}"),
            "broker": defaults.broker.model_copy(update={"port": mqtt_port, "client_id": "floodwatch-ioc-demo"}),
            "influx": defaults.influx.model_copy(update={"url": influx_url, "database": database}),
            "http": HttpConfig(port=DEMO_PORT if _port_free(DEMO_PORT) else free_port()),
        }
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

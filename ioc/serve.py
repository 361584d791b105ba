"""Serve the IOC app from a thread of the calling process: the demo, the tests and the benchmarks.

`floodwatch-ioc run` serves it in the foreground instead; both build the app the same way.
"""

import threading
import time

import uvicorn

from ioc.accounts import AccountError, Role, add_user
from ioc.api import create_app
from ioc.desk import Desk


class AppThread:
    def __init__(self, desk: Desk, log_level: str = "warning") -> None:
        self.desk = desk
        self.url = f"http://{desk.config.http.host}:{desk.config.http.port}"
        config = uvicorn.Config(
            create_app(desk), host=desk.config.http.host, port=desk.config.http.port, log_level=log_level
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="ioc-uvicorn", daemon=True)

    def start(self, timeout_s: float = 30.0) -> "AppThread":
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the IOC app did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def ensure_user(self, username: str, password: str, role: Role) -> None:
        """Add an account unless it exists (the demo's login survives a restart on the same data)."""
        try:
            with self.desk.sessions.begin() as db:
                add_user(db, username, password, role, actor="demo")
        except AccountError:
            pass

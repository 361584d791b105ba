"""Start the real Mosquitto and InfluxDB (Debian packages) in a directory of our own.

Each service listens on a free loopback port, keeps its data under `root`, and
is stopped with SIGTERM (then SIGKILL) by `stop()`. Tests, the demo and the
benchmarks all start their peers this way, never on fixed ports.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# Mosquitto's default max_queued_messages (1000) silently drops QoS 1 messages
# for a slow or absent persistent subscriber. The centre must not lose readings
# while ingest restarts or InfluxDB is down, so the broker holds far more,
# bounded by bytes so a runaway backlog cannot exhaust memory.
MOSQUITTO_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
{user_line}
persistence true
persistence_location {data}/
autosave_interval 5
max_queued_messages 2000000
max_queued_bytes 2000000000
max_inflight_messages {max_inflight_messages}
max_packet_size 2000000
log_dest file {log}
log_type error
log_type warning
log_type notice
"""

INFLUXDB_CONF = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{data}/meta"
[data]
  dir = "{data}/data"
  wal-dir = "{data}/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = true
  run-interval = "1s"
"""


class ServiceError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary(name: str, *candidates: str) -> str:
    for path in (shutil.which(name), *candidates):
        if path and os.access(path, os.X_OK):
            return path
    raise ServiceError(f"{name} not found: run scripts/bootstrap (installs the Debian package)")


@dataclass
class Service:
    name: str
    root: Path
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        return self.root / f"{self.name}.log"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def pause(self) -> None:
        """SIGSTOP: a hung server (its port still accepts connections, nothing answers)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: a crash, for fault-injection tests."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _launch(self, argv: list[str]) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def _wait_until(self, ready: Callable[[], bool], timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServiceError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            if ready():
                return
            time.sleep(0.05)
        raise ServiceError(f"{self.name} not ready on port {self.port} after {timeout_s}s; see {self.log_path}")


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Mosquitto(Service):
    def __init__(self, root: Path, port: int | None = None, *, max_inflight_messages: int = 100) -> None:
        """`max_inflight_messages`: unacknowledged messages per client (benchmarks raise it)."""
        super().__init__("mosquitto", root, port or free_port())
        self.max_inflight_messages = max_inflight_messages

    def start(self) -> "Mosquitto":
        data = self.root / "mosquitto"
        data.mkdir(parents=True, exist_ok=True)
        conf = self.root / "mosquitto.conf"
        # Started as root, Mosquitto drops to the `mosquitto` user, which cannot write into
        # private temp directories: its persistence (and every session) would be lost on restart.
        conf.write_text(
            MOSQUITTO_CONF.format(
                user_line="user root" if os.geteuid() == 0 else "",
                port=self.port,
                data=data,
                log=self.root / "mosquitto.broker.log",
                max_inflight_messages=self.max_inflight_messages,
            )
        )
        self._launch([_binary("mosquitto", "/usr/sbin/mosquitto"), "-c", str(conf)])
        self._wait_until(lambda: _port_open(self.port))
        return self


class InfluxDB(Service):
    def __init__(self, root: Path, port: int | None = None) -> None:
        super().__init__("influxdb", root, port or free_port())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "InfluxDB":
        data = self.root / "influxdb"
        data.mkdir(parents=True, exist_ok=True)
        conf = self.root / "influxdb.conf"
        conf.write_text(INFLUXDB_CONF.format(port=self.port, rpc_port=free_port(), data=data))
        self._launch([_binary("influxd", "/usr/bin/influxd"), "-config", str(conf)])
        self._wait_until(self._pings, timeout_s=60)
        return self

    def _pings(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ping", timeout=0.5).status_code == 204
        except httpx.HTTPError:
            return False


def _postgres_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    return _binary(name, *(str(path) for path in reversed(found)))


class PostgreSQL(Service):
    """Debian's PostgreSQL server, one cluster of its own (trust auth on loopback, user `floodwatch`).

    PostgreSQL refuses to run as root: run as root, the cluster lives in a directory of its
    own under the system temp dir (pytest's are private to root) owned by the `postgres` user.
    """

    user = "floodwatch"

    def __init__(self, root: Path, port: int | None = None) -> None:
        super().__init__("postgresql", root, port or free_port())
        self.cluster: Path | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"

    def start(self) -> "PostgreSQL":
        as_root = os.geteuid() == 0
        self.cluster = Path(tempfile.mkdtemp(prefix="floodwatch-pg-"))
        if as_root:
            shutil.chown(self.cluster, "postgres", "postgres")
        user = group = "postgres" if as_root else None
        data = self.cluster / "data"
        with self.log_path.open("ab") as log:
            subprocess.run(
                [_postgres_bin("initdb"), "-D", str(data), "-U", self.user, "--auth=trust", "-E", "UTF8", "--no-sync"],
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
                user=user,
                group=group,
            )
            self.process = subprocess.Popen(
                [
                    _postgres_bin("postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.cluster),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=user,
                group=group,
            )
        self._wait_until(self._accepting)
        return self

    def _accepting(self) -> bool:
        probe = [_postgres_bin("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user]
        return subprocess.run(probe, check=False).returncode == 0

    def stop(self) -> None:
        super().stop()
        if self.cluster is not None:
            shutil.rmtree(self.cluster, ignore_errors=True)

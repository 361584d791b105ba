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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from broker_access.directory import AccessDirectory
from broker_access.passwords import new_password
from centre.broker_login import BrokerLogin
from centre.influx import InfluxV1
from typed_config.secrets import read_secret_file, write_secret_file

# Mosquitto's default max_queued_messages (1000) silently drops QoS 1 messages
# for a slow or absent persistent subscriber. The centre must not lose readings
# while ingest restarts or InfluxDB is down, so the broker holds far more,
# bounded by bytes so a runaway backlog cannot exhaust memory.
MOSQUITTO_CONF = """\
listener {port} 127.0.0.1
{access}
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
pid_file {pid}
"""

# Secure mode: TLS with the project's server certificate, no anonymous clients, passwords
# and ACLs from an access directory (`broker_access`). Plain mode is for tests of other things.
MOSQUITTO_SECURE = """\
cafile {ca}
certfile {cert}
keyfile {key}
tls_version tlsv1.2
allow_anonymous false
password_file {passwords}
acl_file {acl}"""

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
  auth-enabled = {auth}
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
    def __init__(
        self,
        root: Path,
        port: int | None = None,
        *,
        max_inflight_messages: int = 100,
        access: AccessDirectory | None = None,
    ) -> None:
        """`max_inflight_messages`: unacknowledged messages per client (benchmarks raise it).
        `access`: TLS, passwords and ACLs from this access directory; without it, plain and open."""
        super().__init__("mosquitto", root, port or free_port())
        self.max_inflight_messages = max_inflight_messages
        self.access = access

    @property
    def pid_path(self) -> Path:
        return self.root / "mosquitto.pid"

    def login(self, account: str) -> BrokerLogin:
        """How `account` of the access registry connects (CA and password); plain mode: nothing."""
        if self.access is None:
            return BrokerLogin()
        password = read_secret_file(self.access.secret_path(account))
        return BrokerLogin(ca_file=self.access.ca_path, username=account, password=password)

    def client(self, account: str = "harness", client_id: str = "", **options: Any) -> mqtt.Client:
        """A paho client (not yet connected) set up to connect as `account`: TLS against the
        project CA and its password in secure mode. `options` go to `paho.mqtt.client.Client`."""
        options.setdefault("protocol", mqtt.MQTTv311)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, **options)
        self.login(account).apply(client)
        return client

    def broker_config(self, account: str, client_id: str) -> dict[str, Any]:
        """The `broker:` section of a centre service's config for `account` (as YAML would hold it)."""
        return self.gateway_mqtt(account) | {"client_id": client_id}

    def gateway_mqtt(self, account: str) -> dict[str, Any]:
        """The `mqtt:` section of a gateway config for `account`, its gateway id (added if new):
        the connection settings the gateway and the centre's services spell the same way."""
        config: dict[str, Any] = {"host": "127.0.0.1", "port": self.port}
        if self.access is not None:
            self.ensure_account(account)
            config |= {
                "tls_ca_file": str(self.access.ca_path),
                "username": account,
                "password": {"file": str(self.access.secret_path(account))},
            }
        return config

    def ensure_account(self, account: str) -> None:
        """Add gateway `account` to the registry if it is not there, and wait until the
        reloaded broker lets it in (SIGHUP has no reply: a connection attempt is the proof)."""
        assert self.access is not None
        if account in self.access.registry().usernames():
            return
        self.access.add_gateway(account)
        self.reload()
        self.wait_for_login(account)

    def wait_for_login(self, account: str, timeout_s: float = 10) -> None:
        """Until `account`'s current password is accepted (after a reload)."""
        self._wait_until(lambda: self._accepts(account), timeout_s=timeout_s)

    def _accepts(self, account: str) -> bool:
        client = self.client(account, f"probe-{account}")
        try:
            client.connect("127.0.0.1", self.port, keepalive=5)
        except OSError:
            return False
        accepted = threading.Event()
        client.on_connect = lambda _c, _u, _f, reason, _p: accepted.set() if not reason.is_failure else None
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and not accepted.is_set() and client.loop(0.05) == 0:
            pass
        client.disconnect()
        return accepted.is_set()

    def reload(self) -> None:
        """SIGHUP: reread the password and ACL files (after `floodwatch-admin` changed them)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGHUP)

    def _access_lines(self) -> str:
        if self.access is None:
            return "allow_anonymous true"
        a = self.access
        return MOSQUITTO_SECURE.format(
            ca=a.ca_path,
            cert=a.server_cert_path,
            key=a.server_key_path,
            passwords=a.password_path,
            acl=a.acl_path,
        )

    def start(self) -> "Mosquitto":
        data = self.root / "mosquitto"
        data.mkdir(parents=True, exist_ok=True)
        conf = self.root / "mosquitto.conf"
        # Started as root, Mosquitto drops to the `mosquitto` user, which cannot write into
        # private temp directories: its persistence (and every session) would be lost on restart.
        conf.write_text(
            MOSQUITTO_CONF.format(
                user_line="user root" if os.geteuid() == 0 else "",
                access=self._access_lines(),
                pid=self.pid_path,
                port=self.port,
                data=data,
                log=self.root / "mosquitto.broker.log",
                max_inflight_messages=self.max_inflight_messages,
            )
        )
        self._launch([_binary("mosquitto", "/usr/sbin/mosquitto"), "-c", str(conf)])
        self._wait_until(lambda: _port_open(self.port))
        return self


# Accounts of an InfluxDB started with `auth=True`: what each may do to a database.
INFLUX_ACCOUNTS = {"writer": "ALL", "reader": "READ"}  # ingest and the rule service; dashboards and the IOC app


class InfluxDB(Service):
    def __init__(self, root: Path, port: int | None = None, *, auth: bool = True) -> None:
        """`auth` (on unless said otherwise, as in production): an admin, a writer and a reader
        account (passwords in 0600 files under `root/influx-secrets/`, made at the first start).
        `auth=False` is for benchmarks and tools that measure or draw, not who gets in."""
        super().__init__("influxdb", root, port or free_port())
        self.auth = auth

    def secret_path(self, account: str) -> Path:
        return self.root / "influx-secrets" / account

    def credentials(self, account: str) -> tuple[str, str]:
        return account, read_secret_file(self.secret_path(account))

    def influx_config(self, account: str, database: str) -> dict[str, Any]:
        """The `influx:` section of a centre service's config, as YAML would hold it."""
        config: dict[str, Any] = {"url": self.url, "database": database}
        if self.auth:
            config |= {"username": account, "password": {"file": str(self.secret_path(account))}}
        return config

    def client(self, account: str, database: str, timeout_s: float = 10.0) -> InfluxV1:
        """A client on `database` logged in as `account` (`admin`, `writer`, `reader`);
        without authentication, an anonymous one (which may do anything)."""
        auth = self.credentials(account) if self.auth else None
        return InfluxV1(self.url, database, timeout_s=timeout_s, auth=auth)

    def grant(self, database: str) -> None:
        """What an administrator does before the services start: create `database`, and give
        the writer all rights on it and the reader read rights (without authentication: create it)."""
        admin = self.client("admin", database)
        try:
            admin.create_database()
            if self.auth:
                for account, privilege in INFLUX_ACCOUNTS.items():
                    admin.execute(f'GRANT {privilege} ON "{database}" TO "{account}"')
        finally:
            admin.close()

    def _create_accounts(self) -> None:
        """The first user must be an admin, and InfluxDB lets anyone create it while there is none."""
        if self.secret_path("admin").exists():
            return
        passwords = {name: new_password() for name in ("admin", *INFLUX_ACCOUNTS)}
        statements = [f"CREATE USER \"admin\" WITH PASSWORD '{passwords['admin']}' WITH ALL PRIVILEGES"]
        statements += [f"CREATE USER \"{name}\" WITH PASSWORD '{passwords[name]}'" for name in INFLUX_ACCOUNTS]
        for number, statement in enumerate(statements):
            auth = None if number == 0 else ("admin", passwords["admin"])
            response = httpx.post(f"{self.url}/query", params={"q": statement}, auth=auth, timeout=10)
            if response.status_code != 200 or "error" in response.text:
                raise ServiceError(f"influxdb: cannot create its accounts: HTTP {response.status_code} {response.text}")
        for name, password in passwords.items():
            write_secret_file(self.secret_path(name), password)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "InfluxDB":
        data = self.root / "influxdb"
        data.mkdir(parents=True, exist_ok=True)
        conf = self.root / "influxdb.conf"
        auth = "true" if self.auth else "false"
        conf.write_text(INFLUXDB_CONF.format(port=self.port, rpc_port=free_port(), data=data, auth=auth))
        self._launch([_binary("influxd", "/usr/bin/influxd"), "-config", str(conf)])
        self._wait_until(self._pings, timeout_s=60)
        if self.auth:
            self._create_accounts()
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

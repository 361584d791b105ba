"""The access directory the broker reads and `floodwatch-admin` edits.

    registry.yaml      the accounts (the source of truth; the two files below derive from it)
    acl                Mosquitto's acl_file
    passwords          Mosquitto's password_file (hashes only, 0600)
    ca.pem, ca.key     the project CA (the key 0600: keep it offline in production)
    server.pem/.key    the broker's certificate and key (0600)
    secrets/<name>     a new account's password (0600), to hand over once and delete

Every change rewrites `acl` and `passwords` whole (written aside, then renamed), so the
broker never reads half a file when it reloads.
"""

import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from broker_access.acl import acl_text
from broker_access.certs import make_ca, make_server_cert
from broker_access.passwords import hash_password, new_password, parse_password_file, password_file_text
from broker_access.registry import AccessRegistry, GatewayAccount, Role, ServiceAccount, dump_registry, load_registry
from typed_config.secrets import write_secret_file

DEFAULT_SERVICES = (
    ServiceAccount(name="ingest", role=Role.INGEST),
    ServiceAccount(name="rules", role=Role.RULES),
    ServiceAccount(name="warnings", role=Role.WARNINGS),
    ServiceAccount(name="monitor", role=Role.MONITOR),
)


class AccessError(ValueError):
    """A provisioning step that cannot be done; the message says which account and why."""


@dataclass(frozen=True)
class AccessDirectory:
    root: Path

    @property
    def registry_path(self) -> Path:
        return self.root / "registry.yaml"

    @property
    def acl_path(self) -> Path:
        return self.root / "acl"

    @property
    def password_path(self) -> Path:
        return self.root / "passwords"

    @property
    def ca_path(self) -> Path:
        return self.root / "ca.pem"

    @property
    def server_cert_path(self) -> Path:
        return self.root / "server.pem"

    @property
    def server_key_path(self) -> Path:
        return self.root / "server.key"

    def secret_path(self, name: str) -> Path:
        return self.root / "secrets" / name

    # -- operations -----------------------------------------------------------------------

    def init(
        self, hosts: list[str], gateways: Sequence[str] = (), extra_services: Sequence[ServiceAccount] = ()
    ) -> AccessRegistry:
        """A new CA, a server certificate for `hosts`, the centre's service accounts and `gateways`."""
        if self.registry_path.exists():
            raise AccessError(f"{self.registry_path} exists: this directory is already initialised")
        ca, ca_key = make_ca(self.root)
        make_server_cert(self.root, hosts, ca, ca_key)
        registry = AccessRegistry(
            services=[*DEFAULT_SERVICES, *extra_services], gateways=[GatewayAccount(id=g) for g in gateways]
        )
        hashes = {name: self._new_secret(name) for name in registry.usernames()}
        self._write(registry, hashes)
        return registry

    def registry(self) -> AccessRegistry:
        return load_registry(self.registry_path)

    def add_gateway(self, gateway: str) -> Path:
        registry = self.registry()
        if gateway in registry.usernames():
            raise AccessError(f"account {gateway!r} exists already; `rotate` gives it a new password")
        registry = registry.with_gateway(gateway)
        hashes = self._hashes()
        hashes[gateway] = self._new_secret(gateway)
        self._write(registry, hashes)
        return self.secret_path(gateway)

    def rotate(self, name: str) -> Path:
        registry = self.registry()
        if name not in registry.usernames():
            raise AccessError(f"no account {name!r} in {self.registry_path}")
        hashes = self._hashes()
        hashes[name] = self._new_secret(name)
        self._write(registry, hashes)
        return self.secret_path(name)

    def revoke(self, gateway: str) -> None:
        registry = self.registry()
        if gateway not in registry.gateway_ids():
            raise AccessError(f"no gateway {gateway!r} in {self.registry_path}")
        hashes = self._hashes()
        hashes.pop(gateway, None)
        self._write(registry.without_gateway(gateway), hashes)
        self.secret_path(gateway).unlink(missing_ok=True)

    # -- files --------------------------------------------------------------------------

    def _new_secret(self, name: str) -> str:
        password = new_password()
        write_secret_file(self.secret_path(name), password)
        return hash_password(password)

    def _hashes(self) -> dict[str, str]:
        return parse_password_file(self.password_path.read_text()) if self.password_path.exists() else {}

    def _write(self, registry: AccessRegistry, hashes: dict[str, str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        known = set(registry.usernames())
        write_secret_file(
            self.password_path, password_file_text({u: h for u, h in hashes.items() if u in known}).rstrip("\n")
        )
        _replace(self.acl_path, acl_text(registry))
        _replace(self.registry_path, dump_registry(registry))


def _replace(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.replace(path)


def reload_broker(pid_file: Path) -> int:
    """SIGHUP: Mosquitto rereads its password and ACL files; connected clients stay, those
    whose account is gone are disconnected. Returns the broker's pid."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError) as error:
        raise AccessError(f"cannot read the broker's pid from {pid_file}: {error}") from error
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as error:
        raise AccessError(f"cannot signal the broker (pid {pid} from {pid_file}): {error.strerror}") from error
    return pid

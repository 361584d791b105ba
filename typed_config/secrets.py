"""Secrets (broker passwords, InfluxDB passwords) are never written in a config file.

A config names where a secret is instead: a file readable by its owner only (mode 0600
or 0400: anything wider is refused, as ssh refuses a private key), or an environment
variable (systemd `LoadCredential=`/`Environment=`, a container's secret). Both sides
use this: the gateway's `mqtt.password` and the centre's `broker.password` and
`influx.password`.

    password: {file: /etc/floodwatch/mqtt.password}
    password: {env: FLOODWATCH_MQTT_PASSWORD}
"""

import os
import stat
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_SECRET_BYTES = 4096


class SecretError(ValueError):
    """A secret that cannot be used; `source` names the file or variable, `reason` says why."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"secret {source}: {reason}")
        self.source = source
        self.reason = reason


class SecretRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    file: Path | None = None
    env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.file is None) == (self.env is None):
            raise ValueError("name exactly one of `file` (mode 0600) or `env` (an environment variable)")
        return self

    def read(self) -> str:
        """The secret, without a trailing newline; `SecretError` says what is wrong."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise SecretError(f"${self.env}", "the environment variable is not set or empty")
            return value
        assert self.file is not None
        return read_secret_file(self.file)


def read_secret_file(path: Path) -> str:
    source = str(path)
    try:
        info = path.stat()
    except OSError as error:
        raise SecretError(source, f"cannot read it ({error.strerror})") from error
    if not stat.S_ISREG(info.st_mode):
        raise SecretError(source, "not a regular file")
    if info.st_mode & 0o077:
        raise SecretError(
            source, f"mode {stat.S_IMODE(info.st_mode):04o} lets others read it; `chmod 600 {path}` (owner only)"
        )
    if info.st_size > MAX_SECRET_BYTES:
        raise SecretError(source, f"{info.st_size} bytes; a secret is at most {MAX_SECRET_BYTES}")
    try:
        value = path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as error:
        raise SecretError(source, f"cannot read it ({error})") from error
    if not value:
        raise SecretError(source, "the file is empty")
    return value


def write_secret_file(path: Path, value: str) -> None:
    """Create or replace `path` with mode 0600 from the start (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    temporary.replace(path)

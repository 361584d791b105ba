"""Connection settings every centre service shares (ingest, the rule service, the IOC app).

One place for what a broker and an InfluxDB connection need, so each service's YAML
spells them the same way and a default lives once.
"""

import ssl
from pathlib import Path
from typing import Annotated, Self

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from centre.broker_login import BrokerLogin
from centre.influx import InfluxV1
from typed_config.secrets import SecretError, SecretRef


def http_url(text: str) -> str:
    """An http(s) address the InfluxDB client can send to (config files and `--influx-url` alike),
    or a ValueError that says what is wrong with it."""
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as error:
        raise ValueError(f"{text!r} is not a URL ({error})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{text!r}: give http://host:port or https://host:port")
    return text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrokerConfig(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    # The broker keeps each client's persistent session by this id: one per process.
    client_id: Annotated[str, Field(min_length=1, max_length=64)]
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 60
    # TLS: the project CA that signed the broker's certificate (the broker listens on 8883).
    # Without it the connection is plain TCP: only for a broker on the same host.
    tls_ca_file: Path | None = None
    # The account in the broker's access registry (`floodwatch-admin`), and where its
    # password is: `{file: /etc/floodwatch/ingest.password}` (mode 0600) or `{env: VAR}`.
    username: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    password: SecretRef | None = None

    @model_validator(mode="after")
    def _password_needs_user(self) -> Self:
        if self.password is not None and self.username is None:
            raise ValueError("`password` is set without `username`")
        return self

    def login(self) -> BrokerLogin:
        """TLS and credentials, the password read now (`SecretError` if it or the CA cannot be)."""
        if self.tls_ca_file is not None:
            try:
                ssl.create_default_context(cafile=str(self.tls_ca_file))
            except (OSError, ssl.SSLError) as error:
                raise SecretError(str(self.tls_ca_file), f"cannot load the CA certificate ({error})") from error
        password = self.password.read() if self.password is not None else None
        return BrokerLogin(ca_file=self.tls_ca_file, username=self.username, password=password)


class InfluxConfig(_Strict):
    url: Annotated[str, AfterValidator(http_url)] = "http://127.0.0.1:8086"
    database: str = "floodwatch"
    # InfluxDB 2.x/3: a token for the v1 compatibility API; the database maps to a bucket.
    token: str | None = None
    timeout_ms: Annotated[int, Field(ge=100, le=120_000)] = 10_000
    # InfluxDB 1.x with `auth-enabled = true`: the writer account (ingest, the rule service)
    # or the reader (dashboards, the IOC app); the password from a 0600 file or the environment.
    username: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    password: SecretRef | None = None

    @model_validator(mode="after")
    def _password_needs_user(self) -> Self:
        if (self.password is None) != (self.username is None):
            raise ValueError("`username` and `password` go together")
        return self

    def credentials(self) -> tuple[str, str] | None:
        """(user, password), the password read now (`SecretError` if it cannot be)."""
        if self.username is None or self.password is None:
            return None
        return self.username, self.password.read()

    def client(self) -> InfluxV1:
        """The client every centre service writes and queries with (`SecretError` if its password cannot be read)."""
        return InfluxV1(self.url, self.database, self.token, self.timeout_ms / 1000, auth=self.credentials())

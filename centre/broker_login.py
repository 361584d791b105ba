"""How a centre client proves who it is and checks the broker: TLS against the project CA,
then a username and password. `BrokerConfig.login()` builds it from a service's YAML (the
password from a 0600 file or the environment); every paho client of the centre applies it."""

import ssl
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt


@dataclass(frozen=True)
class BrokerLogin:
    ca_file: Path | None = None  # verify the broker's certificate against this CA (TLS on)
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def apply(self, client: mqtt.Client) -> None:
        if self.ca_file is not None:
            # Verifies the chain and that the certificate names the host we connect to.
            client.tls_set(ca_certs=str(self.ca_file), cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if self.username is not None:
            client.username_pw_set(self.username, self.password)

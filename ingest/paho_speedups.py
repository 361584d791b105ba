"""Per-message costs of paho-mqtt 2.x, taken out without changing what it does.

Profiling ingest (py-spy, 10 readings per message) showed paho's receive path as
about a third of the process's CPU, most of it in three places:

- every PUBLISH gets a `Properties` object whose `__init__` rebuilds two tables
  (27 names, 27 ids with their packet types) and whose `unpack` first `clear()`s
  by probing all 27 names: ~40 µs per message, more than decoding 10 readings.
  `SharedTableProperties` is the same class with the tables built once and shared
  (they are never mutated) and a `clear()` that deletes what is set;
- every message is matched against the (empty) per-topic callbacks:
  `LeanMatcher` skips the walk when no callback was ever added;
- every PUBACK is its own queued packet, its own wake-up of the network thread
  and its own send(): `ack_all` queues the PUBACKs of a batch as one write;
- paho reads a packet with four recv() calls (the type byte, each length byte,
  the rest) after a select(): `BufferedSocket` serves them from one recv() of up
  to 256 KiB and tells paho through `pending()` (the hook paho has for TLS's own
  buffer) that more is there, so it reads on without waiting in select().

`install()` swaps the first in for the module that decodes packets (idempotent);
`lean_client()` applies the others to one client. All of it leans on paho's private
internals, so it applies only to the paho releases it was measured and tested on
(`TESTED_PAHO`); any other release runs stock paho, and says so in the log.
"""

import logging
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator
from struct import Struct
from typing import Any

import paho.mqtt
import paho.mqtt._packet as paho_packet
import paho.mqtt.client as mqtt
from paho.mqtt.matcher import MQTTMatcher
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger(__name__)
TESTED_PAHO = ("2.1.", "2.2.")  # release prefixes whose internals these speedups were checked against
_TABLES = Properties(PacketTypes.PUBLISH)  # paho's own tables, built once
_OWN_ATTRIBUTES = frozenset(("packetType", "types", "names", "properties"))
_PUBACK = Struct("!BBH")  # command, remaining length 2, packet id


class SharedTableProperties(Properties):
    """paho's Properties with its lookup tables shared instead of rebuilt per packet."""

    def __init__(self, packetType: int) -> None:
        object.__setattr__(self, "packetType", packetType)
        object.__setattr__(self, "types", _TABLES.types)
        object.__setattr__(self, "names", _TABLES.names)
        object.__setattr__(self, "properties", _TABLES.properties)

    def clear(self) -> None:
        # paho's __setattr__ lets only property names (and the four above) be set.
        for name in [name for name in vars(self) if name not in _OWN_ATTRIBUTES]:
            delattr(self, name)


class LeanMatcher(MQTTMatcher):
    """MQTTMatcher that answers "no callbacks" without splitting the topic when it holds none."""

    def iter_match(self, topic: str) -> Iterator[Any]:
        if not self._root._children and self._root._content is None:
            return iter(())
        return super().iter_match(topic)  # type: ignore[no-any-return]


class BufferedSocket:
    """A connected TCP socket whose reads are served from a buffer filled by large recv() calls.

    recv() and pending() are the buffer's; everything else (send, fileno for select,
    setblocking, close, ...) is the socket's. Only paho's network thread reads.
    """

    READ_SIZE = 262_144

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.send = sock.send
        self.fileno = sock.fileno
        self._buffer = b""
        self._position = 0

    def recv(self, size: int) -> bytes:
        position = self._position
        if position >= len(self._buffer):
            data = self.sock.recv(max(size, self.READ_SIZE))  # b"" at EOF, BlockingIOError when empty
            if len(data) <= size:
                return data
            self._buffer, position = data, 0
        end = position + size
        self._position = end
        return self._buffer[position:end]

    def pending(self) -> int:
        return max(len(self._buffer) - self._position, 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


def _buffered(create: Callable[[], Any]) -> Callable[[], Any]:
    def create_socket() -> Any:
        sock = create()
        plain = isinstance(sock, socket.socket) and not isinstance(sock, ssl.SSLSocket)
        return BufferedSocket(sock) if plain and sock.type == socket.SOCK_STREAM else sock

    return create_socket


def applicable(version: str | None = None) -> bool:
    version = version if version is not None else getattr(paho.mqtt, "__version__", "")
    return version.startswith(TESTED_PAHO)


def install() -> None:
    """Decode received packets' properties with SharedTableProperties (process-wide, idempotent)."""
    if applicable() and getattr(paho_packet, "Properties", None) is Properties:
        paho_packet.Properties = SharedTableProperties  # type: ignore[misc]


def lean_client(client: mqtt.Client) -> mqtt.Client:
    if not applicable():
        log.warning(
            "paho_speedups_off",
            extra={"event": "paho_speedups_off", "paho": getattr(paho.mqtt, "__version__", "?"), "tested": TESTED_PAHO},
        )
        return client
    install()
    filtered = getattr(client, "_on_message_filtered", None)
    if type(filtered) is MQTTMatcher and not filtered._root._children:
        client._on_message_filtered = LeanMatcher()
    create = getattr(client, "_create_socket", None)  # called by connect() and every reconnect()
    if create is not None and getattr(create, "__name__", "") != "create_socket":
        client._create_socket = _buffered(create)  # type: ignore[method-assign]
    return client


def ack_all(client: mqtt.Client, messages: Iterable[mqtt.MQTTMessage]) -> None:
    """Acknowledge `messages` (manual ack) with one queued write.

    The same bytes on the wire as `client.ack(m.mid, m.qos)` per message: a PUBACK for
    each QoS 1 message, in order; QoS 2 messages go through `client.ack`, QoS 0 need none.
    """
    pubacks = bytearray()
    for message in messages:
        if message.qos == 1:
            pubacks += _PUBACK.pack(mqtt.PUBACK, 2, message.mid)
        elif message.qos == 2:
            client.ack(message.mid, message.qos)
    queue = getattr(client, "_packet_queue", None) if applicable() else None
    if pubacks and queue is not None:
        queue(mqtt.PUBACK, bytes(pubacks), 0, 1)
    elif pubacks:  # a paho without the private queue: one by one
        for offset in range(0, len(pubacks), _PUBACK.size):
            client.ack(_PUBACK.unpack_from(pubacks, offset)[2], 1)

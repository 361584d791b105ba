"""An MQTT consumer that acknowledges a message only after it has been handled.

QoS 1, a persistent session (MQTT 3.1.1 clean_session=False, or MQTT 5 clean_start=False
with a session expiry), and manual acknowledgement: worker threads hand the received messages to `handle` in
batches; a message's PUBACK goes out only when `handle` returned for it. If `handle`
raises, nothing is acknowledged and the batch is retried after a jittered, capped
backoff; if the process dies, the broker redelivers every unacknowledged message to
the next session with this client id.

One network thread owns the paho client and drives it through paho's public API for
an external loop (`socket`, `loop_read`, `loop_write`, `loop_misc`, `reconnect`):

- **Bounded memory.** Messages received and not yet acknowledged are held here, up to
  `max_queued_messages` and `max_queued_bytes` of payload. At either bound the thread
  stops reading the socket (TCP pushes back on the broker) and resumes as workers
  acknowledge. With MQTT 5 the Receive Maximum is also sent, but Mosquitto 2.0.11
  does not keep to it while it drains a queue, so it is not relied on. Packets are
  read one at a time (paho reads one per `loop_read` on a connection that publishes
  nothing of its own), so the bound is exact in messages; in bytes it may be passed
  by the one message whose read crossed it.
- **Acknowledgements in arrival order**, as MQTT requires, however many workers finish
  in whatever order: each message gets an arrival number, and PUBACKs are released
  from the front only.
- Every other call on the client is queued to this thread too (`call`), so paho is never
  used from two threads. What the service publishes (`publish`, `send`) goes on a second
  connection (`centre.mqtt_publisher`), so its PUBACKs never wait behind the backlog.

How acknowledgement breaks, and what is done about it: after a reconnect the broker
resends what was in flight with the same packet ids, so a PUBACK for a message of the
previous connection could acknowledge a different message of the new one. Every
message carries the number of its connection; messages of an older connection are
dropped unacknowledged (the broker has already resent them), and a worker retrying a
batch of an older connection gives it up.
"""

import contextlib
import logging
import queue
import random
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from centre.broker_login import BrokerLogin
from centre.mqtt_publisher import MqttPublisher, Publication

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 24 * 3600
BACKOFF_START_S = 0.2
BACKOFF_MAX_S = 30.0
RECONNECT_MAX_S = 10.0
READS_PER_TURN = 100  # packets read back to back before the next look at queued calls and writes
SELECT_S = 0.05

Handler = Callable[[list[mqtt.MQTTMessage]], None]


@dataclass(frozen=True)
class Delivery:
    connection: int
    arrival: int
    message: mqtt.MQTTMessage


@dataclass
class _Held:
    """Messages of the current connection not yet acknowledged, by arrival number."""

    connection: int = 0
    next_arrival: int = 0
    pending: dict[int, mqtt.MQTTMessage] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)
    front: int = 0


class BatchConsumer:
    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        subscription: str,
        handle: Handler,
        max_batch_messages: int = 100,
        flush_ms: int = 200,
        *,
        max_inflight_messages: int | None = None,
        workers: int = 1,
        backoff_max_s: float = BACKOFF_MAX_S,
        max_queued_messages: int = 10_000,
        max_queued_bytes: int = 64 * 1024 * 1024,
        keepalive_s: int = 60,
        mqtt5: bool = False,
        login: BrokerLogin | None = None,
    ) -> None:
        self.subscription = subscription
        self.handle = handle
        self.max_batch_messages = max_batch_messages
        self.flush_s = flush_ms / 1000
        self.max_inflight_messages = max_inflight_messages
        self.max_queued_messages = max_queued_messages
        self.max_queued_bytes = max_queued_bytes
        self.backoff_max_s = backoff_max_s
        self.keepalive_s = keepalive_s
        self.connected = threading.Event()
        self.received_messages = 0
        self.redelivered_messages = 0  # DUP set: the broker sent it before, unacknowledged
        self.stale_messages = 0  # from an older connection, dropped for the broker to resend
        self.handled_messages = 0
        self.failed_attempts = 0
        self.paused_reads = 0  # times reading stopped at the bound
        self._paused = False
        self.held_messages = 0  # received, not yet acknowledged or dropped (the bounded quantity)
        self.held_bytes = 0
        self.peak_held_messages = 0
        self.peak_held_bytes = 0
        self.last_failure: float | None = None
        self.failing_since: float | None = None  # monotonic time of the first failure in the current streak
        self.last_progress = time.monotonic()  # a batch handled, or nothing held
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self._held = _Held()
        self._inbox: queue.Queue[Delivery] = queue.Queue()
        self._calls: deque[Callable[[], object]] = deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_pending = False
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._stopping = threading.Event()
        self._network = threading.Thread(target=self._run_network, name=f"{client_id}-mqtt", daemon=True)
        self._workers = [
            threading.Thread(target=self._work, name=f"{client_id}-worker-{n}", daemon=True) for n in range(workers)
        ]
        # MQTT 3.1.1 by default: paho decodes an MQTT 5 PUBLISH's properties into a `Properties`
        # object per message, which was a sixth of ingest's CPU (py-spy), and nothing here reads them.
        self.mqtt5 = mqtt5
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if mqtt5 else mqtt.MQTTv311,
            clean_session=None if mqtt5 else False,
            manual_ack=True,
        )
        if login is not None:
            login.apply(self.client)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.publisher = MqttPublisher(host, port, f"{client_id}-out", keepalive_s, login=login)
        # With a write callback registered, paho queues packets instead of writing from the caller's thread.
        self.client.on_socket_register_write = lambda *_: self._wake()

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> "BatchConsumer":
        self.publisher.start()
        self._network.start()
        for worker in self._workers:
            worker.start()
        return self

    def stop(self, drain_timeout_s: float = 10.0) -> None:
        """Handle what has arrived, then disconnect; anything left is redelivered later."""
        deadline = time.monotonic() + drain_timeout_s
        while self.held_messages and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stopping.set()
        for worker in self._workers:
            worker.join(timeout=max(deadline - time.monotonic(), 1.0))
        self.call(self.client.disconnect)
        self._network.join(timeout=5)
        self.publisher.stop()
        self._wake_r.close()
        self._wake_w.close()

    @property
    def queued_messages(self) -> int:
        return self._inbox.qsize()

    def call(self, function: Callable[[], object]) -> None:
        """Run `function` on the network thread, the only one that touches the paho client."""
        self._calls.append(function)
        self._wake()

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> Publication:
        """Publish from any thread, on the service's publishing connection; `wait` for the PUBACK."""
        return self.publisher.publish(topic, payload, qos)

    def send(self, messages: list[tuple[str, bytes | str]], qos: int = 1) -> None:
        """Publish several messages from any thread, without waiting for anything."""
        for topic, payload in messages:
            self.publisher.publish(topic, payload, qos)

    def _wake(self) -> None:
        if self._wake_pending:  # one byte in the pipe is enough until the network thread reads it
            return
        self._wake_pending = True
        with contextlib.suppress(OSError):  # BlockingIOError: already awake; OSError: stopped
            self._wake_w.send(b"x")

    # -- the network thread ---------------------------------------------------------

    def _full(self) -> bool:
        return self.held_messages >= self.max_queued_messages or self.held_bytes >= self.max_queued_bytes

    def _run_network(self) -> None:
        delay = BACKOFF_START_S
        while True:
            if self.client.socket() is None:
                if self._stopping.is_set():
                    return
                if self._full() or not self._connect():
                    time.sleep(delay if not self._full() else SELECT_S)
                    delay = min(delay * 2, RECONNECT_MAX_S)
                    continue
                delay = BACKOFF_START_S
            self._turn()

    def _connect(self) -> bool:
        try:
            if self.mqtt5:
                properties = Properties(PacketTypes.CONNECT)
                properties.SessionExpiryInterval = SESSION_EXPIRY_S
                if self.max_inflight_messages is not None:
                    properties.ReceiveMaximum = self.max_inflight_messages
                self.client.connect(
                    self._host, self._port, keepalive=self.keepalive_s, clean_start=False, properties=properties
                )
            else:
                self.client.connect(self._host, self._port, keepalive=self.keepalive_s)
        except OSError as error:
            log.warning("mqtt_connect_failed", extra={"event": "mqtt_connect_failed", "reason": str(error)})
            return False
        return True

    def _turn(self) -> None:
        """One round: run queued calls, then read (unless at the bound), write and keep alive."""
        while self._calls:
            self._calls.popleft()()
        sock = self.client.socket()
        if sock is None:
            return
        reading = not self._full()
        if self._paused != (not reading):
            self._paused = not reading
            self.paused_reads += self._paused
            log.info("mqtt_reads_paused" if self._paused else "mqtt_reads_resumed", extra=self._held_figures())
        wanted = [self._wake_r, sock] if reading else [self._wake_r]
        # TLS: bytes already decrypted into the SSL object do not make the socket readable.
        pending = reading and isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
        wait_s = 0.0 if pending else SELECT_S
        readable, writable, _ = select.select(wanted, [sock] if self.client.want_write() else [], [], wait_s)
        if self._wake_r in readable:
            self._drain_wake()
        codes = []
        if sock in readable or pending:
            codes.append(self._read())
        if sock in writable or self.client.want_write():
            codes.append(self.client.loop_write())
        codes.append(self.client.loop_misc())
        if any(code != MQTTErrorCode.MQTT_ERR_SUCCESS for code in codes) and self.client.socket() is not None:
            self.client.disconnect()  # paho already closed it on most errors; make sure

    def _held_figures(self) -> dict[str, object]:
        event = "mqtt_reads_paused" if self._paused else "mqtt_reads_resumed"
        return {"event": event, "held_messages": self.held_messages, "held_bytes": self.held_bytes}

    def _read(self) -> MQTTErrorCode:
        """Read packets one at a time (this client publishes nothing, so paho reads one a call) until the bound."""
        code = MQTTErrorCode.MQTT_ERR_SUCCESS
        for _ in range(READS_PER_TURN):
            received = self.received_messages
            code = self.client.loop_read()
            if code != MQTTErrorCode.MQTT_ERR_SUCCESS or received == self.received_messages or self._full():
                break
        return code

    def _drain_wake(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_r.recv(4096):
                pass
        self._wake_pending = False  # after draining: a wake-up sent meanwhile leaves its byte for the next select

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        self.received_messages += 1  # only the network thread writes these
        if message.dup:
            self.redelivered_messages += 1
        held = self._held
        with self._lock:
            arrival = held.next_arrival
            held.next_arrival += 1
            held.pending[arrival] = message
            self._hold(1, len(message.payload))
        self._inbox.put(Delivery(held.connection, arrival, message))

    def _hold(self, messages: int, size: int) -> None:
        """Caller holds the lock."""
        self.held_messages += messages
        self.held_bytes += size
        self.peak_held_messages = max(self.peak_held_messages, self.held_messages)
        self.peak_held_bytes = max(self.peak_held_bytes, self.held_bytes)
        if not self.held_messages:
            self.last_progress = time.monotonic()

    def _acknowledge(self, connection: int, arrivals: list[int]) -> None:
        """On the network thread: mark handled, send every PUBACK now due, in arrival order."""
        held = self._held
        if connection != held.connection:
            return
        due = []
        with self._lock:
            held.done.update(arrivals)
            while held.front in held.done:
                held.done.discard(held.front)
                due.append(held.pending.pop(held.front))
                held.front += 1
            self._hold(-len(due), -sum(len(m.payload) for m in due))
        for message in due:
            self.client.ack(message.mid, message.qos)

    def _on_connect(
        self, client: mqtt.Client, _userdata: object, flags: mqtt.ConnectFlags, reason: object, _props: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.error("mqtt_connect_refused", extra={"event": "mqtt_connect_refused", "reason": str(reason)})
            return
        with self._lock:
            stale = self._held
            self._hold(-len(stale.pending), -sum(len(m.payload) for m in stale.pending.values()))
            self.stale_messages += len(stale.pending)
            self._held = _Held(connection=stale.connection + 1)
        client.subscribe(self.subscription, qos=1)
        if flags.session_present:
            # The broker kept the subscription, and sends the session's queue before the SUBACK,
            # which may wait behind it while reads pause at the bound: connected already.
            self._connected()

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, _mid: int, reasons: list[ReasonCode], _props: Properties | None
    ) -> None:
        """`connected` is set once the broker has granted the subscription, not before."""
        refused = [str(reason) for reason in reasons if getattr(reason, "is_failure", reason == 128)]
        if refused:
            log.error("mqtt_subscribe_refused", extra={"event": "mqtt_subscribe_refused", "reason": refused})
            return
        self._connected()

    def _connected(self) -> None:
        if self.connected.is_set():
            return
        self.connected.set()
        log.info(
            "mqtt_connected",
            extra={"event": "mqtt_connected", "subscription": self.subscription, "connection": self._held.connection},
        )

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        self.connected.clear()
        if not self._stopping.is_set():
            log.warning("mqtt_disconnected", extra={"event": "mqtt_disconnected", "reason": str(reason)})

    # -- workers ----------------------------------------------------------------------

    def _current(self, delivery: Delivery) -> bool:
        return delivery.connection == self._held.connection

    def _take(self, timeout_s: float | None) -> Delivery | None:
        """The next message of the current connection, or None when none came in time."""
        while True:
            try:
                delivery = self._inbox.get(timeout=timeout_s) if timeout_s else self._inbox.get_nowait()
            except queue.Empty:
                return None
            if self._current(delivery):
                return delivery

    def _next_batch(self) -> list[Delivery]:
        first = self._take(0.1)
        if first is None:
            return []
        batch = [first]
        deadline = time.monotonic() + self.flush_s
        while len(batch) < self.max_batch_messages:
            delivery = self._take(max(deadline - time.monotonic(), 0))
            if delivery is None:
                break
            batch.append(delivery)
        return batch

    def _work(self) -> None:
        while not self._stopping.is_set():
            batch = self._next_batch()
            if batch:
                self._handle_until_done(batch)

    def _handle_until_done(self, batch: list[Delivery]) -> None:
        messages = [delivery.message for delivery in batch]
        backoff = BACKOFF_START_S
        while True:
            try:
                self.handle(messages)
                break
            except Exception as error:  # retried, never dropped: the batch stays unacknowledged
                self._failed(error, len(messages), round(backoff, 2))
                if self._stopping.wait(backoff * random.uniform(0.5, 1.0)):
                    return
                if not any(self._current(delivery) for delivery in batch):
                    return  # the broker has resent all of it on the new connection
                backoff = min(backoff * 2, self.backoff_max_s)
        with self._lock:
            self.failing_since = None
            self.handled_messages += len(batch)
            self.last_progress = time.monotonic()
        by_connection: dict[int, list[int]] = {}
        for delivery in batch:
            by_connection.setdefault(delivery.connection, []).append(delivery.arrival)
        for connection, arrivals in by_connection.items():
            self.call(lambda c=connection, a=arrivals: self._acknowledge(c, a))  # type: ignore[misc]

    def _failed(self, error: Exception, messages: int, backoff: float) -> None:
        with self._lock:
            self.failed_attempts += 1
            self.last_failure = time.time()
            if self.failing_since is None:
                self.failing_since = time.monotonic()
        log.warning(
            "batch_failed",
            extra={"event": "batch_failed", "reason": repr(error), "messages": messages, "retry_in_s": backoff},
        )

    def stalled_s(self) -> float:
        """How long messages have been held with no batch handled (0 when nothing is held)."""
        if not self.held_messages:
            return 0.0
        return time.monotonic() - self.last_progress

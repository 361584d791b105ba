"""An MQTT consumer that acknowledges a message only after it has been handled.

QoS 1, MQTT 5, persistent session (clean_start=False and a session expiry), and
manual acknowledgement: paho's network thread queues incoming messages; worker
threads hand them to `handle` in batches and send the PUBACKs only when
`handle` returns. If `handle` raises, nothing is acknowledged and the batch is
retried after a jittered, capped backoff; if the process dies, the broker
redelivers every unacknowledged message to the next session with this client id.

Memory is bounded by the session's Receive Maximum (`max_inflight_messages`,
sent in CONNECT): the broker sends no more unacknowledged messages than that,
and holds the rest of a backlog in its own queue.

How acknowledgement breaks, and what is done about it: after a reconnect the
broker resends what was in flight with the same packet ids, so a PUBACK for a
message of the previous connection could acknowledge a different message of
the new one. Every message carries the number of the connection it came on;
messages of an older connection are dropped unacknowledged (the broker has
already resent them) instead of being handled and acknowledged.
"""

import logging
import queue
import random
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 24 * 3600
BACKOFF_START_S = 0.2
BACKOFF_MAX_S = 30.0

Handler = Callable[[list[mqtt.MQTTMessage]], None]
_Delivery = tuple[int, mqtt.MQTTMessage]  # (connection number, message)


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
    ) -> None:
        self.subscription = subscription
        self.handle = handle
        self.max_batch_messages = max_batch_messages
        self.flush_s = flush_ms / 1000
        self.max_inflight_messages = max_inflight_messages
        self.backoff_max_s = backoff_max_s
        self.connected = threading.Event()
        self.received_messages = 0
        self.redelivered_messages = 0  # DUP set: the broker sent it before, unacknowledged
        self.stale_messages = 0  # from an older connection, dropped for the broker to resend
        self.handled_messages = 0
        self.failed_attempts = 0
        self.last_failure: float | None = None
        self.failing_since: float | None = None  # monotonic time of the first failure in the current streak
        self._host, self._port = host, port
        self._connection = 0
        self._lock = threading.Lock()
        self._inbox: queue.Queue[_Delivery] = queue.Queue()
        self._stopping = threading.Event()
        self._workers = [
            threading.Thread(target=self._work, name=f"{client_id}-worker-{n}", daemon=True) for n in range(workers)
        ]
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def start(self) -> "BatchConsumer":
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        if self.max_inflight_messages is not None:
            properties.ReceiveMaximum = self.max_inflight_messages
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.connect_async(self._host, self._port, keepalive=30, clean_start=False, properties=properties)
        self.client.loop_start()
        for worker in self._workers:
            worker.start()
        return self

    def stop(self, drain_timeout_s: float = 10.0) -> None:
        """Handle what has arrived, then disconnect; anything left is redelivered later."""
        deadline = time.monotonic() + drain_timeout_s
        while not self._inbox.empty() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stopping.set()
        for worker in self._workers:
            worker.join(timeout=max(deadline - time.monotonic(), 1.0))
        self.client.disconnect()
        self.client.loop_stop()

    @property
    def queued_messages(self) -> int:
        return self._inbox.qsize()

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        self.received_messages += 1  # paho's network thread is the only writer
        if message.dup:
            self.redelivered_messages += 1
        self._inbox.put((self._connection, message))

    def _on_connect(
        self, client: mqtt.Client, _userdata: object, _flags: object, reason: object, _props: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.error("mqtt_connect_refused", extra={"event": "mqtt_connect_refused", "reason": str(reason)})
            return
        self._connection += 1
        client.subscribe(self.subscription, qos=1)

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, _mid: int, reasons: list[ReasonCode], _props: Properties | None
    ) -> None:
        """`connected` is set once the broker has granted the subscription, not before."""
        refused = [str(reason) for reason in reasons if reason.is_failure]
        if refused:
            log.error("mqtt_subscribe_refused", extra={"event": "mqtt_subscribe_refused", "reason": refused})
            return
        self.connected.set()
        log.info(
            "mqtt_connected",
            extra={"event": "mqtt_connected", "subscription": self.subscription, "connection": self._connection},
        )

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        self.connected.clear()
        if not self._stopping.is_set():
            log.warning("mqtt_disconnected", extra={"event": "mqtt_disconnected", "reason": str(reason)})

    def _take(self, timeout_s: float | None) -> _Delivery | None:
        """The next message of the current connection, or None when none came in time."""
        while True:
            try:
                delivery = self._inbox.get(timeout=timeout_s) if timeout_s else self._inbox.get_nowait()
            except queue.Empty:
                return None
            if delivery[0] == self._connection:
                return delivery
            with self._lock:
                self.stale_messages += 1

    def _next_batch(self) -> list[_Delivery]:
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

    def _handle_until_done(self, batch: list[_Delivery]) -> None:
        messages = [message for _, message in batch]
        backoff = BACKOFF_START_S
        while True:
            try:
                self.handle(messages)
                break
            except Exception as error:  # retried, never dropped: the batch stays unacknowledged
                with self._lock:
                    self.failed_attempts += 1
                    self.last_failure = time.time()
                    if self.failing_since is None:
                        self.failing_since = time.monotonic()
                log.warning(
                    "batch_failed",
                    extra={
                        "event": "batch_failed",
                        "reason": repr(error),
                        "messages": len(messages),
                        "retry_in_s": round(backoff, 2),
                    },
                )
                if self._stopping.wait(backoff * random.uniform(0.5, 1.0)):
                    return
                backoff = min(backoff * 2, self.backoff_max_s)
        # A message of an older connection has been resent under the same packet id: leave it.
        current = self._connection
        to_ack = [message for connection, message in batch if connection == current]
        for message in to_ack:
            self.client.ack(message.mid, message.qos)
        acked = len(to_ack)
        with self._lock:
            self.failing_since = None
            self.handled_messages += len(batch)
            self.stale_messages += len(batch) - acked

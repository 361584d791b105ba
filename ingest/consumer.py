"""An MQTT consumer that acknowledges a message only after it has been handled.

QoS 1, MQTT 5, persistent session (clean_start=False and a session expiry), and
manual acknowledgement: paho's network thread queues incoming messages; a
worker thread hands them to `handle` in batches and sends the PUBACKs only when
`handle` returns. If `handle` raises, nothing is acknowledged and the batch is
retried after a jittered, capped backoff; if the process dies, the broker
redelivers every unacknowledged message to the next session with this client id.

Memory stays bounded without any limit here: the broker sends at most its
inflight window (Mosquitto's `max_inflight_messages`) of unacknowledged messages.
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

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 24 * 3600
BACKOFF_START_S = 0.2
BACKOFF_MAX_S = 30.0

Handler = Callable[[list[mqtt.MQTTMessage]], None]


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
    ) -> None:
        self.subscription = subscription
        self.handle = handle
        self.max_batch_messages = max_batch_messages
        self.flush_s = flush_ms / 1000
        self.connected = threading.Event()
        self.handled_messages = 0
        self.failed_attempts = 0
        self.last_failure: float | None = None
        self._host, self._port = host, port
        self._inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._stopping = threading.Event()
        self._worker = threading.Thread(target=self._work, name=f"{client_id}-worker", daemon=True)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = lambda _c, _u, message: self._inbox.put(message)

    def start(self) -> "BatchConsumer":
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.connect_async(self._host, self._port, keepalive=30, clean_start=False, properties=properties)
        self.client.loop_start()
        self._worker.start()
        return self

    def stop(self, drain_timeout_s: float = 10.0) -> None:
        """Handle what has arrived, then disconnect; anything left is redelivered later."""
        deadline = time.monotonic() + drain_timeout_s
        while not self._inbox.empty() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stopping.set()
        self._worker.join(timeout=drain_timeout_s)
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, _userdata: object, _flags: object, reason: object, _props: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.error("mqtt_connect_refused", extra={"event": "mqtt_connect_refused", "reason": str(reason)})
            return
        client.subscribe(self.subscription, qos=1)
        self.connected.set()
        log.info("mqtt_connected", extra={"event": "mqtt_connected", "subscription": self.subscription})

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        self.connected.clear()
        if not self._stopping.is_set():
            log.warning("mqtt_disconnected", extra={"event": "mqtt_disconnected", "reason": str(reason)})

    def _next_batch(self) -> list[mqtt.MQTTMessage]:
        try:
            batch = [self._inbox.get(timeout=0.1)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.flush_s
        while len(batch) < self.max_batch_messages:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self._inbox.get(timeout=max(remaining, 0)) if remaining > 0 else self._inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _work(self) -> None:
        while not self._stopping.is_set():
            batch = self._next_batch()
            if batch:
                self._handle_until_done(batch)

    def _handle_until_done(self, batch: list[mqtt.MQTTMessage]) -> None:
        backoff = BACKOFF_START_S
        while True:
            try:
                self.handle(batch)
                break
            except Exception as error:  # retried, never dropped: the batch stays unacknowledged
                self.failed_attempts += 1
                self.last_failure = time.time()
                log.warning(
                    "batch_failed",
                    extra={
                        "event": "batch_failed",
                        "reason": repr(error),
                        "messages": len(batch),
                        "retry_in_s": round(backoff, 2),
                    },
                )
                if self._stopping.wait(backoff * random.uniform(0.5, 1.0)):
                    return
                backoff = min(backoff * 2, BACKOFF_MAX_S)
        for message in batch:
            self.client.ack(message.mid, message.qos)
        self.handled_messages += len(batch)

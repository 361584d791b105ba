"""What a centre service publishes (acks to gateways, dead letters, warnings) goes on an MQTT
connection of its own.

A consumer's connection carries its backlog: the broker may have thousands of PUBLISH
packets in flight to it, and the PUBACK for something the service published waits behind
them in the same TCP stream. On the consumer's connection that made a warning's publish
time out under a telemetry backlog, and paho then read a packet per message of its own
in flight, past the consumer's memory bound (198 acks to gateways waiting: 2,119 held
against a bound of 2,000). Here, PUBACKs come back at once.

paho's own network thread (`loop_start`) drives this client; `publish` is thread-safe.
Messages published while the connection is down are queued by paho and sent on reconnect.
"""

import logging
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from centre.broker_login import BrokerLogin

log = logging.getLogger(__name__)


class Publication:
    """One publish: `wait` returns True once the broker acknowledged it (QoS 1)."""

    def __init__(self, info: mqtt.MQTTMessageInfo) -> None:
        self._info = info

    def wait(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self._info.is_published() and time.monotonic() < deadline:
            try:
                self._info.wait_for_publish(max(deadline - time.monotonic(), 0.001))
            except RuntimeError:  # queued while disconnected: paho sends it on reconnect
                time.sleep(0.05)
        return self._info.is_published()


class MqttPublisher:
    def __init__(
        self, host: str, port: int, client_id: str, keepalive_s: int = 60, *, login: BrokerLogin | None = None
    ) -> None:
        self._host, self._port, self._keepalive_s = host, port, keepalive_s
        self.connected = threading.Event()
        self._stopping = False
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        self.client.max_queued_messages_set(0)  # unbounded: what is queued is bounded by the callers' batches
        if login is not None:
            login.apply(self.client)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect

    def start(self) -> "MqttPublisher":
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.connect_async(self._host, self._port, keepalive=self._keepalive_s)
        self.client.loop_start()
        return self

    def stop(self) -> None:
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> Publication:
        return Publication(self.client.publish(topic, payload, qos=qos))

    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", False):
            log.error("mqtt_connect_refused", extra={"event": "mqtt_connect_refused", "reason": str(reason)})
            return
        self.connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if self.connected.is_set() and not self._stopping:
            log.warning("mqtt_disconnected", extra={"event": "mqtt_disconnected", "reason": str(reason), "out": True})
        self.connected.clear()

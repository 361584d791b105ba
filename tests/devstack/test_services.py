"""The brokers the tests and the demo start must keep their state across a restart."""

import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devstack.services import Mosquitto


def _retained(port: int, topic: str) -> list[bytes]:
    received: list[bytes] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.on_message = lambda _c, _u, message: received.append(bytes(message.payload))
    client.connect("127.0.0.1", port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)
    client.loop_stop()
    client.disconnect()
    return received


def test_mosquitto_keeps_retained_messages_across_a_restart(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)  # private, like pytest's and the demo's directories
    broker = Mosquitto(tmp_path).start()
    try:
        client = mqtt.Client(CallbackAPIVersion.VERSION2)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        client.publish("floodwatch/test/kept", b"still here", qos=1, retain=True).wait_for_publish(5)
        client.loop_stop()
        client.disconnect()
        broker.stop()
        broker = Mosquitto(tmp_path, port=broker.port).start()
        assert _retained(broker.port, "floodwatch/test/kept") == [b"still here"]
    finally:
        broker.stop()

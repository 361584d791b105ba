"""The centre's MQTT consumer on the real Mosquitto: PUBACKs in arrival order whatever order
the writer threads finish in, and nothing acknowledged before it was handled."""

import threading
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest

from centre.mqtt_consumer import BatchConsumer
from devstack.services import Mosquitto

MESSAGES = 60


@pytest.fixture
def sender(mosquitto: Mosquitto) -> Iterator[mqtt.Client]:
    client = mosquitto.client("harness")
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()


def test_pubacks_go_out_in_arrival_order_when_later_batches_finish_first(
    mosquitto: Mosquitto, sender: mqtt.Client, unique_name: str
) -> None:
    first_batch_may_finish = threading.Event()
    handled: list[list[bytes]] = []
    lock = threading.Lock()

    def handle(messages: list[mqtt.MQTTMessage]) -> None:
        payloads = [bytes(m.payload) for m in messages]
        if payloads[0] == b"0":  # the first batch finishes only after another batch has
            assert first_batch_may_finish.wait(10)
        with lock:
            handled.append(payloads)
            first_batch_may_finish.set()

    topic = f"floodwatch/v1/{unique_name}/test"  # the harness account may use floodwatch/v1/#
    consumer = BatchConsumer(
        "127.0.0.1", mosquitto.port, unique_name, topic, handle, 5, 50, workers=3, login=mosquitto.login("harness")
    )
    acked: list[int] = []
    arrived: list[int] = []
    ack, on_message = consumer.client.ack, consumer.client.on_message

    def record_ack(mid: int, qos: int) -> None:
        acked.append(mid)
        ack(mid, qos)

    def record_arrival(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        arrived.append(message.mid)
        on_message(client, userdata, message)

    consumer.client.ack = record_ack  # type: ignore[method-assign]
    consumer.client.on_message = record_arrival
    consumer.start()
    try:
        assert consumer.connected.wait(10)
        for n in range(MESSAGES):
            sender.publish(topic, str(n).encode(), qos=1).wait_for_publish(10)
        poll = threading.Event()  # never set: a 50 ms wait between looks at the condition
        for _ in range(200):
            if len(acked) == MESSAGES:
                break
            poll.wait(0.05)
    finally:
        consumer.stop()
    assert handled[0][0] != b"0"  # a later batch really finished first
    assert len(acked) == MESSAGES and acked == arrived  # ...and still every PUBACK went out in arrival order
    assert consumer.held_messages == 0

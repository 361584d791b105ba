"""The live rule service's peers in tests: a gateway publishing telemetry and an operator's client
receiving warnings, on the real broker; and readings made from recorded series."""

import math
import threading
from collections.abc import Iterable

import paho.mqtt.client as mqtt

from devstack.services import Mosquitto
from wire_contract import (
    WARNINGS_TOPIC,
    Quality,
    Reading,
    TelemetryBatch,
    WarningMessage,
    decode_warning,
    encode_telemetry,
)
from wire_contract.topics import telemetry_topic


class WarningWire:
    """Telemetry in as gateway `gateway`, every warning the service publishes out."""

    def __init__(self, broker: Mosquitto, name: str, gateway: str = "gw-test") -> None:
        self.gateway = gateway
        self.received: list[WarningMessage] = []
        self.changed = threading.Condition()
        self.client = broker.client("harness", f"{name}-wire")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe(WARNINGS_TOPIC, qos=1)
        self.client.loop_start()
        self.seq = 0

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with self.changed:
            self.received.append(decode_warning(bytes(message.payload)))
            self.changed.notify_all()

    def send(self, *readings: Reading) -> None:
        self.seq += 1
        batch = TelemetryBatch(gateway=self.gateway, seq=self.seq, readings=readings)
        self.client.publish(telemetry_topic(self.gateway), encode_telemetry(batch), qos=1).wait_for_publish(5)

    def wait_for_count(self, count: int, timeout_s: float = 15.0) -> list[WarningMessage]:
        """What has arrived once `count` warnings have (or the timeout passed)."""
        with self.changed:
            self.changed.wait_for(lambda: len(self.received) >= count, timeout_s)
            return list(self.received)

    def wait_for_ids(self, ids: set[str], timeout_s: float = 30.0) -> list[WarningMessage]:
        """What has arrived once every warning id in `ids` has (or the timeout passed)."""
        with self.changed:
            self.changed.wait_for(lambda: ids <= {w.warning_id for w in self.received}, timeout_s)
            return list(self.received)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def readings_of(series: dict[str, tuple[list[int], list[float]]], sensors: Iterable[str]) -> list[Reading]:
    """The recorded series as readings in time order (a gap: a read failure, as a gateway reports it)."""
    return sorted(
        (
            Reading(
                sensor=sensor,
                station=sensor.split(".")[0],
                quantity="rain" if sensor.endswith(".rain") else "water_level",
                unit="mm" if sensor.endswith(".rain") else "m",
                value=None if math.isnan(value) else value,
                ts_ms=ts_ms,
                quality=Quality.read_failure if math.isnan(value) else Quality.good,
            )
            for sensor in sensors
            for ts_ms, value in zip(*series.get(sensor, ([], [])), strict=True)
        ),
        key=lambda r: (r.ts_ms, r.sensor),
    )

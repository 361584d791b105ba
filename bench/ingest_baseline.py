"""The benchmark's baselines, two paho-mqtt consumers that use the same decoder and point
layout as ingest and a persistent session (QoS 1, MQTT 3.1.1):

    python bench/ingest_baseline.py --port P --influx-url URL --database DB --client-id ID [--batch-lines 5000]

- one write per message (the default): the callback writes each message to InfluxDB as it
  arrives (one HTTP write per message, keep-alive); paho acknowledges after it returns.
- batching (`--batch-lines N --flush-s S`), as Telegraf's mqtt_consumer feeding its
  influxdb output does: the callback only decodes and buffers; a flusher writes up to N
  lines at a time, whenever N are buffered or every S seconds, and then acknowledges
  those messages (manual acknowledgement, like Telegraf's delivery tracking).

Both are as safe as ours (nothing acknowledged before it is written). Prints "ready"
once subscribed; stops on SIGTERM.
"""

import argparse
import signal
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from centre.influx import InfluxV1
from centre.line_protocol import encode_points
from ingest.points import batch_points
from wire_contract import TELEMETRY_SUBSCRIPTION, decode_telemetry


class Batcher:
    """Telegraf's shape: buffer decoded lines, write up to `batch_lines` per request, then acknowledge."""

    def __init__(self, influx: InfluxV1, batch_lines: int, flush_s: float) -> None:
        self.influx, self.batch_lines, self.flush_s = influx, batch_lines, flush_s
        self.client: mqtt.Client | None = None
        self._lines: list[bytes] = []
        self._messages: list[mqtt.MQTTMessage] = []
        self._lock = threading.Lock()
        self._full = threading.Event()

    def on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        lines = encode_points(batch_points(decode_telemetry(bytes(message.payload))))
        with self._lock:
            self._lines.append(lines)
            self._messages.append(message)
            if len(self._lines) * 10 >= self.batch_lines:  # 10 readings per message in the benchmark
                self._full.set()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._full.wait(self.flush_s)
            self._full.clear()
            with self._lock:
                lines, messages = self._lines, self._messages
                self._lines, self._messages = [], []
            if lines:
                self.influx.write_lines(b"\n".join(lines))
                assert self.client is not None
                for message in messages:
                    self.client.ack(message.mid, message.qos)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--influx-url", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--batch-lines", type=int, default=0, help="batch like Telegraf: lines per write (0: none)")
    parser.add_argument("--flush-s", type=float, default=1.0)
    args = parser.parse_args()
    influx = InfluxV1(args.influx_url, args.database)
    influx.create_database()
    stop = threading.Event()
    batcher = Batcher(influx, args.batch_lines, args.flush_s) if args.batch_lines else None

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        influx.write(batch_points(decode_telemetry(bytes(message.payload))))

    def on_subscribe(*_: object) -> None:
        print("ready", flush=True)

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=args.client_id, clean_session=False, manual_ack=batcher is not None
    )
    client.on_message = batcher.on_message if batcher else on_message
    client.on_subscribe = on_subscribe
    client.on_connect = lambda c, *_: c.subscribe(TELEMETRY_SUBSCRIPTION, qos=1)
    client.connect("127.0.0.1", args.port)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    client.loop_start()
    if batcher is not None:
        batcher.client = client
        threading.Thread(target=batcher.run, args=(stop,), daemon=True).start()
    stop.wait()
    client.disconnect()
    client.loop_stop()
    sys.exit(0)


if __name__ == "__main__":
    main()

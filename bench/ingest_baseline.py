"""The benchmark's baseline: the straightforward ingest, a paho-mqtt callback that
writes each message to InfluxDB as it arrives (one HTTP write per message, keep-alive).

    python bench/ingest_baseline.py --port P --influx-url URL --database DB --client-id ID

It uses the same decoder and point layout as ingest and a persistent session (QoS 1,
paho acknowledges after the callback returns), so it is as safe as ours, only unbatched.
Prints "ready" once subscribed; stops on SIGTERM.
"""

import argparse
import signal
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from centre.influx import InfluxV1
from ingest.points import batch_points
from wire_contract import TELEMETRY_SUBSCRIPTION, decode_telemetry


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--influx-url", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--client-id", required=True)
    args = parser.parse_args()
    influx = InfluxV1(args.influx_url, args.database)
    influx.create_database()

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        influx.write(batch_points(decode_telemetry(bytes(message.payload))))

    def on_subscribe(*_: object) -> None:
        print("ready", flush=True)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=args.client_id, protocol=mqtt.MQTTv5)
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.on_connect = lambda c, *_: c.subscribe(TELEMETRY_SUBSCRIPTION, qos=1)
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", args.port, clean_start=False, properties=properties)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    client.loop_start()
    stop.wait()
    client.disconnect()
    client.loop_stop()
    sys.exit(0)


if __name__ == "__main__":
    main()

"""Simulated gateways for the ingest benchmark: telemetry batches, QoS 1, into Mosquitto.

    python bench/ingest_gateways.py --port P --gateways 500 --readings 10 --messages 20000 [--rate 50000] [--first 0]

Each gateway publishes `--readings` water levels per message, stamped with the wall clock
as the message is built (the benchmark measures latency from that stamp), with strictly
increasing timestamps per gateway (so every reading is a distinct point). `--rate` paces
readings/s over all gateways; 0 publishes as fast as possible. Prints one JSON line:
messages and readings published (all acknowledged by the broker) and the wall time taken.
Payloads are built from a string template, not pydantic, so the generator stays cheap; the
template is checked once against the contract's decoder.
"""

import argparse
import json
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from centre.broker_login import BrokerLogin
from typed_config.secrets import read_secret_file
from wire_contract import decode_telemetry, telemetry_topic

READING = (
    '{{"sensor":"{gw}.s{i}","station":"{gw}-st","quantity":"water_level","value":{value},'
    '"unit":"m","ts_ms":{ts},"quality":"good","clock_synced":true}}'
)


def payload(gateway: str, seq: int, readings: int, ts_ms: int) -> bytes:
    body = ",".join(
        READING.format(gw=gateway, i=i, value=round(1.0 + (seq % 500) * 0.01 + i * 0.001, 4), ts=ts_ms)
        for i in range(readings)
    )
    return f'{{"v":1,"gateway":"{gateway}","seq":{seq},"readings":[{body}]}}'.encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--gateways", type=int, default=500)
    parser.add_argument("--first", type=int, default=0, help="index of the first gateway")
    parser.add_argument("--readings", type=int, default=10)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--rate", type=float, default=0.0, help="readings/s over all gateways; 0: flat out")
    parser.add_argument("--ca-file", type=Path, help="TLS: the CA that signed the broker's certificate")
    parser.add_argument("--username")
    parser.add_argument("--password-file", type=Path, help="mode 0600")
    args = parser.parse_args()
    password = read_secret_file(args.password_file) if args.password_file else None
    login = BrokerLogin(ca_file=args.ca_file, username=args.username, password=password)

    gateways = [f"bench-gw-{n:04d}" for n in range(args.first, args.first + args.gateways)]
    topics = [telemetry_topic(g) for g in gateways]
    decode_telemetry(payload(gateways[0], 0, args.readings, int(time.time() * 1000)))  # the template is valid
    acked = threading.Semaphore(0)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-gateways-{args.first}", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.on_publish = lambda *_: acked.release()
    login.apply(client)
    client.connect("127.0.0.1", args.port)
    client.loop_start()
    last_ts = [0] * len(gateways)
    seqs = [0] * len(gateways)
    started = time.monotonic()
    for n in range(args.messages):
        g = n % len(gateways)
        if args.rate:
            ahead = (n * args.readings) / args.rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        ts = max(time.time_ns() // 1_000_000, last_ts[g] + 1)
        last_ts[g] = ts
        client.publish(topics[g], payload(gateways[g], seqs[g], args.readings, ts), qos=1)
        seqs[g] += 1
    for _ in range(args.messages):
        acked.acquire(timeout=120)
    elapsed = time.monotonic() - started
    client.loop_stop()
    client.disconnect()
    print(json.dumps({"messages": args.messages, "readings": args.messages * args.readings, "seconds": elapsed}))


if __name__ == "__main__":
    main()

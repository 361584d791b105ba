"""CPU per reading of ingest's in-process path, the former code against the current, side by side.

    .venv/bin/python bench/ingest_cpu_per_reading.py [--readings 10] [--messages 5000] [--rounds 5]

No broker or database: the same payloads as bench/ingest_gateways.py go through, per message,

1. paho's receive path: the packets read from a socket as paho's network thread does
   (select, then `loop_read`), and a PUBLISH decoded by a real `mqtt.Client`
   (`_handle_publish`, which builds the MQTTMessage, its properties, calls `on_message`);
2. validation and line protocol: decode the contract, judge each reading, encode the lines
   of a 500-message write;
3. acknowledgement: queue the PUBACKs and let the client write them to a socket.

"old" is the code before the per-reading work (four recv() per packet, a Properties object
built from scratch per message, a Point per reading encoded afterwards, one PUBACK packet
per message); "new" is
what ingest runs now. The HTTP write and InfluxDB are the same for both (the same bytes)
and not measured here. Prints µs per reading, the best of `--rounds`.
"""

import argparse
import select
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt._packet as paho_packet
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.matcher import MQTTMatcher
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_gateways import payload

from ingest import paho_speedups
from ingest.line_protocol import encode_points
from ingest.points import reading_point
from ingest.validation import Checked, Refusal, Validator
from wire_contract import ContractError, decode_telemetry, gateway_from_topic, telemetry_topic
from wire_contract.limits import out_of_physical_range

WRITE_MESSAGES = 500


def publish_packet(topic: str, mid: int, body: bytes) -> bytes:
    """What follows the fixed header of a QoS 1 MQTT 5 PUBLISH: topic, packet id, no properties, payload."""
    name = topic.encode()
    return len(name).to_bytes(2, "big") + name + mid.to_bytes(2, "big") + b"\x00" + body


def framed(packet: bytes) -> bytes:
    """The whole PUBLISH (QoS 1) as on the wire: fixed header, remaining length, `packet`."""
    length, header = len(packet), bytearray([0x32])
    while True:
        byte, length = length % 128, length // 128
        header.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(header) + packet


def make_client(lean: bool) -> tuple[mqtt.Client, list[mqtt.MQTTMessage], socket.socket]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench", protocol=mqtt.MQTTv5, manual_ack=True)
    if lean:
        paho_speedups.lean_client(client)
    else:
        client._on_message_filtered = MQTTMatcher()
    received: list[mqtt.MQTTMessage] = []
    client.on_message = lambda _c, _u, message: received.append(message)
    ours, theirs = socket.socketpair()  # the "broker" end of the connection, drained as PUBACKs arrive
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    theirs.setblocking(False)
    client._sock = ours
    # As under loop_start(): a queued packet wakes the network thread through the socket pair,
    # which then writes it (here: `_packet_write` called by the benchmark).
    client._sockpairR, client._sockpairW = socket.socketpair()
    client._sockpairR.setblocking(False)
    client._sockpairW.setblocking(False)  # as paho does: a full pair means a wake-up is pending anyway
    client._thread = threading.current_thread()
    return client, received, theirs


def old_check(validator: Validator, topic: str, data: bytes, now_ms: int) -> tuple[Checked, list]:  # type: ignore[type-arg]
    """Validator.check as it was: a Point per accepted reading (encoded later, with the batch)."""
    checked = Checked(topic, data)
    points: list = []  # type: ignore[type-arg]
    try:
        batch = decode_telemetry(data)
    except ContractError as error:
        checked.refusals.append(Refusal("contract", error.reason))
        return checked, points
    if gateway_from_topic(topic) != batch.gateway:
        return checked, points
    checked.gateway, checked.seq, checked.readings = batch.gateway, batch.seq, len(batch.readings)
    latest = now_ms + validator.max_future_s * 1000
    for reading in batch.readings:
        if out_of_physical_range(reading.quantity, reading.value) is not None or reading.ts_ms > latest:
            continue
        points.append(reading_point(batch.gateway, reading))
    return checked, points


def best_of(rounds: int, run: Callable[[], None], readings: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best / readings * 1e6


def measure(
    lean: bool, messages: list[tuple[str, bytes]], packets: list[bytes], now_ms: int, rounds: int, total: int
) -> dict[str, float]:
    """µs per reading of each step, the best of `rounds`; `total` readings in `messages`."""
    paho_packet.Properties = paho_speedups.SharedTableProperties if lean else Properties  # type: ignore[misc]
    client, received, broker_end = make_client(lean)
    validator = Validator()

    def socket_reads() -> None:
        # Each chunk is written by the "broker", then read as the network thread would.
        ours, theirs = socket.socketpair()
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 23)
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 23)
        client._sock = paho_speedups.BufferedSocket(ours) if lean else ours
        ours.setblocking(False)
        received.clear()
        client._in_packet = {
            "command": 0, "have_remaining": 0, "remaining_count": [], "remaining_mult": 1,
            "remaining_length": 0, "packet": bytearray(b""), "to_process": 0, "pos": 0,
        }  # fmt: skip
        for start in range(0, len(wire), WRITE_MESSAGES):
            theirs.sendall(b"".join(wire[start : start + WRITE_MESSAGES]))
            want = min(start + WRITE_MESSAGES, len(wire))
            while len(received) < want:
                if not getattr(client._sock, "pending", lambda: 0)():
                    select.select([client._sock], [], [], 1.0)
                client.loop_read()
        client._sock = sock
        ours.close()
        theirs.close()

    def receive() -> None:
        received.clear()
        for packet in packets:
            client._in_packet = {"command": 0x32, "packet": packet}
            client._handle_publish()

    def validate_and_encode() -> None:
        for start in range(0, len(messages), WRITE_MESSAGES):
            chunk = messages[start : start + WRITE_MESSAGES]
            if lean:
                checked = [validator.check(topic, body, now_ms) for topic, body in chunk]
                body = "\n".join([line for c in checked for line in c.lines]).encode()
            else:
                olds = [old_check(validator, topic, body, now_ms) for topic, body in chunk]
                body = encode_points([p for _, points in olds for p in points])
            assert body

    def acknowledge() -> None:
        for start in range(0, len(received), WRITE_MESSAGES):
            chunk = received[start : start + WRITE_MESSAGES]
            if lean:
                paho_speedups.ack_all(client, chunk)
            else:
                for message in chunk:
                    client.ack(message.mid, message.qos)
            client._packet_write()  # what the network thread does next: send them
            for sock in (client._sockpairR, broker_end):
                while True:
                    try:
                        sock.recv(1 << 20)
                    except BlockingIOError:
                        break

    receive()
    sock = client._sock
    wire = [framed(packet) for packet in packets]
    receive_all = best_of(rounds, socket_reads, total)
    try:
        return {
            "paho: read packets": receive_all - best_of(rounds, receive, total),
            "paho: decode PUBLISH": best_of(rounds, receive, total),
            "validate + line protocol": best_of(rounds, validate_and_encode, total),
            "acknowledge": best_of(rounds, acknowledge, total),
        }
    finally:
        paho_packet.Properties = Properties  # type: ignore[misc]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readings", type=int, default=10, help="readings per message")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    gateways = [f"bench-gw-{n:04d}" for n in range(500)]
    now_ms = time.time_ns() // 1_000_000
    messages = [
        (telemetry_topic(gateways[n % 500]), payload(gateways[n % 500], n // 500, args.readings, now_ms - n))
        for n in range(args.messages)
    ]
    packets = [publish_packet(topic, n % 65535 + 1, body) for n, (topic, body) in enumerate(messages)]
    total = args.messages * args.readings
    validator = Validator()
    results: dict[str, dict[str, float]] = {}

    for version in ("old", "new"):
        results[version] = measure(version == "new", messages, packets, now_ms, args.rounds, total)
        results[version]["total"] = sum(results[version].values())
    paho_packet.Properties = Properties  # type: ignore[misc]

    # The two produce the same bytes: same lines, same PUBACKs.
    chunk = messages[:WRITE_MESSAGES]
    old_body = encode_points([p for t, b in chunk for p in old_check(validator, t, b, now_ms)[1]])
    new_body = "\n".join([line for t, b in chunk for line in validator.check(t, b, now_ms).lines]).encode()
    assert old_body == new_body, "line protocol differs"

    print(
        f"{args.readings} readings per message, {args.messages} messages, µs of CPU per reading (best of {args.rounds})"
    )
    print(f"{'':28}{'old':>8}{'new':>8}{'old/new':>9}")
    for key in results["old"]:
        old, new = results["old"][key], results["new"][key]
        print(f"{key:28}{old:>8.2f}{new:>8.2f}{old / new:>8.1f}x")


if __name__ == "__main__":
    main()

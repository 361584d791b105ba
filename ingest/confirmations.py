"""Ingest's word to each gateway that its batches are stored: `BatchAck`s, gathered per gateway.

A batch is confirmed only after InfluxDB accepted it (the service calls `stored` after
the write). Rather than one ack per gateway per written batch (with many gateways each
sending a message now and then, nearly one ack per telemetry message: as many MQTT
round trips again), the seqs wait up to `interval_s` and go out as one `BatchAck` per
gateway (at most MAX_SEQS_PER_ACK seqs each). An ack that is lost (ingest killed before
it went out, a broker crash) costs only a resend: the gateway sends the batch again
after its `confirm_timeout_s`, it is stored again idempotently, and confirmed.
"""

import logging
import threading
from collections.abc import Callable

from wire_contract import BatchAck, ack_topic, encode_ack
from wire_contract.payload import MAX_SEQS_PER_ACK

log = logging.getLogger(__name__)
Send = Callable[[list[tuple[str, bytes | str]]], None]


class Confirmations:
    def __init__(self, send: Send, interval_s: float) -> None:
        self.send = send
        self.interval_s = interval_s
        self.sent: dict[str, int] = {}  # gateway -> batches confirmed to it (read a copy: `sent_snapshot`)
        self._pending: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest-confirmations", daemon=True)

    def start(self) -> "Confirmations":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Send what is pending, then stop."""
        self._stopping.set()
        self._thread.join(timeout=5)
        self.flush()

    def sent_snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.sent)

    def stored(self, gateway: str, seq: int) -> None:
        with self._lock:
            self._pending.setdefault(gateway, []).append(seq)
        if self.interval_s == 0:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            for gateway, seqs in pending.items():
                self.sent[gateway] = self.sent.get(gateway, 0) + len(seqs)
        acks: list[tuple[str, bytes | str]] = []
        for gateway, seqs in pending.items():
            for start in range(0, len(seqs), MAX_SEQS_PER_ACK):
                ack = BatchAck(gateway=gateway, seqs=tuple(seqs[start : start + MAX_SEQS_PER_ACK]))
                acks.append((ack_topic(gateway), encode_ack(ack)))
        if acks:
            self.send(acks)

    def _run(self) -> None:
        while not self._stopping.wait(self.interval_s or 1.0):
            self.flush()

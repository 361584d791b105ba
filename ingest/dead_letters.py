"""Where refused messages go: a JSON-lines file and an MQTT topic, each with the reason.

Nothing is dropped silently: the raw bytes are kept (base64) so a fixed gateway
or a fixed ingest can replay them. A dead letter must itself fit through the
broker (its `max_packet_size`; base64 grows a payload by a third), or the broker
drops ingest's connection and the poison message comes back on every reconnect.
So the record keeps at most `max_payload_bytes` of the payload, with the whole
payload's size and SHA-256; the file and the topic carry the same record.
"""

import base64
import hashlib
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from wire_contract import DEAD_LETTER_TOPIC

log = logging.getLogger(__name__)
Publish = Callable[[str, str], object]


def dead_letter_record(kind: str, reason: str, topic: str, payload: bytes, max_payload_bytes: int) -> dict[str, object]:
    kept = payload[:max_payload_bytes]
    return {
        "ts_ms": time.time_ns() // 1_000_000,
        "kind": kind,
        "reason": reason[:2000],
        "topic": topic[:1000],
        "payload_bytes": len(payload),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "payload_truncated": len(kept) < len(payload),
        "payload_b64": base64.b64encode(kept).decode(),
    }


class DeadLetters:
    def __init__(self, path: Path, publish: Publish, max_payload_bytes: int = 256 * 1024) -> None:
        self.path = path
        self.publish = publish
        self.max_payload_bytes = max_payload_bytes
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, kind: str, reason: str, topic: str, payload: bytes) -> None:
        record = dead_letter_record(kind, reason, topic, payload, self.max_payload_bytes)
        line = json.dumps(record, ensure_ascii=False)
        with self._lock:
            self.counts[kind] += 1
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        self.publish(DEAD_LETTER_TOPIC, line)
        log.warning("dead_letter", extra={"event": "dead_letter", "kind": kind, "reason": reason, "topic": topic})

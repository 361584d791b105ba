"""Where refused messages go: a JSON-lines file and an MQTT topic, each with the reason.

Nothing is dropped silently: the raw bytes are kept (base64) so a fixed gateway
or a fixed ingest can replay them.
"""

import base64
import json
import logging
import threading
import time
from collections import Counter
from pathlib import Path

import paho.mqtt.client as mqtt

from wire_contract import DEAD_LETTER_TOPIC

log = logging.getLogger(__name__)


class DeadLetters:
    def __init__(self, path: Path, client: mqtt.Client) -> None:
        self.path = path
        self.client = client
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, kind: str, reason: str, topic: str, payload: bytes) -> None:
        record = {
            "ts_ms": time.time_ns() // 1_000_000,
            "kind": kind,
            "reason": reason,
            "topic": topic,
            "payload_b64": base64.b64encode(payload).decode(),
        }
        line = json.dumps(record, ensure_ascii=False)
        with self._lock:
            self.counts[kind] += 1
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        self.client.publish(DEAD_LETTER_TOPIC, line, qos=1)
        log.warning("dead_letter", extra={"event": "dead_letter", "kind": kind, "reason": reason, "topic": topic})

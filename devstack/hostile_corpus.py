"""The corpus of malformed, oversized and spoofed-looking telemetry (tests/ingest/corpus/).

One case a line of `telemetry.jsonl`: name, why, the topic's gateway, the payload (base64,
or a prefix and suffix repeated `times` for the oversized ones, optionally padded with
spaces to `pad_to_bytes`) and what ingest must make of it. Read here once for the
validator's tests and for the run through the real broker.
"""

import base64
import json
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "ingest" / "corpus" / "telemetry.jsonl"


def load_corpus(path: Path = CORPUS) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def corpus_payload(case: dict[str, Any]) -> bytes:
    """The bytes a case sends."""
    if "payload_repeat" in case:
        repeat = case["payload_repeat"]
        payload = (repeat["prefix"] * repeat["times"] + repeat["suffix"] * repeat["times"]).encode()
    else:
        payload = base64.b64decode(case["payload_b64"])
    pad = case.get("pad_to_bytes")
    return payload[:-1] + b" " * (pad - len(payload)) + b"}" if pad else payload

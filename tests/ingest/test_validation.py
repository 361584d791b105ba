"""Validation: the corpus of interesting payloads, physical ranges, clocks, allow-list, and a fuzzed decoder.

The corpus (`corpus/telemetry.jsonl`, one case a line: name, why, the topic's gateway,
the raw payload in base64, what must be refused and how many points stored) is replayed
here through the validator and, in test_hostile.py, through the real broker and InfluxDB.
Add a payload there whenever the fuzzer or the field finds a new way to break ingest.
"""

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from centre.line_protocol import encode_point
from devstack.hostile_corpus import corpus_payload, load_corpus
from ingest.validation import Checked, Validator
from wire_contract import QUANTITY_UNITS, telemetry_topic
from wire_contract.limits import PHYSICAL_RANGES, out_of_physical_range

NOW_MS = 1_700_000_000_000  # 2023-11-14: the corpus's readings are from July 2023
CORPUS_VALIDATOR = Validator(gateways=frozenset({"fz", "fz-2"}), max_future_s=300, max_age_days=3650)


def _topic(gateway: str) -> str:
    return f"floodwatch/v1/{gateway}/telemetry"


def _invariants(checked: Checked) -> None:
    """What holds for any input: refused or stored, never both silently, and storable."""
    if checked.gateway is None:
        assert checked.refusals and not checked.points
    assert checked.points or checked.refusals
    for point in checked.points:
        encode_point(point)  # anything accepted must go into line protocol


@pytest.mark.parametrize("case", load_corpus(), ids=lambda case: case["name"])
def test_corpus_case(case: dict[str, Any]) -> None:
    checked = CORPUS_VALIDATOR.check(_topic(case["topic_gateway"]), corpus_payload(case), NOW_MS)
    assert sorted(r.kind for r in checked.refusals) == sorted(case["expect"]["refused"]), checked.refusals
    assert len(checked.points) == case["expect"]["points"]
    _invariants(checked)


def test_refusals_name_what_broke() -> None:
    by_name = {case["name"]: case for case in load_corpus()}

    def reasons(name: str) -> str:
        payload = corpus_payload(by_name[name])
        checked = CORPUS_VALIDATOR.check(_topic(by_name[name]["topic_gateway"]), payload, NOW_MS)
        return " | ".join(r.reason for r in checked.refusals)

    assert "fz.level water_level=999.0 outside [-50.0, 100.0]" in reasons("out_of_range")
    assert "s ahead" in reasons("ts_future") and "older than 3650 days" in reasons("ts_past")
    assert "'stranger' is not on the allow-list" in reasons("unknown_gateway")
    assert "exceeds 1048576 bytes" in reasons("oversized")
    assert "travels in 'm', not 'cm'" in reasons("wrong_unit")


def test_physical_ranges_cover_every_quantity() -> None:
    assert set(PHYSICAL_RANGES) == set(QUANTITY_UNITS)
    assert out_of_physical_range("water_level", 3.2) is None
    assert out_of_physical_range("water_level", None) is None  # a read failure has no value to judge
    assert out_of_physical_range("rain", -0.1) == PHYSICAL_RANGES["rain"]


def test_without_an_allow_list_any_valid_gateway_is_accepted() -> None:
    case = next(c for c in load_corpus() if c["name"] == "unknown_gateway")
    checked = Validator().check(telemetry_topic("stranger"), corpus_payload(case), NOW_MS)
    assert not checked.refusals and len(checked.points) == 1


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=300), gateway=st.sampled_from(["fz", "fz-2", "a b", "+"]))
def test_fuzz_arbitrary_bytes(payload: bytes, gateway: str) -> None:
    _invariants(CORPUS_VALIDATOR.check(_topic(gateway), payload, NOW_MS))


_VALID_READING: dict[str, Any] = {
    "sensor": "fz.level",
    "station": "fz-st",
    "quantity": "water_level",
    "value": 1.5,
    "unit": "m",
    "ts_ms": 1_690_000_000_000,
    "quality": "good",
    "clock_synced": True,
}


@settings(max_examples=400, deadline=None)
@given(
    key=st.sampled_from([*_VALID_READING, "seq", "gateway", "v", "extra"]),
    replacement=_json | st.sampled_from(list(QUANTITY_UNITS)) | st.text(alphabet='fz.-_\n =,"\\0é', max_size=12),
    drop=st.booleans(),
)
def test_fuzz_one_field_of_a_valid_batch(key: str, replacement: Any, drop: bool) -> None:
    reading = dict(_VALID_READING)
    batch: dict[str, Any] = {"v": 1, "gateway": "fz", "seq": 1, "readings": [reading]}
    target = batch if key in ("seq", "gateway", "v", "extra") else reading
    if drop:
        target.pop(key, None)
    else:
        target[key] = replacement
    payload = json.dumps(batch, allow_nan=True).encode()
    _invariants(CORPUS_VALIDATOR.check(_topic("fz"), payload, NOW_MS))

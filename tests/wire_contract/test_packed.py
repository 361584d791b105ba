"""The packed form of a telemetry batch: round trips, the size it saves, and broken input refused."""

import contextlib
import json
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire_contract import (
    ContractError,
    FailureReason,
    PayloadForm,
    Quality,
    Reading,
    TelemetryBatch,
    decode_telemetry,
    decode_telemetry_form,
    encode_telemetry,
    pack_telemetry,
)
from wire_contract.packed import MAX_UNPACKED_BYTES, form_of

from .test_codec import batches


@given(batches)
def test_packed_batches_round_trip(batch: TelemetryBatch) -> None:
    packed = pack_telemetry(batch)
    assert decode_telemetry(packed) == batch  # told by its first byte
    assert decode_telemetry_form(packed, "application/vnd.floodwatch.telemetry-packed.v1+zlib") == (
        batch,
        PayloadForm.packed,
    )
    assert decode_telemetry_form(encode_telemetry(batch), "application/json") == (batch, PayloadForm.json)


def _steady_batch(stations: int = 20) -> TelemetryBatch:
    """One poll of 20 stations, a river level and a rain reading each."""
    kinds = (("level", "water_level", "m", 1.234), ("rain", "rain", "mm", 0.2))
    readings = [
        Reading(sensor=f"st{n:02}.{sensor}", station=f"st{n:02}", quantity=quantity, value=value + n / 100,
                unit=unit, ts_ms=1_602_000_000_000 + 37 * n, quality=Quality.good)
        for n in range(stations)
        for sensor, quantity, unit, value in kinds
    ]  # fmt: skip
    return TelemetryBatch(gateway="gw-le-thuy-01", seq=123456, readings=tuple(readings))


def test_a_steady_batch_is_a_fifth_of_its_json_or_less() -> None:
    batch = _steady_batch()
    json_bytes, packed_bytes = len(encode_telemetry(batch)), len(pack_telemetry(batch))
    assert packed_bytes * 5 < json_bytes, (packed_bytes, json_bytes)


def _packed(document: object) -> bytes:
    return zlib.compress(json.dumps(document).encode())


GOOD = {"v": 1, "gateway": "gw-1", "seq": 1, "t0": 1_602_000_000_000, "series": [["s", "t", "rain", "mm"]],
        "rows": [[0, 0, 1.5, 0]]}  # fmt: skip


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\x78garbage", "not zlib"),
        (zlib.compress(b"\x00" * (MAX_UNPACKED_BYTES + 10)), "inflates past"),
        (_packed([1, 2]), "a packed batch is a JSON object"),
        (_packed(GOOD | {"v": 2}), "invalid v"),
        (_packed(GOOD | {"rows": [[1, 0, 1.5, 0]]}), "invalid rows.0"),
        (_packed(GOOD | {"rows": [[0, 0, 1.5, 9]]}), "invalid rows.0"),
        (_packed(GOOD | {"rows": [[0, 0, "1.5", 0]]}), "readings.0.value"),
        (_packed(GOOD | {"rows": [[0, 0, None, 2, "gremlins"]]}), "rows.0.reason"),
        (_packed(GOOD | {"series": [["s", "t", "rain", "cm"]]}), "travels in 'mm', not 'cm'"),
        (_packed(GOOD | {"t0": "now"}), "invalid t0"),
    ],
)
def test_broken_packed_payloads_are_refused_with_the_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(ContractError, match=reason):
        decode_telemetry(payload)


def test_a_failure_keeps_its_reason_and_clock_flag() -> None:
    reading = Reading(sensor="s", station="t", quantity="rain", value=None, unit="mm", ts_ms=1_602_000_000_000,
                      quality=Quality.read_failure, clock_synced=False, reason=FailureReason.port_missing)  # fmt: skip
    batch = TelemetryBatch(gateway="gw-1", seq=0, readings=(reading,))
    assert decode_telemetry(pack_telemetry(batch)).readings[0] == reading


@given(st.binary(max_size=300))
def test_random_bytes_are_refused_in_either_form(data: bytes) -> None:
    with contextlib.suppress(ContractError):  # anything else escaping fails the test
        decode_telemetry(b"\x78" + data)
    assert form_of(b"{}") is PayloadForm.json and form_of(b"\x78\x9c") is PayloadForm.packed

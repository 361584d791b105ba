"""The wire contract's codec: round trips, and malformed input refused with a reason."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wire_contract import (
    QUANTITY_UNITS,
    BatchAck,
    ContractError,
    FailureReason,
    Quality,
    Reading,
    TelemetryBatch,
    WarningMessage,
    ack_topic,
    decode_ack,
    decode_status,
    decode_telemetry,
    decode_warning,
    encode_ack,
    encode_telemetry,
    encode_warning,
    gateway_from_topic,
    telemetry_topic,
)
from wire_contract.payload import MAX_INT64, MAX_SEQS_PER_ACK, MAX_TS_MS, MIN_TS_MS

ids = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,20}", fullmatch=True)
gateway_ids = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)
timestamps = st.integers(MIN_TS_MS, MAX_TS_MS - 1)
finite = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def readings(draw: st.DrawFn) -> Reading:
    quantity = draw(st.sampled_from(sorted(QUANTITY_UNITS)))
    quality = draw(st.sampled_from(list(Quality)))
    value = None if quality is Quality.read_failure and draw(st.booleans()) else draw(finite)
    failed = quality is Quality.read_failure
    reason = draw(st.none() | st.sampled_from(list(FailureReason))) if failed else None
    return Reading(
        sensor=draw(ids),
        station=draw(ids),
        quantity=quantity,
        value=value,
        unit=QUANTITY_UNITS[quantity],
        ts_ms=draw(timestamps),
        quality=quality,
        clock_synced=draw(st.booleans()),
        reason=reason,
    )


batches = st.builds(
    TelemetryBatch,
    gateway=gateway_ids,
    seq=st.integers(0, MAX_INT64),
    readings=st.lists(readings(), min_size=1, max_size=20).map(tuple),
)


@given(batches)
def test_telemetry_round_trips(batch: TelemetryBatch) -> None:
    assert decode_telemetry(encode_telemetry(batch)) == batch


@given(
    st.builds(
        WarningMessage,
        warning_id=st.text(min_size=1, max_size=50),
        rule=st.text(min_size=1, max_size=20),
        station=ids,
        sensor=ids,
        level=st.integers(0, 3),
        previous_level=st.integers(0, 3),
        value=finite,
        ts_ms=timestamps,
        thresholds_m=st.tuples(finite, finite, finite),
        thresholds_source=st.text(max_size=50),
    )
)
def test_warning_round_trips(warning: WarningMessage) -> None:
    assert decode_warning(encode_warning(warning)) == warning


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_are_refused_with_a_reason(data: bytes) -> None:
    try:
        decode_telemetry(data)
    except ContractError as error:
        assert error.reason
    else:  # pragma: no cover - random bytes are never a valid batch
        pytest.fail(f"accepted {data!r}")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(batches, st.sampled_from(["gateway", "seq", "readings", "v"]), json_values)
def test_a_corrupted_field_is_refused_naming_it(batch: TelemetryBatch, key: str, junk: object) -> None:
    document = json.loads(encode_telemetry(batch))
    document[key] = junk
    try:
        decoded = decode_telemetry(json.dumps(document).encode())
    except ContractError as error:
        assert key in error.reason or "not json" in error.reason
    else:  # the junk happened to be valid for that key
        assert decoded.model_dump(mode="json")[key] == junk or key == "readings"


@pytest.mark.parametrize(
    ("mutation", "reason"),
    [
        (lambda r: r.update(unit="cm"), "travels in 'm', not 'cm'"),
        (lambda r: r.update(quantity="flow"), "unknown quantity 'flow'"),
        (lambda r: r.update(value=None), "null only when quality is read_failure"),
        (lambda r: r.update(ts_ms=100), "readings.0.ts_ms"),
        (lambda r: r.update(quality="great"), "readings.0.quality"),
        (lambda r: r.update(extra=1), "readings.0.extra"),
        (lambda r: r.update(sensor="Bad Id"), "readings.0.sensor"),
        (lambda r: r.update(value="1.5"), "readings.0.value: Input should be a valid number"),
        (lambda r: r.update(value=True), "readings.0.value: Input should be a valid number"),
        (lambda r: r.update(ts_ms="1602000000000"), "readings.0.ts_ms: Input should be a valid integer"),
        (lambda r: r.update(reason="timeout"), "reason is given only with quality read_failure"),
        (lambda r: r.update(quality="read_failure", reason="gremlins"), "readings.0.reason"),
    ],
)
def test_bad_readings_are_refused_with_the_reason(mutation, reason: str) -> None:  # type: ignore[no-untyped-def]
    reading = {
        "sensor": "le_thuy.level",
        "station": "le_thuy",
        "quantity": "water_level",
        "value": 1.5,
        "unit": "m",
        "ts_ms": 1_602_000_000_000,
        "quality": "good",
    }
    mutation(reading)
    payload = json.dumps({"v": 1, "gateway": "gw-1", "seq": 1, "readings": [reading]}).encode()
    with pytest.raises(ContractError, match=reason.replace("(", r"\(")):
        decode_telemetry(payload)


def test_nan_and_oversize_are_refused() -> None:
    nan = b'{"v":1,"gateway":"g","seq":1,"readings":[{"sensor":"s","station":"s","quantity":"rain",'
    nan += b'"value":NaN,"unit":"mm","ts_ms":1602000000000,"quality":"good"}]}'
    with pytest.raises(ContractError):
        decode_telemetry(nan)
    with pytest.raises(ContractError, match="exceeds"):
        decode_telemetry(b" " * 2_000_000)


def test_topics_round_trip_and_refuse_wildcards() -> None:
    assert gateway_from_topic(telemetry_topic("gw-le-thuy-01")) == "gw-le-thuy-01"
    assert gateway_from_topic("floodwatch/v1/warnings") is None
    for bad in ("gw/1", "gw+", "#", "", "GW"):
        with pytest.raises(ValueError, match="gateway id"):
            telemetry_topic(bad)


def test_a_reading_without_a_reason_keeps_its_bytes() -> None:
    """`reason` is left out when absent: a good reading costs no more bytes than before."""
    good = Reading(sensor="s", station="t", quantity="rain", value=1.0, unit="mm", ts_ms=MIN_TS_MS, quality="good")
    assert b"reason" not in good.model_dump_json().encode()
    failed = good.model_copy(update={"value": None, "quality": Quality.read_failure, "reason": FailureReason.timeout})
    assert b'"reason":"timeout"' in failed.model_dump_json().encode()


def _batch_json(seq: int) -> bytes:
    reading = {"sensor": "s", "station": "s", "quantity": "rain", "value": 1.0, "unit": "mm"}
    reading |= {"ts_ms": MIN_TS_MS, "quality": "good"}
    return json.dumps({"v": 1, "gateway": "gw-1", "seq": seq, "readings": [reading]}).encode()


@given(st.one_of(st.integers(MAX_INT64 + 1, 10**400), st.integers(max_value=-1)))
def test_a_seq_outside_int64_is_refused(seq: int) -> None:
    with pytest.raises(ContractError, match="invalid seq"):
        decode_telemetry(_batch_json(seq))


def test_the_largest_seq_passes() -> None:
    assert decode_telemetry(_batch_json(MAX_INT64)).seq == MAX_INT64


@given(gateway_ids, st.lists(st.integers(0, MAX_INT64), min_size=1, max_size=MAX_SEQS_PER_ACK).map(tuple))
def test_acks_round_trip(gateway: str, seqs: tuple[int, ...]) -> None:
    ack = BatchAck(gateway=gateway, seqs=seqs)
    assert decode_ack(encode_ack(ack)) == ack
    assert ack_topic(gateway) == f"floodwatch/v1/{gateway}/ack"


@pytest.mark.parametrize(
    ("seqs", "reason"),
    [([], "at least 1"), ([MAX_INT64 + 1], "less than or equal"), ([0] * (MAX_SEQS_PER_ACK + 1), "at most")],
)
def test_acks_are_bounded(seqs: list[int], reason: str) -> None:
    with pytest.raises(ContractError, match=reason):
        decode_ack(json.dumps({"v": 1, "gateway": "gw-1", "seqs": seqs}).encode())


def test_status_counts_are_bounded() -> None:
    status = {"v": 1, "gateway": "gw-1", "state": "online", "device_errors": {"d": 10**400}}
    with pytest.raises(ContractError, match="device_errors"):
        decode_status(json.dumps(status).encode())

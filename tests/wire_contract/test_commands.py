"""The command path's messages: round trips, bounds, and refusals with a reason."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire_contract import (
    CommandResult,
    ContractError,
    DeviceCommand,
    command_result_topic,
    command_topic,
    decode_command,
    decode_command_result,
    encode_command,
    encode_command_result,
)
from wire_contract.payload import MAX_TS_MS, MIN_TS_MS

times = st.integers(MIN_TS_MS, MAX_TS_MS - 1)
commands = st.builds(
    DeviceCommand,
    command_id=st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.:-]{0,40}\Z"),
    gateway=st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,20}\Z"),
    device=st.from_regex(r"\A[a-z0-9][a-z0-9_.-]{0,20}\Z"),
    register_name=st.from_regex(r"\A[a-z][a-z0-9_]{0,20}\Z"),
    value=st.integers(0, 65535),
    issued_ms=times,
    deadline_ms=times,
    reason=st.text(max_size=50),
)
results = st.builds(
    CommandResult,
    command_id=st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.:-]{0,40}\Z"),
    gateway=st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,20}\Z"),
    outcome=st.sampled_from(["done", "refused", "failed", "expired"]),
    value_read=st.none() | st.integers(0, 65535),
    ts_ms=times,
    detail=st.text(max_size=50),
)


@given(commands)
def test_commands_round_trip(command: DeviceCommand) -> None:
    assert decode_command(encode_command(command)) == command


@given(results)
def test_results_round_trip(result: CommandResult) -> None:
    assert decode_command_result(encode_command_result(result)) == result


@given(commands, st.sampled_from([-1, 65536, 2**63, 1.5, "1", True]))
def test_a_value_that_is_not_one_word_is_refused(command: DeviceCommand, junk: object) -> None:
    data = json.loads(encode_command(command))
    data["value"] = junk
    with pytest.raises(ContractError, match="invalid value"):
        decode_command(json.dumps(data).encode())


@given(st.binary(max_size=200))
def test_random_bytes_are_refused_with_a_reason(data: bytes) -> None:
    with pytest.raises(ContractError):
        decode_command(data)


def test_topics() -> None:
    assert command_topic("gw-le-thuy") == "floodwatch/v1/gw-le-thuy/command"
    assert command_result_topic("gw-le-thuy") == "floodwatch/v1/gw-le-thuy/command_result"
    with pytest.raises(ValueError, match="gateway id"):
        command_topic("+/#")

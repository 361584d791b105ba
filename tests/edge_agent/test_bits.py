"""Coils and discrete inputs: the frame codec against the spec's examples (Modbus Application
Protocol v1.1b3, 6.1, 6.2, 6.5, 6.11), round trips, poll planning by bits."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.plan import plan_requests
from edge_agent.rtu import (
    ExceptionResponse,
    UnexpectedFrame,
    decode_response,
    decode_write_response,
    encode_read,
    encode_response,
    encode_write_coils,
    pack_bits,
    response_length,
    unpack_bits,
    with_crc,
    write_echo,
)
from hardware_specs import Profile

UNIT = 0x11


def _pdu(frame: bytes) -> bytes:
    return frame[1:-2]  # less the unit id and the CRC


def test_read_coils_matches_the_spec_example() -> None:
    # 6.1: read coils 20-38 (address 0x13, 19 coils); the answer's 3 bytes CD 6B 05.
    assert _pdu(encode_read(UNIT, 1, 0x13, 0x13)) == bytes.fromhex("01 0013 0013")
    response = with_crc(bytes([UNIT]) + bytes.fromhex("01 03 CD 6B 05"))
    assert len(response) == response_length(19, 1) == 8
    # CD = 1100 1101: coil 20 is its least significant bit; 05 = the last three, 0-padded.
    expected = [*(1, 0, 1, 1, 0, 0, 1, 1), *(1, 1, 0, 1, 0, 1, 1, 0), *(1, 0, 1)]
    assert decode_response(response, UNIT, 1, 19) == expected
    assert encode_response(UNIT, 1, expected) == response


def test_read_discrete_inputs_matches_the_spec_example() -> None:
    # 6.2: inputs 197-218 (address 0xC4, 22 inputs); the answer AC DB 35.
    assert _pdu(encode_read(UNIT, 2, 0xC4, 0x16)) == bytes.fromhex("02 00C4 0016")
    response = with_crc(bytes([UNIT]) + bytes.fromhex("02 03 AC DB 35"))
    bits = decode_response(response, UNIT, 2, 22)
    assert pack_bits(bits) == bytes.fromhex("AC DB 35")
    assert bits[:8] == [0, 0, 1, 1, 0, 1, 0, 1]  # AC = 1010 1100, LSB first
    assert bits[16:] == [1, 0, 1, 0, 1, 1]  # 35 = 0011 0101: the 6 inputs 213-218, 2 bits of padding


def test_write_single_coil_matches_the_spec_example() -> None:
    # 6.5: coil 173 (address 0xAC) ON is FF 00; the response echoes the request.
    on = encode_write_coils(UNIT, 0xAC, [1])
    assert _pdu(on) == bytes.fromhex("05 00AC FF00")
    assert _pdu(encode_write_coils(UNIT, 0xAC, [0])) == bytes.fromhex("05 00AC 0000")
    decode_write_response(on, on)  # the echo is taken
    with pytest.raises(UnexpectedFrame):
        decode_write_response(encode_write_coils(UNIT, 0xAC, [0]), on)  # the device kept it off


def test_write_multiple_coils_matches_the_spec_example() -> None:
    # 6.11: coils 20-29 (address 0x13, 10 coils) set to CD 01; the response is fc, address, count.
    bits = [1, 0, 1, 1, 0, 0, 1, 1, 1, 0]
    request = encode_write_coils(UNIT, 0x13, bits)
    assert _pdu(request) == bytes.fromhex("0F 0013 000A 02 CD 01")
    echo = write_echo(request)
    assert _pdu(echo) == bytes.fromhex("0F 0013 000A")
    decode_write_response(echo, request)


@pytest.mark.parametrize(("function", "code", "name"), [(1, 2, 2), (2, 1, 1), (5, 4, 4), (15, 6, 6)])
def test_exception_responses_to_bit_functions(function: int, code: int, name: int) -> None:
    exception = with_crc(bytes([UNIT, function | 0x80, code]))
    with pytest.raises(ExceptionResponse) as raised:
        if function in (1, 2):
            decode_response(exception, UNIT, function, 8)
        else:
            decode_write_response(exception, encode_write_coils(UNIT, 0, [1] if function == 5 else [1, 0]))
    assert raised.value.code == name


@given(st.lists(st.integers(0, 1), min_size=1, max_size=2000), st.sampled_from([1, 2]), st.integers(1, 247))
def test_bit_reads_round_trip(bits: list[int], function: int, unit: int) -> None:
    frame = encode_response(unit, function, bits)
    assert len(frame) == response_length(len(bits), function) == 5 + -(-len(bits) // 8)
    assert decode_response(frame, unit, function, len(bits)) == bits


@given(st.lists(st.integers(0, 1), min_size=1, max_size=1968), st.integers(0, 65535 - 1968))
def test_coil_writes_round_trip(bits: list[int], address: int) -> None:
    request = encode_write_coils(7, address, bits)
    if len(bits) == 1:
        assert request[1] == 5 and request[4:6] == (b"\xff\x00" if bits[0] else b"\x00\x00")
    else:
        assert request[1] == 15 and request[6] == -(-len(bits) // 8)
        assert unpack_bits(request[7:-2], len(bits)) == bits
    decode_write_response(write_echo(request), request)


def _profile(registers: list[dict[str, object]]) -> Profile:
    return Profile.model_validate(
        {"name": "relays", "manufacturer": "x", "model": "y", "source": "test", "registers": registers}
    )


def _bit(name: str, table: str, address: int) -> dict[str, object]:
    return {"name": name, "table": table, "address": address, "type": "bool", "quantity": "door_open",
            "unit": "bool", "valid_min": 0, "valid_max": 1}  # fmt: skip


def test_bit_reads_are_planned_per_table_up_to_2000_bits() -> None:
    registers = [_bit("a", "coil", 0), _bit("b", "coil", 16), _bit("c", "coil", 1999), _bit("d", "coil", 2000),
                 _bit("e", "discrete_input", 0), _bit("f", "discrete_input", 40)]  # fmt: skip
    profile = _profile(registers)
    plan = plan_requests(profile, {r["name"]: f"s.{r['name']}" for r in registers})  # type: ignore[misc]
    got = [(r.table, r.address, r.count, [(s.register.name, s.offset) for s in r.slots]) for r in plan]
    assert got == [
        ("coil", 0, 17, [("a", 0), ("b", 16)]),  # 15 bits between: read through
        ("coil", 1999, 2, [("c", 0), ("d", 1)]),  # a gap of 1982 bits: a request of its own
        ("discrete_input", 0, 1, [("e", 0)]),
        ("discrete_input", 40, 1, [("f", 0)]),  # 39 bits between: past BIT_GAP (16)
    ]
    wide = _profile([_bit(f"x{i}", "coil", 10 * i) for i in range(250)])
    (first, second) = plan_requests(wide, {f"x{i}": f"s.x{i}" for i in range(250)})
    assert (first.address, first.count, second.address, second.count) == (0, 1991, 2000, 491)

"""Register decoding: truth tables with real bytes, and round trips for every type and order."""

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.decode import DecodeError, engineering_value, number_to_words, raw_for_value, words_to_number
from hardware_specs import DATA_TYPE_LAYOUT, ByteOrder, DataType, Register

# 0x41200000 is 10.0 as a big-endian float32; 0x12345678 = 305419896.
TRUTH_TABLE = [
    (DataType.float32, ByteOrder.ABCD, [0x4120, 0x0000], 10.0),
    (DataType.float32, ByteOrder.CDAB, [0x0000, 0x4120], 10.0),
    (DataType.float32, ByteOrder.BADC, [0x2041, 0x0000], 10.0),
    (DataType.float32, ByteOrder.DCBA, [0x0000, 0x2041], 10.0),
    (DataType.uint32, ByteOrder.ABCD, [0x1234, 0x5678], 0x12345678),
    (DataType.uint32, ByteOrder.CDAB, [0x5678, 0x1234], 0x12345678),
    (DataType.uint32, ByteOrder.BADC, [0x3412, 0x7856], 0x12345678),
    (DataType.uint32, ByteOrder.DCBA, [0x7856, 0x3412], 0x12345678),
    (DataType.int16, ByteOrder.ABCD, [0xFFFE], -2),
    (DataType.int16, ByteOrder.BADC, [0xFEFF], -2),
    (DataType.uint16, ByteOrder.ABCD, [0xFFFE], 65534),
    (DataType.int32, ByteOrder.CDAB, [0xFFFF, 0xFFFF], -1),
    (DataType.int64, ByteOrder.ABCD, [0, 0, 0, 5], 5),
    (DataType.int64, ByteOrder.CDAB, [5, 0, 0, 0], 5),
    (DataType.uint64, ByteOrder.DCBA, [0x0500, 0, 0, 0], 5),
    (DataType.float64, ByteOrder.ABCD, [0x3FF0, 0, 0, 0], 1.0),
]


@pytest.mark.parametrize(("data_type", "order", "words", "expected"), TRUTH_TABLE)
def test_truth_table(data_type: DataType, order: ByteOrder, words: list[int], expected: float) -> None:
    assert words_to_number(words, data_type, order) == expected
    assert number_to_words(expected, data_type, order) == words


def test_wrong_byte_order_gives_a_different_number() -> None:
    words = number_to_words(4.88, DataType.float32, ByteOrder.CDAB)
    assert words_to_number(words, DataType.float32, ByteOrder.CDAB) == 4.88
    assert words_to_number(words, DataType.float32, ByteOrder.ABCD) != 4.88


def test_wrong_register_count_and_nan_are_refused() -> None:
    with pytest.raises(DecodeError, match="float32 needs 2 registers, got 1"):
        words_to_number([1], DataType.float32, ByteOrder.ABCD)
    with pytest.raises(DecodeError, match="not a finite number"):
        words_to_number([0x7FC0, 0], DataType.float32, ByteOrder.ABCD)


def _number_for(data_type: DataType) -> st.SearchStrategy[float | int]:
    code, count = DATA_TYPE_LAYOUT[data_type]
    bits = 16 * count
    if code in "fd":
        width = 32 if code == "f" else 64
        return st.floats(allow_nan=False, allow_infinity=False, width=width)
    if code.isupper():
        return st.integers(0, 2**bits - 1)
    return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


@given(st.sampled_from(list(DATA_TYPE_LAYOUT)), st.sampled_from(list(ByteOrder)), st.data())
def test_every_type_and_order_round_trips(data_type: DataType, order: ByteOrder, data: st.DataObject) -> None:
    number = data.draw(_number_for(data_type))
    words = number_to_words(number, data_type, order)
    assert len(words) == DATA_TYPE_LAYOUT[data_type][1]
    assert all(0 <= w <= 0xFFFF for w in words)
    decoded = words_to_number(words, data_type, order)
    if data_type is DataType.float32:  # shortest decimal of the same float32
        assert struct.pack(">f", decoded) == struct.pack(">f", number)
    else:
        assert decoded == number


def _register(**overrides: object) -> Register:
    fields: dict[str, object] = {
        "name": "rain_hour",
        "address": 0,
        "type": "uint16",
        "scale": 0.1,
        "quantity": "rain",
        "unit": "mm",
        "valid_min": 0,
        "valid_max": 200,
    }
    return Register.model_validate(fields | overrides)


@given(st.integers(0, 2000))
def test_scaled_values_round_trip_exactly(tenths: int) -> None:
    register = _register()
    value = tenths / 10
    assert engineering_value(register, raw_for_value(register, value)) == value


def test_scale_and_offset() -> None:
    register = _register(type="int16", scale=0.01, offset=-5.0, quantity="water_level", unit="m")
    assert engineering_value(register, [0x01F4]) == 0.0
    assert math.isclose(engineering_value(register, [0xFFFF]), -5.01)


def test_the_largest_float32s_decode() -> None:
    # A shorter decimal of 3.4025e38 rounds past the float32 maximum (found by hypothesis).
    for number in (3.4025001647762064e38, 3.4028234663852886e38):
        words = number_to_words(number, DataType.float32, ByteOrder.ABCD)
        assert struct.pack(">f", words_to_number(words, DataType.float32, ByteOrder.ABCD)) == struct.pack(">f", number)

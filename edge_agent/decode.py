"""Register words -> engineering values, by profile.

Pure functions, compiled once per device: the poll loop only slices the words
of a response and calls them.
"""

import contextlib
import functools
import math
import struct
from collections.abc import Callable, Sequence

from hardware_specs import DATA_TYPE_LAYOUT, ByteOrder, DataType, Register


class DecodeError(ValueError):
    """Words that cannot be a value of the register's type."""


def _reorder(raw: bytes, order: ByteOrder) -> bytes:
    """Put received bytes into big-endian order (its own inverse, so encode uses it too)."""
    words = [raw[i : i + 2] for i in range(0, len(raw), 2)]
    if order in (ByteOrder.CDAB, ByteOrder.DCBA):
        words.reverse()
    if order in (ByteOrder.BADC, ByteOrder.DCBA):
        words = [word[::-1] for word in words]
    return b"".join(words)


def words_to_number(words: Sequence[int], data_type: DataType, order: ByteOrder) -> float | int:
    return number_decoder(data_type, order)(words)


@functools.cache
def number_decoder(data_type: DataType, order: ByteOrder) -> Callable[[Sequence[int]], float | int]:
    """`words_to_number` for one type and order, its formats worked out once (32 of them at most).

    Reversing the words and packing them little-endian is `_reorder` without building bytes twice.
    A bool (a coil or discrete input) arrives as one bit, 0 or 1, and is that number.
    """
    if data_type is DataType.bool:
        return _bit
    code, count = DATA_TYPE_LAYOUT[data_type]
    pack = struct.Struct(("<" if order in (ByteOrder.BADC, ByteOrder.DCBA) else ">") + f"{count}H").pack
    unpack = struct.Struct(">" + code).unpack
    reverse = order in (ByteOrder.CDAB, ByteOrder.DCBA)
    floating = code in "fd"
    float32 = data_type is DataType.float32

    def number(words: Sequence[int]) -> float | int:
        if len(words) != count:
            raise DecodeError(f"{data_type.value} needs {count} registers, got {len(words)}")
        try:
            packed = pack(*reversed(words)) if reverse else pack(*words)
        except struct.error:  # not 16-bit words: fail as the byte-by-byte decoding does
            _slow_words_to_number(words, data_type, order)
            raise
        (value,) = unpack(packed)
        if floating and not math.isfinite(value):
            raise DecodeError(f"{data_type.value} words {list(words)} are not a finite number")
        if float32:
            return _shortest_float32(value)
        return value  # type: ignore[no-any-return]

    return number


def _bit(bits: Sequence[int]) -> int:
    if len(bits) != 1 or bits[0] not in (0, 1):
        raise DecodeError(f"a bool is one bit of 0 or 1, got {list(bits)}")
    return bits[0]


def _slow_words_to_number(words: Sequence[int], data_type: DataType, order: ByteOrder) -> float | int:
    code, _ = DATA_TYPE_LAYOUT[data_type]
    raw = b"".join(word.to_bytes(2, "big") for word in words)
    (number,) = struct.unpack(">" + code, _reorder(raw, order))
    return number  # type: ignore[no-any-return]


def number_to_words(number: float | int, data_type: DataType, order: ByteOrder) -> list[int]:
    if data_type is DataType.bool:
        return [1 if number else 0]
    code, _ = DATA_TYPE_LAYOUT[data_type]
    raw = _reorder(struct.pack(">" + code, number), order)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


_FLOAT32 = struct.Struct(">f").pack
_SIGNIFICANT = tuple(f".{digits}g" for digits in range(1, 10))
_SHORTEST: dict[bytes, float] = {}  # float32 bits -> shortest decimal; a sensor repeats its values
_SHORTEST_MAX = 1024


def _shortest_float32(number: float) -> float:
    """The shortest decimal that is the same float32, so 4.88 stays 4.88, not 4.880000114."""
    bits = _FLOAT32(number)
    shortest = _SHORTEST.get(bits)  # keyed by bits, not value: -0.0 is not 0.0
    if shortest is not None:
        return shortest
    shortest = number
    for significant in _SIGNIFICANT:
        candidate = float(format(number, significant))
        with contextlib.suppress(OverflowError):  # near the float32 maximum a short decimal can round past it
            if _FLOAT32(candidate) == bits:
                shortest = candidate
                break
    if len(_SHORTEST) >= _SHORTEST_MAX:
        _SHORTEST.clear()
    _SHORTEST[bits] = shortest
    return shortest


def engineering_value(register: Register, words: Sequence[int]) -> float:
    return register_value(register, words_to_number(words, register.type, register.byte_order))


def register_value(register: Register, raw: float | int) -> float:
    """The engineering value of a register's decoded number: its bit, or the number scaled."""
    if register.bit is not None:
        return float((int(raw) >> register.bit) & 1)
    return scaled(register, raw)


def scaled(register: Register, raw: float | int) -> float:
    if register.scale == 1.0 and register.offset == 0.0:
        return float(raw)
    # round() keeps 2 * 0.1 from becoming 0.20000000000000004 in the database.
    return round(raw * register.scale + register.offset, 9)


def raw_for_value(register: Register, value: float) -> list[int]:
    """Words a device holds for an engineering value (what a write sends; simulators)."""
    raw = (value - register.offset) / register.scale
    if register.type in (DataType.float32, DataType.float64):
        return number_to_words(raw, register.type, register.byte_order)
    return number_to_words(round(raw), register.type, register.byte_order)


def decode_all_orders(words: Sequence[int]) -> dict[str, dict[ByteOrder, float | int | None]]:
    """Every type that fits the words, in every byte order (`floodwatch-edge probe`); None where not finite."""
    table: dict[str, dict[ByteOrder, float | int | None]] = {}
    for data_type, (_, count) in DATA_TYPE_LAYOUT.items():
        if len(words) < count:
            continue
        row: dict[ByteOrder, float | int | None] = {}
        for order in ByteOrder:
            try:
                row[order] = words_to_number(words[:count], data_type, order)
            except DecodeError:
                row[order] = None
        table[data_type.value] = row
    return table

"""The host codec against the spec's rules: vectors, broken frames, and hypothesis."""

from dataclasses import asdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.framing import (
    MAX_ENCODED,
    FrameDecoder,
    FrameError,
    cobs_decode,
    cobs_encode,
    crc16,
    decode_frame,
    encode_frame,
)
from firmware_bridge.messages import (
    ConfigSet,
    Header,
    Identify,
    Message,
    MessageError,
    MessageType,
    Reading,
    Readings,
    ReadingStatus,
    decode_message,
    encode_message,
)
from tests.firmware_bridge.strategies import messages, u16


def test_crc_check_value_of_the_spec() -> None:
    assert crc16(b"123456789") == 0x29B1


@pytest.mark.parametrize(
    ("data", "encoded"),
    [
        (b"", b"\x01"),
        (b"\x00", b"\x01\x01"),
        (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
        (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255)) + b"\x01"),
        (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
    ],
)
def test_cobs_vectors(data: bytes, encoded: bytes) -> None:
    assert cobs_encode(data) == encoded
    assert cobs_decode(encoded) == data


# PROTOCOL.md section 7: (message, wire frame); the differential test holds the C codec to them too.
SPEC_EXAMPLES = [
    (Identify(), 1, 0, "0101000100", "030101020103fed800"),
    (ConfigSet(2, 30), 2, 0, "0104000200021e000000", "030104020203021e0101038f0e00"),
    (
        Readings(
            1_700_000_000_000,
            True,
            (Reading(0, 1234, -3, ReadingStatus(0)), Reading(1, 57, -1, ReadingStatus(0))),
        ),
        5,
        1,
        "01420105000068e5cf8b010000010200d2040000fd000139000000ff00",
        "0501420105010668e5cf8b010103010203d2040102fd030139010102ff0309d100",
    ),
]


@pytest.mark.parametrize(("message", "seq", "flags", "raw", "wire"), SPEC_EXAMPLES)
def test_spec_examples(message: Message, seq: int, flags: int, raw: str, wire: str) -> None:
    assert encode_message(message, seq, flags).hex() == raw
    assert encode_frame(bytes.fromhex(raw)).hex() == wire
    assert decode_message(decode_frame(bytes.fromhex(wire)[:-1]))[1] == message


@given(st.binary(max_size=600))
def test_cobs_round_trip_has_no_zero(data: bytes) -> None:
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert cobs_decode(encoded) == data


@given(messages, u16, st.integers(0, 1))
def test_messages_round_trip_through_frames(message: object, seq: int, flags: int) -> None:
    raw = encode_message(message, seq, flags)  # type: ignore[arg-type]
    frame = encode_frame(raw)
    assert len(frame) <= MAX_ENCODED + 1
    assert decode_frame(frame[:-1]) == raw
    header, decoded = decode_message(raw)
    assert header == Header(message.TYPE, seq, flags)  # type: ignore[attr-defined]
    assert decoded == message


@given(st.lists(messages, min_size=1, max_size=8), st.data())
def test_a_stream_decodes_the_same_whatever_the_read_boundaries(batch: list[object], data: st.DataObject) -> None:
    stream = b"".join(encode_frame(encode_message(m, i)) for i, m in enumerate(batch))  # type: ignore[arg-type]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = FrameDecoder()
    got = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += decoder.feed(stream[start:end])
    assert [decode_message(g)[1] for g in got] == batch
    assert decoder.counters.frames_ok == len(batch)


GOOD = encode_frame(encode_message(Readings(1_700_000_000_000, True, ()), 7))


@pytest.mark.parametrize(
    ("stream", "counter"),
    [
        (GOOD[:-4] + b"\x00", "crc_error"),  # truncated: the tail lost, the next delimiter ends it
        (GOOD[:1] + bytes([GOOD[1] ^ 0x40]) + GOOD[2:], "crc_error"),  # one bit flipped
        (b"\x05\x01\x00", "cobs_error"),  # the code byte points past the end
        (b"\x03\x01\x02\x00", "short"),
        (b"\x01" * 300 + b"\x00", "oversize"),
    ],
)
def test_broken_frames_are_counted_and_the_next_good_one_is_decoded(stream: bytes, counter: str) -> None:
    decoder = FrameDecoder()
    assert decoder.feed(stream + b"garbage\x00\x00" + GOOD) == [GOOD_MESSAGE]
    # "garbage" reads as a COBS code byte of 103 in a 7-byte frame: a cobs_error of its own
    expected = {"frames_ok": 1, "oversize": 0, "cobs_error": 1, "short": 0, "crc_error": 0}
    expected[counter] += 1
    assert asdict(decoder.counters) == expected


GOOD_MESSAGE = decode_frame(GOOD[:-1])


def test_an_oversize_run_is_skipped_to_the_next_delimiter() -> None:
    decoder = FrameDecoder()
    for _ in range(100):  # 10,000 bytes without a delimiter, fed in pieces: memory stays bounded
        assert decoder.feed(b"\x07" * 100) == []
    assert decoder.feed(b"\x00" + GOOD) == [GOOD_MESSAGE]
    assert decoder.counters.oversize == 1


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (bytes.fromhex("0201000100"), "bad_version"),
        (bytes.fromhex("017f000100"), "unknown_type"),
        (bytes.fromhex("010100010000"), "bad_length"),  # IDENTIFY with a body byte
        (bytes.fromhex("0142000100") + bytes(9) + b"\x01", "bad_length"),  # READINGS says 1, has 0
        (bytes.fromhex("0141000100") + bytes([1, 1, 0, 0, 0, 0, 40]) + bytes(40), "bad_length"),  # str > 32
    ],
)
def test_bad_messages_are_refused_with_their_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(MessageError, match=reason) as caught:
        decode_message(raw)
    assert caught.value.reason == reason


@given(st.binary(max_size=300))
def test_the_decoder_never_raises_and_accounts_for_every_frame(data: bytes) -> None:
    decoder = FrameDecoder()
    got = decoder.feed(data)
    c = decoder.counters
    delimited = [p for p in data.split(b"\x00")[:-1] if p]
    assert c.frames_ok == len(got)
    # every non-empty delimited run is either a frame or counted once as what broke it
    undelimited_oversize = len(data.split(b"\x00")[-1]) > MAX_ENCODED
    assert c.frames_ok + c.framing_errors + c.crc_error == len(delimited) + undelimited_oversize


def test_decode_frame_reasons() -> None:
    with pytest.raises(FrameError, match="short"):
        decode_frame(b"\x02\x01")
    assert MessageType.HELLO == 0x41


@given(st.binary(max_size=700), st.lists(st.integers(0, 700), max_size=12))
def test_any_bytes_decode_alike_in_one_read_or_in_pieces(data: bytes, cuts: list[int]) -> None:
    """What the UART hands over at a time (one byte, a burst) never changes what is decoded
    or counted, garbage and oversize runs included."""
    whole = FrameDecoder()
    expected = whole.feed(data)
    pieces = FrameDecoder()
    got: list[bytes] = []
    bounds = sorted(min(c, len(data)) for c in cuts)
    for start, end in zip([0, *bounds], [*bounds, len(data)], strict=True):
        got += pieces.feed(data[start:end])
    assert (got, pieces.counters) == (expected, whole.counters)

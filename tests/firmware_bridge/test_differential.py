"""The C codec (fb_tool, built from firmware_bridge/c) and the Python codec agree: the same
frames from the same messages, the same messages and counters from the same byte streams,
including random garbage (the fuzz run of the C decoder), and the same SHA-256."""

import hashlib
import random
import subprocess
from dataclasses import astuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack.c_node import CBuild
from firmware_bridge.framing import FrameDecoder, encode_frame
from firmware_bridge.messages import Message, encode_message
from tests.firmware_bridge.strategies import messages
from tests.firmware_bridge.test_framing import SPEC_EXAMPLES

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def c_encode(build: CBuild, raws: list[bytes]) -> list[bytes]:
    text = "".join(raw.hex() + "\n" for raw in raws)
    out = subprocess.run([build.tool, "encode"], input=text.encode(), capture_output=True, check=True).stdout
    return [bytes.fromhex(line) for line in out.decode().split()]


def c_decode(build: CBuild, stream: bytes) -> tuple[list[bytes], tuple[int, ...]]:
    out = subprocess.run([build.tool, "decode"], input=stream, capture_output=True, check=True, timeout=30).stdout
    lines = out.decode().splitlines()
    counters = lines.pop().split()
    assert counters[0] == "counters"
    return [bytes.fromhex(line) for line in lines], tuple(int(c) for c in counters[1:])


def py_decode(stream: bytes) -> tuple[list[bytes], tuple[int, ...]]:
    decoder = FrameDecoder()
    return decoder.feed(stream), astuple(decoder.counters)


def test_spec_examples_in_c(c_build: CBuild) -> None:
    assert [f.hex() for f in c_encode(c_build, [bytes.fromhex(raw) for *_, raw, _ in SPEC_EXAMPLES])] == [
        wire for *_, wire in SPEC_EXAMPLES
    ]


@FAST
@given(st.lists(st.tuples(messages, st.integers(0, 0xFFFF)), min_size=1, max_size=20))
def test_c_and_python_encode_the_same_frames(c_build: CBuild, batch: list[tuple[Message, int]]) -> None:
    raws = [encode_message(message, seq) for message, seq in batch]
    assert c_encode(c_build, raws) == [encode_frame(raw) for raw in raws]


def _corrupt(frame: bytes, how: int, rng: random.Random) -> bytes:
    if how == 0:
        return frame
    if how == 1:  # a bit flipped
        at = rng.randrange(len(frame) - 1)
        return frame[:at] + bytes([frame[at] ^ (1 << rng.randrange(8)) or 1]) + frame[at + 1 :]
    if how == 2:  # truncated: the node reset mid-frame
        return frame[: rng.randrange(1, len(frame))]
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))  # line noise


@FAST
@given(st.lists(st.tuples(messages, st.integers(0, 3)), min_size=1, max_size=30), st.integers(0, 2**32))
def test_c_and_python_decode_broken_streams_alike(c_build: CBuild, batch: list[tuple[Message, int]], seed: int) -> None:
    rng = random.Random(seed)
    stream = b"".join(_corrupt(encode_frame(encode_message(m, i)), how, rng) for i, (m, how) in enumerate(batch))
    assert c_decode(c_build, stream) == py_decode(stream)


@pytest.mark.parametrize("seed", range(4))
def test_fuzz_the_c_decoder_with_random_bytes(c_build: CBuild, seed: int) -> None:
    """1 MB of random bytes per seed, biased towards zeros and short runs: no crash, no
    hang (the subprocess has a timeout), and exactly the Python decoder's counts."""
    rng = random.Random(seed)
    weights = [0.05, 0.01] if seed % 2 else [0.004, 0.0]  # zero bytes; 0xFF bytes
    parts = bytearray()
    while len(parts) < 1_000_000:
        r = rng.random()
        parts.append(0 if r < weights[0] else 0xFF if r < weights[0] + weights[1] else rng.randrange(1, 256))
    frames = [encode_frame(encode_message(m, i)) for i, (m, _) in enumerate(SPEC_EXAMPLES_AS_MESSAGES)]
    stream = bytes(parts) + b"\x00" + b"".join(frames)
    c_messages, c_counters = c_decode(c_build, stream)
    py_messages, py_counters = py_decode(stream)
    assert (c_messages, c_counters) == (py_messages, py_counters)
    assert c_messages[-len(frames) :] == [encode_message(m, i) for i, (m, _) in enumerate(SPEC_EXAMPLES_AS_MESSAGES)]
    assert sum(c_counters) > 1000


SPEC_EXAMPLES_AS_MESSAGES = [(message, seq) for message, seq, *_ in SPEC_EXAMPLES]


@pytest.mark.parametrize("size", [0, 1, 55, 56, 63, 64, 65, 1000, 70_000])
def test_c_sha256_matches_hashlib(c_build: CBuild, size: int) -> None:
    data = random.Random(size).randbytes(size)
    out = subprocess.run([c_build.tool, "sha256"], input=data, capture_output=True, check=True).stdout
    assert out.decode().strip() == hashlib.sha256(data).hexdigest()

"""Node-protocol frames decoded per second against a saturated 115,200-baud line, for the
C decoder (fb_tool) and the Python host; and the host's CPU while a line is saturated.

    .venv/bin/python bench/firmware_bridge_line_rate.py [seconds]

The frames are READINGS with two channels (a river level and a rain gauge), the
message a node sends most: 33 bytes on the wire, 349 frames/s fill a 115,200-baud 8N1 line
(11,520 bytes/s). Three figures:

1. decode speed, each implementation fed the same 3.3 MB stream: frames/s and its ratio
   to the line's frames/s; the Python host in 4096-byte reads and in 32-byte reads (what
   a USB serial adapter hands over at a time), frames and messages decoded;
2. the share of one core that keeps up with the line: line frames/s / decoded frames/s;
3. live: a feeder process writes frames at the line's rate into a socat pty pair for
   `seconds` seconds while the host's NodeLink takes them; the host process's CPU time over
   the wall time, and the frames lost (must be 0). Aim: under 5 % of one core.
"""

import asyncio
import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from devstack.c_node import build_c_node
from devstack.serial_line import PtyPair
from firmware_bridge.framing import FrameDecoder, encode_frame
from firmware_bridge.link import NodeLink
from firmware_bridge.messages import Reading, Readings, ReadingStatus, decode_message, encode_message

BAUD = 115_200
LINE_BYTES_PER_S = BAUD / 10  # 8N1: 10 bits per byte


def reading_frame(seq: int) -> bytes:
    readings = (Reading(0, 1234 + seq % 100, -3, ReadingStatus(0)), Reading(1, seq, -1, ReadingStatus(0)))
    return encode_frame(encode_message(Readings(1_700_000_000_000 + seq * 1000, True, readings), seq & 0xFFFF))


def python_rate(stream: bytes, frames: int, read_size: int) -> float:
    decoder = FrameDecoder()
    started = time.perf_counter()
    decoded = 0
    for at in range(0, len(stream), read_size):
        for raw in decoder.feed(stream[at : at + read_size]):
            decode_message(raw)
            decoded += 1
    seconds = time.perf_counter() - started
    assert decoded == frames, (decoded, frames)
    return frames / seconds


def c_rate(tool: Path, stream: bytes, frames: int, rounds: int) -> float:
    out = subprocess.run([tool, "bench", str(rounds)], input=stream, capture_output=True, check=True).stdout.split()
    assert int(out[1]) == frames * rounds, out
    return frames * rounds / float(out[5])


def feed(port: str, seconds: float, ready: Any) -> None:
    """Write READINGS frames at the line's rate (paced every 10 ms) for `seconds`."""
    with open(port, "wb", buffering=0) as line:
        ready.wait()
        started = time.monotonic()
        sent = 0
        seq = 0
        while (elapsed := time.monotonic() - started) < seconds:
            batch = bytearray()
            while sent + len(batch) < elapsed * LINE_BYTES_PER_S:
                batch += reading_frame(seq)
                seq += 1
            line.write(bytes(batch))
            sent += len(batch)
            time.sleep(0.01)
        line.write(b"\x00" + encode_frame(encode_message(Readings(0, False, ()), seq & 0xFFFF)))  # the end


async def live(port: str, seconds: float, ready: Any) -> tuple[float, int, int, float]:
    async with NodeLink(port) as link:
        ready.set()
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.monotonic()
        frames = 0
        while True:
            message = await link.next_unsolicited(seconds + 10, Readings)
            assert isinstance(message, Readings)
            if not message.readings:
                break
            frames += 1
        wall = time.monotonic() - started
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        return cpu / wall, frames, link.counters.lost_messages, wall


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    frames = 100_000
    stream = b"".join(reading_frame(seq) for seq in range(frames))
    frame_bytes = len(stream) / frames
    line_frames = LINE_BYTES_PER_S / frame_bytes
    print(f"READINGS frame: {frame_bytes:.0f} bytes on the wire; a {BAUD}-baud line carries {line_frames:.0f} frames/s")

    with tempfile.TemporaryDirectory() as folder:
        build = build_c_node(Path(folder))
        rates = {
            "C (fb_decoder_push, byte at a time)": c_rate(build.tool, stream, frames, 10),
            "Python host, 4096-byte reads": python_rate(stream, frames, 4096),
            "Python host, 32-byte reads": python_rate(stream, frames, 32),
        }
        print(f"{'decoder':40} {'frames/s':>12} {'× line rate':>12} {'core share at line rate':>24}")
        for name, rate in rates.items():
            print(f"{name:40} {rate:12,.0f} {rate / line_frames:12,.0f} {100 * line_frames / rate:23.2f}%")
        c_over_python = rates["C (fb_decoder_push, byte at a time)"] / rates["Python host, 4096-byte reads"]
        print(f"C / Python (4096-byte reads): {c_over_python:.1f}×")

        with PtyPair(Path(folder), "bench") as pair:
            ready = multiprocessing.Event()
            feeder = multiprocessing.Process(target=feed, args=(pair.device_end, seconds, ready))
            feeder.start()
            share, got, lost, wall = asyncio.run(live(pair.master_end, seconds, ready))
            feeder.join(10)
        print(
            f"live, {seconds:.0f} s of a saturated line through socat into NodeLink: {got} frames "
            f"({got / wall:.0f}/s), {lost} lost; host CPU {100 * share:.2f}% of one core (aim < 5%)"
        )


if __name__ == "__main__":
    main()

"""The Python host against the C reference node over a socat pty pair: every message type
in both directions, refusals, and broken frames on the line, counted on both sides."""

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from devstack.c_node import CBuild, SimulatedNode
from devstack.serial_line import PtyPair
from firmware_bridge.framing import encode_frame
from firmware_bridge.link import LinkError, NodeLink, NodeRefused
from firmware_bridge.messages import (
    BootReason,
    ConfigKey,
    Error,
    ErrorCode,
    Heartbeat,
    Hello,
    ImageState,
    Readings,
    ReadingStatus,
    UpdateConfirm,
    UpdateStatus,
)

T = TypeVar("T")
NodeLine = tuple[str, SimulatedNode]


def run(node_line: NodeLine, scenario: Callable[[NodeLink, SimulatedNode], Awaitable[T]]) -> T:
    port, node = node_line

    async def main() -> T:
        async with NodeLink(port, timeout_s=1.0) as link:
            await link.identify()  # the node is up (its boot HELLO may predate the host)
            return await scenario(link, node)

    return asyncio.run(main())


def test_identify(node_line: NodeLine) -> None:
    async def scenario(link: NodeLink, node: SimulatedNode) -> Hello:
        return await link.identify()

    hello = run(node_line, scenario)
    assert hello == Hello(1, (1, 0, 0), ImageState.CONFIRMED, BootReason.POWER_ON, "fb-ref-level", "SIM-0001")


def test_poll_reads_every_channel_with_its_scale_and_status(node_line: NodeLine) -> None:
    async def scenario(link: NodeLink, node: SimulatedNode) -> tuple[Readings, Readings, Error]:
        first = await link.poll()
        node.set_sensors([(2500, -3, 0), (0, 0, ReadingStatus.SENSOR_FAULT), (-40, -1, ReadingStatus.OUT_OF_RANGE)])
        second = await link.poll()
        report = await link.next_unsolicited(5, Error)
        assert isinstance(report, Error)
        return first, second, report

    first, second, report = run(node_line, scenario)
    assert not first.time_synced
    assert [(r.channel, r.value, r.status) for r in first.readings] == [(0, 1.234, 0), (1, 5.7, 0)]
    assert [(r.channel, r.value, r.status) for r in second.readings] == [
        (0, 2.5, 0),
        (1, None, ReadingStatus.SENSOR_FAULT),
        (2, -4.0, ReadingStatus.OUT_OF_RANGE),
    ]
    # the channel that failed is also reported once, unsolicited
    assert (report.code, report.about_type, report.detail) == (ErrorCode.SENSOR_FAULT, 0, 1)


def test_time_sync_stamps_readings_in_utc(node_line: NodeLine) -> None:
    async def scenario(link: NodeLink, node: SimulatedNode) -> tuple[int, bool, int, int]:
        before = await link.poll()
        ack = await link.time_sync(1_750_000_000_000)
        after = await link.poll()
        return before.time_ms, bool(ack.was_synced), ack.previous_ms, after.time_ms

    uptime_ms, was_synced, previous_ms, synced_ms = run(node_line, scenario)
    assert uptime_ms < 60_000 and previous_ms >= uptime_ms and not was_synced
    assert 1_750_000_000_000 <= synced_ms < 1_750_000_000_000 + 5_000


def test_configuration_is_checked_and_kept_across_a_power_cut(node_line: NodeLine) -> None:
    async def set_and_refuse(link: NodeLink, node: SimulatedNode) -> list[object]:
        seen: list[object] = [await link.config_get(ConfigKey.HEARTBEAT_S)]
        seen.append(await link.config_set(ConfigKey.LEVEL_OFFSET_MM, 250))
        seen.append((await link.poll()).readings[0].value)
        seen.append(await link.config_get(ConfigKey.CHANNEL_COUNT))
        for key, value in [(ConfigKey.HEARTBEAT_S, 4000), (99, 1), (ConfigKey.CHANNEL_COUNT, 3)]:
            with pytest.raises(NodeRefused) as refused:
                await link.config_set(key, value)
            seen.append((ErrorCode(refused.value.error.code).name, refused.value.error.detail))
        return seen

    assert run(node_line, set_and_refuse) == [
        10,
        250,
        1.484,
        2,
        ("BAD_VALUE", ConfigKey.HEARTBEAT_S),
        ("UNKNOWN_KEY", 99),
        ("READ_ONLY", ConfigKey.CHANNEL_COUNT),
    ]
    _, node = node_line
    node.kill()
    node.start()

    async def after_power_cut(link: NodeLink, node: SimulatedNode) -> int:
        return await link.config_get(ConfigKey.LEVEL_OFFSET_MM)

    assert run(node_line, after_power_cut) == 250


def test_pushed_readings_and_heartbeats_carry_the_nodes_counters(node_line: NodeLine) -> None:
    """CRC errors, truncated frames and garbage between frames: the node counts them, says
    so in its heartbeat, and answers the next good request."""

    async def scenario(link: NodeLink, node: SimulatedNode) -> tuple[Readings, Heartbeat, Hello]:
        await link.config_set(ConfigKey.REPORT_INTERVAL_S, 1)
        await link.config_set(ConfigKey.HEARTBEAT_S, 1)
        good = encode_frame(bytes.fromhex("0101000100"))
        flipped = good[:2] + bytes([good[2] ^ 0x10]) + good[3:]
        link.send_raw(b"\x00" + flipped)  # a CRC error
        link.send_raw(good[:4] + b"\x00")  # truncated: short
        link.send_raw(b"\x00line noise\x00")  # garbage between frames: a COBS error
        link.send_raw(b"\x00" + encode_frame(bytes.fromhex("0201000900")))  # protocol version 2
        hello = await link.identify()
        link.drain_unsolicited()
        pushed = await link.next_unsolicited(5, Readings)
        heartbeat = await link.next_unsolicited(5, Heartbeat)
        assert isinstance(pushed, Readings) and isinstance(heartbeat, Heartbeat)
        await link.config_set(ConfigKey.REPORT_INTERVAL_S, 0)
        await link.config_set(ConfigKey.HEARTBEAT_S, 10)
        return pushed, heartbeat, hello

    pushed, heartbeat, hello = run(node_line, scenario)
    assert [r.value for r in pushed.readings] == [1.234, 5.7]
    assert (heartbeat.crc_errors, heartbeat.framing_errors, heartbeat.bad_messages) == (1, 2, 1)
    assert heartbeat.frames_ok >= 5 and heartbeat.image_state == ImageState.CONFIRMED
    assert hello.serial == "SIM-0001"


def test_the_node_refuses_what_it_does_not_know(node_line: NodeLine) -> None:
    async def scenario(link: NodeLink, node: SimulatedNode) -> list[tuple[str, int, int]]:
        errors = []
        # an unknown type, POLL with a body byte, a HELLO sent to the node
        for raw in ["017f000a00", "0102000b0001", "0141000c00"]:
            error = await link.exchange_raw(bytes.fromhex(raw))
            assert isinstance(error, Error)
            errors.append((ErrorCode(error.code).name, error.about_type, error.detail))
        return errors

    assert run(node_line, scenario) == [("UNKNOWN_TYPE", 0x7F, 0), ("BAD_LENGTH", 0x02, 1), ("UNKNOWN_TYPE", 0x41, 0)]


def test_update_confirm_outside_an_update_changes_nothing(node_line: NodeLine) -> None:
    async def scenario(link: NodeLink, node: SimulatedNode) -> object:
        return await link.request(UpdateConfirm())

    assert run(node_line, scenario) == UpdateStatus(0, 4, 0, 0)


def test_a_late_response_is_dropped_not_taken_for_the_next(node_line: NodeLine) -> None:
    """A response to a request the host no longer waits for (seq 500 here) is counted and
    dropped; the node answers requests in order, so it is in before the IDENTIFY's answer."""

    async def scenario(link: NodeLink, node: SimulatedNode) -> tuple[int, Hello]:
        link.send_raw(b"\x00" + encode_frame(bytes.fromhex("010200f401")))  # POLL, seq 500
        hello = await link.identify()
        return link.counters.stale_responses, hello

    stale, hello = run(node_line, scenario)
    assert stale == 1 and hello.model == "fb-ref-level"


def test_random_well_framed_messages_never_crash_or_hang_the_node(node_line: NodeLine) -> None:
    """2,000 messages with good CRCs but random types, flags and bodies (the node's decoder
    passes them to its dispatcher): each gets exactly one answer, and the node, built with
    the sanitizers, is still alive and counting after them."""
    rng = random.Random(16)
    types = [*range(0x01, 0x0A), 0x41, 0x47, 0x7F, 0x00, 0xFF]

    async def scenario(link: NodeLink, node: SimulatedNode) -> tuple[int, Hello]:
        answered = 0
        for seq in range(1000, 3000):
            body = rng.randbytes(rng.choice([0, 1, 4, 5, 8, 39, rng.randrange(0, 245)]))
            raw = bytes([rng.choice([1, 1, 1, 2]), rng.choice(types), rng.choice([0, 0, 1])]) + seq.to_bytes(
                2, "little"
            )
            await link.exchange_raw(raw + body)
            answered += 1
        return answered, await link.identify()

    answered, hello = run(node_line, scenario)
    assert answered == 2000 and hello.model == "fb-ref-level"
    assert node_line[1].alive()


def test_a_port_that_goes_away_fails_requests_at_once(c_build: CBuild, tmp_path: Path) -> None:
    """The other end of the line vanishes (socat stopped, as a USB adapter unplugged): the
    next request fails with a LinkError instead of spinning on a readable, failing port."""

    async def main() -> tuple[Hello, str, float]:
        with PtyPair(tmp_path, "gone") as pair, SimulatedNode(c_build.node, pair.device_end, tmp_path):
            link = NodeLink(pair.master_end, timeout_s=1.0, retries=2)
            await link.__aenter__()
            hello = await link.identify()
        started = time.monotonic()
        try:
            with pytest.raises(LinkError) as failed:
                await link.poll()
        finally:
            await link.__aexit__(None, None, None)
        return hello, str(failed.value), time.monotonic() - started

    hello, error, seconds = asyncio.run(main())
    assert hello.model == "fb-ref-level"
    assert "the port failed" in error
    assert seconds < 1.0  # not the request's timeout: the port's failure


def test_the_node_clock_runs_on_past_the_32_bit_millisecond_wrap(c_build: CBuild, tmp_path: Path) -> None:
    """port_clock_ms() wraps after 49 days; the node's uptime (and its readings' times before
    a sync) keep counting. The simulated node starts 1.5 s before the wrap."""
    wrap = 2**32

    async def main() -> list[int]:
        with (
            PtyPair(tmp_path, "wrap") as pair,
            SimulatedNode(c_build.node, pair.device_end, tmp_path, clock_start_ms=wrap - 1500),
        ):
            async with NodeLink(pair.master_end) as link:
                times = [(await link.poll()).time_ms]
                deadline = time.monotonic() + 10
                while times[-1] < wrap + 100 and time.monotonic() < deadline:
                    times.append((await link.poll()).time_ms)
                return times

    times = asyncio.run(main())
    assert wrap - 1500 <= times[0] < wrap
    assert times[-1] >= wrap + 100 and times == sorted(times)

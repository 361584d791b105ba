"""Firmware update from the Python host into the C node over a pty: the whole path, a
power cut mid-transfer (resume), a corrupted transfer (hash refused), and an image that
never reports in (rollback)."""

import asyncio
import hashlib

import pytest

from devstack.c_node import SimulatedNode, sim_image
from firmware_bridge.link import NodeLink
from firmware_bridge.messages import (
    MAX_CHUNK,
    BootReason,
    ConfigKey,
    Hello,
    ImageState,
    UpdateBegin,
    UpdateChunk,
    UpdateCommit,
    UpdateResult,
    UpdateState,
    UpdateStatus,
)
from firmware_bridge.update import UpdateFailed, UpdateRolledBack, update_firmware

NodeLine = tuple[str, SimulatedNode]
NEW = (1, 1, 0)


def test_an_update_is_sent_verified_switched_to_and_confirmed(node_line: NodeLine) -> None:
    port, node = node_line
    image = sim_image(NEW, size=3000)

    async def main() -> tuple[Hello, Hello, int]:
        async with NodeLink(port) as link:
            await link.identify()
            outcome = await update_firmware(link, image, NEW, report_in_s=10)
            return outcome.hello, await link.identify(), outcome.chunks_sent

    trial_hello, after, chunks = asyncio.run(main())
    assert (trial_hello.firmware, trial_hello.image_state, trial_hello.boot_reason) == (
        NEW,
        ImageState.TRIAL,
        BootReason.UPDATE,
    )
    assert (after.firmware, after.image_state) == (NEW, ImageState.CONFIRMED)
    assert chunks == -(-len(image) // MAX_CHUNK)
    # confirmed means kept: a power cut boots the new image again
    node.kill()
    node.start()

    async def after_power_cut() -> Hello:
        async with NodeLink(port) as link:
            return await link.identify()

    hello = asyncio.run(after_power_cut())
    assert (hello.firmware, hello.image_state, hello.boot_reason) == (NEW, ImageState.CONFIRMED, BootReason.POWER_ON)


def test_a_power_cut_mid_transfer_resumes_where_the_node_stopped(node_line: NodeLine) -> None:
    port, node = node_line
    image = sim_image(NEW, size=6000)
    cut_at = 20 * MAX_CHUNK

    async def main() -> tuple[list[int], int, Hello]:
        async with NodeLink(port, timeout_s=0.2, retries=2) as link:
            await link.identify()

            def progress(offset: int, size: int) -> None:
                if offset == cut_at:
                    node.kill()  # the power goes; the next chunk gets no answer

            # once the host has given up on the chunk (its retries spent), the power returns
            outcome = await update_firmware(link, image, NEW, report_in_s=10, progress=progress, on_silence=node.start)
            return outcome.resumed_at, outcome.chunks_sent, outcome.hello

    resumed_at, chunks, hello = asyncio.run(main())
    # the node kept every chunk it had acknowledged; at most the one in flight is sent twice
    assert resumed_at == [cut_at]
    assert chunks in (-(-len(image) // MAX_CHUNK), -(-len(image) // MAX_CHUNK) + 1)
    assert hello.firmware == NEW


def test_an_image_that_fails_its_hash_is_refused_and_the_old_one_keeps_running(node_line: NodeLine) -> None:
    port, _ = node_line
    image = sim_image(NEW, size=1000)
    corrupted = image[:500] + bytes([image[500] ^ 1]) + image[501:]

    async def main() -> tuple[UpdateStatus, UpdateStatus, Hello]:
        async with NodeLink(port) as link:
            begin = await link.request(UpdateBegin(len(image), hashlib.sha256(image).digest(), *NEW))
            for offset in range(0, len(corrupted), MAX_CHUNK):
                await link.request(UpdateChunk(offset, corrupted[offset : offset + MAX_CHUNK]))
            commit = await link.request(UpdateCommit())
            again = await link.request(UpdateCommit())
            assert isinstance(begin, UpdateStatus) and begin.result == UpdateResult.OK
            assert isinstance(commit, UpdateStatus) and isinstance(again, UpdateStatus)
            return commit, again, await link.identify()

    commit, again, hello = asyncio.run(main())
    assert (commit.state, commit.result) == (UpdateState.IDLE, UpdateResult.HASH_MISMATCH)
    assert again.result == UpdateResult.NO_UPDATE  # the transfer is forgotten
    assert (hello.firmware, hello.image_state) == ((1, 0, 0), ImageState.CONFIRMED)


def test_chunks_out_of_order_are_answered_with_the_offset_the_node_wants(node_line: NodeLine) -> None:
    port, _ = node_line
    image = sim_image(NEW, size=1000)

    async def main() -> list[tuple[int, int]]:
        async with NodeLink(port) as link:
            await link.request(UpdateBegin(len(image), hashlib.sha256(image).digest(), *NEW))
            statuses = [
                await link.request(UpdateChunk(0, image[:MAX_CHUNK])),
                await link.request(UpdateChunk(0, image[:MAX_CHUNK])),  # a retransmission
                await link.request(UpdateChunk(3 * MAX_CHUNK, image[3 * MAX_CHUNK : 4 * MAX_CHUNK])),
                await link.request(UpdateCommit()),
            ]
            return [(s.result, s.next_offset) for s in statuses if isinstance(s, UpdateStatus)]

    assert asyncio.run(main()) == [
        (UpdateResult.OK, MAX_CHUNK),
        (UpdateResult.BAD_OFFSET, MAX_CHUNK),
        (UpdateResult.BAD_OFFSET, MAX_CHUNK),
        (UpdateResult.INCOMPLETE, MAX_CHUNK),
    ]


@pytest.mark.parametrize("failure", ["hangs_at_boot", "never_confirmed"])
def test_a_new_image_that_does_not_report_in_is_rolled_back(node_line: NodeLine, failure: str) -> None:
    """hangs_at_boot: the image never reaches its UART; the watchdog resets the node.
    never_confirmed: it says HELLO but nobody confirms it within trial_timeout_s."""
    port, _ = node_line
    image = sim_image(NEW, size=2000, hang=failure == "hangs_at_boot")

    async def main() -> tuple[Hello | None, Hello]:
        async with NodeLink(port) as link:
            await link.config_set(ConfigKey.TRIAL_TIMEOUT_S, 1)
            if failure == "hangs_at_boot":
                with pytest.raises(UpdateRolledBack) as rolled:
                    await update_firmware(link, image, NEW, report_in_s=10)
                trial = None
                back = rolled.value.hello
            else:
                await _send_without_confirming(link, image)
                trial = await link.next_unsolicited(10, Hello)
                back = await link.next_unsolicited(10, Hello)
            assert back is not None and (trial is None or isinstance(trial, Hello))
            return trial, back  # type: ignore[return-value]

    trial, back = asyncio.run(main())
    if trial is not None:
        assert (trial.firmware, trial.image_state) == (NEW, ImageState.TRIAL)
    assert (back.firmware, back.image_state, back.boot_reason) == ((1, 0, 0), ImageState.CONFIRMED, BootReason.ROLLBACK)


async def _send_without_confirming(link: NodeLink, image: bytes) -> None:
    await link.request(UpdateBegin(len(image), hashlib.sha256(image).digest(), *NEW))
    for offset in range(0, len(image), MAX_CHUNK):
        await link.request(UpdateChunk(offset, image[offset : offset + MAX_CHUNK]))
    link.drain_unsolicited()
    status = await link.request(UpdateCommit())
    if not isinstance(status, UpdateStatus) or status.state != UpdateState.VERIFIED:
        raise UpdateFailed(link.port, f"commit answered {status}")

"""Firmware update from the host (PROTOCOL.md section 4): begin or resume, chunks from
where the node says it stands, commit (the node checks the SHA-256), wait for the new
image to report in, confirm.

    outcome = await update_firmware(link, image, (1, 1, 0))

A transfer cut by a node reset or a silent line is resumed: `UPDATE_BEGIN` with the same
image makes the node answer with the offset it has, and the transfer goes on from there
(`outcome.resumed_at` lists those offsets). If the new image does not report in, the node
rolls back by itself; `update_firmware` then raises `UpdateRolledBack`.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from firmware_bridge.link import NodeLink, NodeTimeout
from firmware_bridge.messages import (
    MAX_CHUNK,
    BootReason,
    Hello,
    ImageState,
    UpdateBegin,
    UpdateChunk,
    UpdateCommit,
    UpdateConfirm,
    UpdateResult,
    UpdateState,
    UpdateStatus,
)


class UpdateFailed(Exception):
    """The update did not go through; `result` is the node's last UpdateResult, if any."""

    def __init__(self, port: str, detail: str, result: UpdateResult | None = None) -> None:
        super().__init__(f"{port}: firmware update: {detail}")
        self.port = port
        self.result = result


class UpdateRolledBack(UpdateFailed):
    def __init__(self, port: str, hello: Hello | None) -> None:
        running = f"running {hello.firmware_text} again" if hello is not None else "silent"
        super().__init__(port, f"the new image did not report in; the node rolled back ({running})")
        self.hello = hello


@dataclass
class UpdateOutcome:
    hello: Hello  # the new image's HELLO, confirmed
    chunks_sent: int = 0
    resumed_at: list[int] = field(default_factory=list)


Progress = Callable[[int, int], None]


# PROTOCOL.md, timing: UPDATE_BEGIN may erase the spare slot, up to 2 s.
ERASE_S = 2.5


async def _status(
    link: NodeLink, message: UpdateBegin | UpdateChunk | UpdateCommit | UpdateConfirm, timeout_s: float | None = None
) -> UpdateStatus:
    response = await link.request(message, timeout_s)
    if not isinstance(response, UpdateStatus):
        raise UpdateFailed(link.port, f"{message.TYPE.name} answered with {response.TYPE.name}")
    return response


def _refused(link: NodeLink, step: str, status: UpdateStatus) -> UpdateFailed:
    result = UpdateResult(status.result)
    return UpdateFailed(link.port, f"{step}: node answered {result.name.lower()}", result)


async def _transfer(
    link: NodeLink, image: bytes, begin: UpdateBegin, outcome: UpdateOutcome, progress: Progress | None
) -> None:
    status = await _status(link, begin, max(link.timeout_s, ERASE_S))
    if status.result != UpdateResult.OK:
        raise _refused(link, "UPDATE_BEGIN", status)
    offset = status.next_offset
    if offset:
        outcome.resumed_at.append(offset)
    while offset < len(image):
        status = await _status(link, UpdateChunk(offset, image[offset : offset + MAX_CHUNK]))
        outcome.chunks_sent += 1
        if status.result not in (UpdateResult.OK, UpdateResult.BAD_OFFSET):
            raise _refused(link, f"UPDATE_CHUNK at {offset}", status)
        offset = status.next_offset
        if progress is not None:
            progress(offset, len(image))


async def update_firmware(
    link: NodeLink,
    image: bytes,
    version: tuple[int, int, int],
    report_in_s: float = 90.0,
    attempts: int = 5,
    progress: Progress | None = None,
    on_silence: Callable[[], None] | None = None,
) -> UpdateOutcome:
    """Send `image` and switch the node to it; `report_in_s` is how long the new image may
    take to say HELLO (the node's `trial_timeout_s` plus its boot). `progress(offset, size)`
    follows the transfer; `on_silence()` is called when the node has stopped answering and
    the transfer waits for its boot HELLO to resume."""
    begin = UpdateBegin(len(image), hashlib.sha256(image).digest(), *version)
    outcome = UpdateOutcome(hello=Hello(0, (0, 0, 0), ImageState.CONFIRMED, BootReason.POWER_ON, "", ""))
    for attempt in range(attempts):
        try:
            await _transfer(link, image, begin, outcome, progress)
            break
        except NodeTimeout:
            if attempt == attempts - 1:
                raise
            # The node went quiet (a reset, a cut): its boot HELLO says it is back.
            if on_silence is not None:
                on_silence()
            await link.next_unsolicited(report_in_s, Hello)
    link.drain_unsolicited()
    status = await _status(link, UpdateCommit())
    if status.result != UpdateResult.OK or status.state != UpdateState.VERIFIED:
        raise _refused(link, "UPDATE_COMMIT", status)
    try:
        hello = await link.next_unsolicited(report_in_s, Hello)
    except NodeTimeout as error:
        raise UpdateRolledBack(link.port, None) from error
    assert isinstance(hello, Hello)
    if hello.image_state != ImageState.TRIAL or hello.firmware != version:
        raise UpdateRolledBack(link.port, hello)
    status = await _status(link, UpdateConfirm())
    if status.state != UpdateState.CONFIRMED:
        raise _refused(link, "UPDATE_CONFIRM", status)
    outcome.hello = hello
    return outcome

"""The host end of one node's serial line: requests matched to responses by sequence
number, retried with the same number on a timeout; unsolicited messages queued.

    async with NodeLink("/dev/ttyUSB0") as link:
        hello = await link.identify()
        readings = await link.poll()
        message = await link.next_unsolicited(timeout_s=15)    # a heartbeat, pushed readings ...

A response that comes after its request was given up (its `seq` is no longer waited for)
is dropped and counted in `stale_responses`. Gaps in the node's own numbering of
unsolicited messages count as `lost_messages`; a HELLO numbered 0 is a node that rebooted.
"""

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

import serial

from firmware_bridge.framing import FrameCounters, FrameDecoder, encode_frame
from firmware_bridge.messages import (
    ConfigGet,
    ConfigSet,
    ConfigValue,
    Error,
    ErrorCode,
    Header,
    Hello,
    Identify,
    Message,
    MessageError,
    MessageType,
    Poll,
    Readings,
    TimeAck,
    TimeSync,
    decode_message,
    encode_message,
)

UNSOLICITED_QUEUE = 256

T = TypeVar("T")


class LinkError(Exception):
    """A request the node did not answer as asked; `port` and `request` name it."""

    def __init__(self, port: str, request: MessageType, detail: str) -> None:
        super().__init__(f"{port}: {request.name}: {detail}")
        self.port = port
        self.request = request


class NodeTimeout(LinkError):
    pass


class NodeRefused(LinkError):
    """The node answered with an ERROR message."""

    def __init__(self, port: str, request: MessageType, error: Error) -> None:
        try:
            code = ErrorCode(error.code).name.lower()
        except ValueError:
            code = f"code {error.code}"
        super().__init__(port, request, f"refused: {code} (detail {error.detail})")
        self.error = error


class UnexpectedResponse(LinkError):
    pass


@dataclass
class LinkCounters:
    """What the host dropped or missed, next to the frame decoder's counters."""

    bad_messages: int = 0
    stale_responses: int = 0
    lost_messages: int = 0
    unsolicited_dropped: int = 0
    retries: int = 0


class NodeLink:
    """One node on one serial port. An async context manager; requests may be issued from
    several tasks at once (each waits for its own `seq`)."""

    def __init__(self, port: str, baud: int = 115_200, timeout_s: float = 0.5, retries: int = 2) -> None:
        self.port = port
        self.baud = baud
        self.timeout_s = timeout_s
        self.retries = retries
        self.decoder = FrameDecoder()
        self.counters = LinkCounters()
        self.last_hello: Hello | None = None
        self._serial: serial.Serial | None = None
        self._seq = 0
        self._waiting: dict[int, asyncio.Future[tuple[Header, Message]]] = {}
        self._unsolicited: deque[tuple[Header, Message]] = deque()
        self._arrived = asyncio.Event()
        self._node_seq: int | None = None
        self._broken: str | None = None  # why the port stopped working (unplugged, EIO)

    @property
    def frame_counters(self) -> FrameCounters:
        return self.decoder.counters

    async def __aenter__(self) -> "NodeLink":
        if self._serial is not None:
            raise RuntimeError(f"{self.port}: the link is already open (not re-entrant)")
        try:
            port = serial.Serial(self.port, baudrate=self.baud, timeout=0, write_timeout=0, exclusive=True)
        except serial.SerialException as error:
            raise LinkError(self.port, MessageType.IDENTIFY, f"cannot open the port: {error}") from error
        port.reset_input_buffer()
        asyncio.get_running_loop().add_reader(port.fileno(), self._on_readable)
        self._serial = port
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._serial is not None:
            if self._broken is None:
                asyncio.get_running_loop().remove_reader(self._serial.fileno())
            self._serial.close()
            self._serial = None
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()

    def _on_readable(self) -> None:
        assert self._serial is not None
        try:
            data = self._serial.read(4096)
        except serial.SerialException as error:
            # A USB adapter unplugged, a pty whose other end is gone: the port stays readable
            # and every read fails. Stop reading; requests fail until the link is reopened.
            self._break(str(error))
            return
        for raw in self.decoder.feed(data):
            try:
                header, message = decode_message(raw)
            except MessageError:
                self.counters.bad_messages += 1
                continue
            self._dispatch(header, message)

    def _dispatch(self, header: Header, message: Message) -> None:
        if header.is_response:
            future = self._waiting.get(header.seq)
            if future is None or future.done():
                self.counters.stale_responses += 1
            else:
                future.set_result((header, message))
            return
        if isinstance(message, Hello) and header.seq == 0:
            self._node_seq = None  # the node rebooted: its numbering starts again
        if self._node_seq is not None and header.seq != self._node_seq:
            self.counters.lost_messages += (header.seq - self._node_seq) & 0xFFFF
        self._node_seq = (header.seq + 1) & 0xFFFF
        if isinstance(message, Hello):
            self.last_hello = message
        if len(self._unsolicited) == UNSOLICITED_QUEUE:
            self._unsolicited.popleft()
            self.counters.unsolicited_dropped += 1
        self._unsolicited.append((header, message))
        self._arrived.set()

    def _break(self, reason: str) -> None:
        if self._broken is None and self._serial is not None:
            self._broken = reason
            asyncio.get_running_loop().remove_reader(self._serial.fileno())
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(LinkError(self.port, MessageType.IDENTIFY, f"the port failed: {reason}"))

    def send_raw(self, data: bytes) -> None:
        """Bytes onto the line as they are (tests: garbage, truncated frames)."""
        if self._serial is None:
            raise RuntimeError(f"{self.port}: the link is not open")
        if self._broken is not None:
            raise LinkError(self.port, MessageType.IDENTIFY, f"the port failed: {self._broken}; reopen the link")
        try:
            self._serial.write(data)
        except serial.SerialException as error:
            self._break(str(error))
            raise LinkError(self.port, MessageType.IDENTIFY, f"the port failed: {error}") from error

    async def request(self, message: Message, timeout_s: float | None = None) -> Message:
        """Send `message`, return the node's response; an ERROR response raises NodeRefused.
        `timeout_s` overrides the link's for this request (a flash erase takes longer)."""
        seq = self._seq
        self._seq = (self._seq + 1) & 0xFFFF
        response = await self._exchange(seq, encode_message(message, seq), message.TYPE, timeout_s)
        if isinstance(response, Error):
            raise NodeRefused(self.port, message.TYPE, response)
        return response

    async def exchange_raw(self, raw: bytes) -> Message:
        """Send the message bytes `raw` as they are (its own header and seq), return the
        response, an ERROR included: for tests and for poking a node during commissioning."""
        try:
            kind = MessageType(raw[1])
        except ValueError:
            kind = MessageType.IDENTIFY
        return await self._exchange(int.from_bytes(raw[3:5], "little"), raw, kind)

    async def _exchange(self, seq: int, raw: bytes, kind: MessageType, timeout_s: float | None = None) -> Message:
        frame = b"\x00" + encode_frame(raw)
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        loop = asyncio.get_running_loop()
        try:
            for attempt in range(self.retries + 1):
                future: asyncio.Future[tuple[Header, Message]] = loop.create_future()
                self._waiting[seq] = future
                if attempt:
                    self.counters.retries += 1
                self.send_raw(frame)
                try:
                    _, response = await asyncio.wait_for(future, timeout_s)
                except TimeoutError:
                    continue
                return response
        finally:
            self._waiting.pop(seq, None)
        raise NodeTimeout(self.port, kind, f"no response in {self.retries + 1} × {timeout_s} s")

    async def _expect(self, message: Message, kind: type[T]) -> T:
        response = await self.request(message)
        if not isinstance(response, kind):
            raise UnexpectedResponse(self.port, message.TYPE, f"answered with {response.TYPE.name}")
        return response

    async def identify(self) -> Hello:
        hello = await self._expect(Identify(), Hello)
        self.last_hello = hello
        return hello

    async def poll(self) -> Readings:
        return await self._expect(Poll(), Readings)

    async def config_get(self, key: int) -> int:
        return (await self._expect(ConfigGet(key), ConfigValue)).value

    async def config_set(self, key: int, value: int) -> int:
        return (await self._expect(ConfigSet(key, value), ConfigValue)).value

    async def time_sync(self, unix_ms: int | None = None) -> TimeAck:
        now = int(time.time() * 1000) if unix_ms is None else unix_ms
        return await self._expect(TimeSync(now), TimeAck)

    def drain_unsolicited(self) -> list[tuple[Header, Message]]:
        taken = list(self._unsolicited)
        self._unsolicited.clear()
        return taken

    async def next_unsolicited(self, timeout_s: float, kind: type[Message] | None = None) -> Message:
        """The next unsolicited message (of `kind`, if given; others before it are discarded)."""
        deadline = time.monotonic() + timeout_s
        while True:
            while self._unsolicited:
                _, message = self._unsolicited.popleft()
                if kind is None or isinstance(message, kind):
                    return message
            self._arrived.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                what = kind.__name__ if kind is not None else "message"
                raise NodeTimeout(self.port, MessageType.HELLO, f"no unsolicited {what} in {timeout_s} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

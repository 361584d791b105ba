"""One scheduler per serial port: one request on the wire at a time, most important first.

Every device on an RS-485 bus shares one line. Pollers hand their read requests
to the port's `SerialBus`; its worker takes them one at a time, the pending
request of the highest-priority device first (river level before camera health
when the bus is busy), and sends it after the inter-frame silence. A request is
retried `retries` times on a timeout, a bad CRC or a truncated frame, each try
waiting at most the device's `timeout_ms`.

A device that fails `quarantine_after` requests in a row is quarantined: its
requests fail at once, without touching the wire, for a backoff that doubles
from its poll period up to `quarantine_max_s`; then one request probes it. So a
dead device costs the bus one probe per backoff, never a timeout per poll.

A port fault (the port missing, locked, refused its line settings, EIO) fails the
request at once with its reason, closes the port and reopens it for the next
request: an adapter unplugged and back recovers by itself. Nothing a request
raises stops the worker, and the worker runs under the agent's `Supervisor`.
"""

import asyncio
import heapq
import itertools
import logging
import termios
import time
from dataclasses import dataclass, field

from edge_agent.failures import TransportError, classify, describe
from edge_agent.rtu import CrcMismatch, ExceptionResponse, NoResponse, RtuError, SerialLine
from edge_agent.supervisor import Supervisor
from wire_contract import FailureReason

log = logging.getLogger(__name__)


@dataclass
class DeviceHealth:
    """Per-device counters a heartbeat reports; also the quarantine state."""

    name: str
    requests: int = 0
    errors: int = 0
    retries: int = 0
    crc_errors: int = 0
    timeouts: int = 0
    quarantines: int = 0
    consecutive_failures: int = 0
    backoff_s: float = 0.0
    quarantined_until: float = 0.0

    def quarantined(self, now: float) -> bool:
        return now < self.quarantined_until


@dataclass(frozen=True)
class BusDevice:
    name: str
    unit_id: int
    priority: int
    timeout_s: float
    retries: int
    poll_s: float


@dataclass(order=True)
class _Job:
    rank: tuple[int, int]
    device: BusDevice = field(compare=False)
    table: str = field(compare=False)
    address: int = field(compare=False)
    count: int = field(compare=False)
    future: "asyncio.Future[list[int]]" = field(compare=False)
    words: tuple[int, ...] | None = field(default=None, compare=False)  # a write of these words


class SerialBus:
    def __init__(
        self,
        line: SerialLine,
        quarantine_after: int = 3,
        quarantine_max_s: float = 300.0,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.line = line
        self.supervisor = supervisor if supervisor is not None else Supervisor()
        self.quarantine_after = quarantine_after
        self.quarantine_max_s = quarantine_max_s
        self.health: dict[str, DeviceHealth] = {}
        self.busy_s = 0.0  # time the line spent in transactions
        self._queue: list[_Job] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None

    def health_of(self, device: BusDevice) -> DeviceHealth:
        return self.health.setdefault(device.name, DeviceHealth(device.name))

    async def read(self, device: BusDevice, table: str, address: int, count: int) -> list[int]:
        return await self._queued(device, table, address, count, None)

    async def write(self, device: BusDevice, address: int, words: tuple[int, ...], table: str = "holding") -> None:
        """Write holding registers (or coils: bits of 0/1), queued like a read (by the device's
        priority), retried like one."""
        await self._queued(device, table, address, len(words), words)

    async def _queued(
        self, device: BusDevice, table: str, address: int, count: int, words: tuple[int, ...] | None
    ) -> list[int]:
        health = self.health_of(device)
        if health.quarantined(time.monotonic()):
            raise TransportError(
                FailureReason.quarantined,
                f"quarantined for {health.backoff_s:g} s after {health.consecutive_failures} failures",
            )
        if self._worker is None:
            self._worker = self.supervisor.start(f"bus-{self.line.port}", self._work)
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        rank = (-device.priority, next(self._order))
        heapq.heappush(self._queue, _Job(rank, device, table, address, count, future, words))
        self._wake.set()
        return await future

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        self.line.close()

    async def _work(self) -> None:
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            job = heapq.heappop(self._queue)
            if job.future.done():  # the poller gave up waiting
                continue
            started = time.monotonic()
            try:
                words = await self._transact(job)
            except Exception as error:  # whatever a request raised fails that request, never the bus
                if not job.future.done():
                    job.future.set_exception(error if isinstance(error, TransportError) else self._unexpected(error))
            else:
                if not job.future.done():
                    job.future.set_result(words)
            finally:
                self.busy_s += time.monotonic() - started
                if not job.future.done():  # the worker itself was cancelled mid-request
                    job.future.set_exception(TransportError(FailureReason.internal_error, "bus worker stopped"))

    def _unexpected(self, error: Exception) -> TransportError:
        self.line.close()
        log.error(
            "bus_error",
            exc_info=error,
            extra={"event": "bus_error", "port": self.line.port, "reason": f"{type(error).__name__}: {error}"},
        )
        return TransportError(FailureReason.internal_error, f"{type(error).__name__}: {error}")

    async def _transact(self, job: _Job) -> list[int]:
        device, health = job.device, self.health_of(job.device)
        error: Exception = NoResponse("no response")
        for attempt in range(device.retries + 1):
            health.requests += 1
            health.retries += attempt > 0
            try:
                if job.words is None:
                    words = await self.line.read(device.unit_id, job.table, job.address, job.count, device.timeout_s)
                else:
                    await self.line.write(device.unit_id, job.address, job.words, device.timeout_s, job.table)
                    words = []
            except ExceptionResponse as refused:  # the device answered: no point repeating
                self._failed(device, health)
                raise TransportError(classify(refused), describe(refused)) from refused
            except RtuError as garbled:
                health.crc_errors += isinstance(garbled, CrcMismatch)
                health.timeouts += isinstance(garbled, NoResponse)
                error = garbled
                continue
            except (OSError, termios.error) as port_fault:
                # The port itself: reopened on the next request (an adapter unplugged and back);
                # trying again now would only meet the same fault.
                self.line.close()
                self._failed(device, health)
                raise TransportError(classify(port_fault), f"{self.line.port}: {describe(port_fault)}") from port_fault
            health.consecutive_failures = 0
            health.backoff_s = 0.0
            return words
        self._failed(device, health)
        raise TransportError(classify(error), describe(error))

    def _failed(self, device: BusDevice, health: DeviceHealth) -> None:
        health.errors += 1
        health.consecutive_failures += 1
        if health.consecutive_failures >= self.quarantine_after:
            health.backoff_s = min(max(health.backoff_s * 2, device.poll_s, 1.0), self.quarantine_max_s)
            health.quarantined_until = time.monotonic() + health.backoff_s
            health.quarantines += 1
            log.warning(
                "device_quarantined",
                extra={"event": "device_quarantined", "device": device.name, "backoff_s": health.backoff_s},
            )

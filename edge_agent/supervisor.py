"""One-for-one supervision: every long-lived task of the gateway runs here, and none dies unseen.

    supervisor = Supervisor()
    task = supervisor.start("poll-level", poll_loop)   # poll_loop: () -> Awaitable[None]
    supervisor.status()                                # name -> TaskStatus, for the heartbeat

A task that raises is logged with its reason (the first time with its traceback),
counted, shown in the status heartbeat and started again after a backoff that
doubles from `backoff_start_s` up to `backoff_max_s` (with jitter); a task that
ran for `healthy_after_s` before failing starts again from the shortest backoff.
A task that returns is done; cancelling the task returned by `start` stops it.
"""

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from wire_contract import TaskStatus

log = logging.getLogger(__name__)


@dataclass
class _Record:
    running: bool = True
    restarts: int = 0
    last_error: str | None = None


class Supervisor:
    def __init__(
        self, backoff_start_s: float = 0.5, backoff_max_s: float = 30.0, healthy_after_s: float = 60.0
    ) -> None:
        self.backoff_start_s = backoff_start_s
        self.backoff_max_s = backoff_max_s
        self.healthy_after_s = healthy_after_s
        self._records: dict[str, _Record] = {}

    def start(self, name: str, run: Callable[[], Awaitable[None]]) -> "asyncio.Task[None]":
        record = self._records[name] = _Record()
        return asyncio.create_task(self._supervise(name, run, record), name=name)

    def status(self) -> dict[str, TaskStatus]:
        return {
            name: TaskStatus(running=r.running, restarts=r.restarts, last_error=r.last_error)
            for name, r in self._records.items()
        }

    @property
    def restarts(self) -> int:
        return sum(r.restarts for r in self._records.values())

    async def _supervise(self, name: str, run: Callable[[], Awaitable[None]], record: _Record) -> None:
        backoff = self.backoff_start_s
        try:
            while True:
                started = time.monotonic()
                try:
                    await run()
                    return
                except Exception as error:  # the supervisor's one job: see it, say it, restart
                    reason = f"{type(error).__name__}: {error}"[:300]
                    record.restarts += 1
                    record.last_error = reason
                    record.running = False
                    if time.monotonic() - started >= self.healthy_after_s:
                        backoff = self.backoff_start_s
                    log.error(
                        "task_failed",
                        exc_info=record.restarts == 1,
                        extra={"event": "task_failed", "task": name, "reason": reason, "restart_in_s": backoff},
                    )
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, self.backoff_max_s)
                record.running = True
                log.info("task_restarted", extra={"event": "task_restarted", "task": name, "restarts": record.restarts})
        finally:
            record.running = False

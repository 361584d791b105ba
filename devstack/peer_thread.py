"""Run asyncio peers (pymodbus servers) on an event loop in a thread of their own, so
that code under test or benchmark can run its own loop (or a subprocess) undisturbed."""

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any


class PeerThread:
    """`with PeerThread(lambda: server.start()) as server:` ... the peer's `stop()` runs on exit."""

    def __init__(self, start: Callable[[], Awaitable[Any]]) -> None:
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._start = start
        self.peer: Any = None
        self._thread = threading.Thread(target=self._run, name="peers", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.peer = self.loop.run_until_complete(self._start())
        self._started.set()
        self.loop.run_forever()

    def __enter__(self) -> Any:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("peers did not start")
        return self.peer

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self.peer.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

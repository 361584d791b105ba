"""systemd's notify protocol, without a library: READY, STOPPING and the watchdog's ping.

systemd passes `NOTIFY_SOCKET` (a datagram socket; `@name` is Linux's abstract
namespace) and, with `WatchdogSec=` in the unit, `WATCHDOG_USEC` (and
`WATCHDOG_PID`). The agent pings at half that period from its event loop, so a
loop that is wedged (a blocking call that never returns) stops the pings and
systemd kills and restarts the service. Outside systemd every call does nothing.
"""

import contextlib
import os
import socket


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = environ if environ is not None else dict(os.environ)
        address = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        ours = not pid or pid == str(os.getpid())
        self.watchdog_s: float | None = int(usec) / 1_000_000 if usec.isdigit() and int(usec) > 0 and ours else None

    @property
    def ping_interval_s(self) -> float | None:
        return None if self.watchdog_s is None else self.watchdog_s / 2

    def notify(self, message: str) -> None:
        if not self._address:
            return
        # Never blocks the event loop: a listener that stopped reading (or systemd gone) loses the message.
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
            sock.setblocking(False)
            sock.sendto(message.encode(), self._address)

    def ready(self) -> None:
        self.notify("READY=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def ping(self) -> None:
        self.notify("WATCHDOG=1")

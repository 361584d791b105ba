"""Serial lines for tests and benchmarks: a `socat` pty pair (a real serial port as
far as pyserial knows) and pymodbus RTU servers serving station simulators on it.

    with PtyPair(tmp) as pair:            # pair.master_end, pair.device_end: two tty paths
        bus = RtuStations([sim_a, sim_b], pair.device_end, baud=9600)
        await bus.start()                 # sim_a and sim_b answer as their unit ids
        ...                               # a gateway polls pair.master_end
        await bus.stop()

A pty moves bytes at memory speed whatever the baud rate set on it. `trace_packet`
rewrites what the server sends (CRC corruption, truncation) to test how the
gateway copes.
"""

import asyncio
import os
import select
import subprocess
import termios
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer

from devstack.station_sim import StationSimulator, stop_server

TracePacket = Callable[[bool, bytes], bytes]


class PtyPair:
    """Two linked ptys made by socat; stopped (only this socat) on exit."""

    def __init__(self, folder: Path, name: str = "rs485") -> None:
        self.master_end = str(folder / f"{name}-gateway")
        self.device_end = str(folder / f"{name}-devices")
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "PtyPair":
        self._process = subprocess.Popen(
            [
                "socat",
                f"pty,raw,echo=0,link={self.master_end}",
                f"pty,raw,echo=0,link={self.device_end}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while not (Path(self.master_end).exists() and Path(self.device_end).exists()):
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError("socat did not create the pty pair (is the socat package installed?)")
            time.sleep(0.01)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=5)


class RtuStations:
    """One pymodbus RTU server on a serial port, answering for several simulated stations."""

    def __init__(
        self,
        stations: list[StationSimulator],
        port: str,
        baud: int = 9600,
        parity: str = "N",
        trace_packet: TracePacket | None = None,
    ) -> None:
        self.stations = stations
        self.port = port
        self.baud = baud
        self.parity = parity
        self.trace_packet = trace_packet
        self._server: ModbusSerialServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> "RtuStations":
        self._server = ModbusSerialServer(
            [station.sim_device() for station in self.stations],
            framer=FramerType.RTU,
            port=self.port,
            baudrate=self.baud,
            parity=self.parity,
            trace_packet=self._trace,
        )
        self._task = asyncio.create_task(self._server.serve_forever(), name=f"rtu-{self.port}")
        await asyncio.sleep(0.1)  # the server opens the port in its own task
        return self

    def _trace(self, sending: bool, data: bytes) -> bytes:
        # pymodbus's simulator answers an unknown unit id with an exception; on a real
        # bus an absent device is silent.
        if sending and data and data[0] not in {station.unit_id for station in self.stations}:
            return b""
        return self.trace_packet(sending, data) if self.trace_packet is not None else data

    async def stop(self) -> None:
        await stop_server(self._server, self._task)


class WireRelay:
    """A serial line with a baud rate: two pty pairs joined by a thread that moves bytes
    no faster than the line allows, and loses them when the gateway's side is set to
    another baud rate than the line's.

        with WireRelay(folder, baud=9600) as line:
            # pymodbus serves on line.device_end; the gateway opens line.gateway_end

    Linux ptys keep the baud rate a program sets (the relay reads it from its master
    end), but not the parity: a parity mismatch cannot be shown on a pty.
    """

    def __init__(self, folder: Path, baud: int, bits_per_char: int = 10, name: str = "wire") -> None:
        self.baud = baud
        self.char_s = bits_per_char / baud
        self.gateway_end = str(folder / f"{name}-gateway")
        self.device_end = str(folder / f"{name}-devices")
        self.bytes_moved = 0
        self._fds: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "WireRelay":
        pairs = [os.openpty(), os.openpty()]
        for (master, slave), link in zip(pairs, (self.gateway_end, self.device_end), strict=True):
            tty.setraw(slave)
            Path(link).unlink(missing_ok=True)
            Path(link).symlink_to(os.ttyname(slave))
            self._fds += [master, slave]
        self._thread = threading.Thread(target=self._run, name="wire-relay", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for fd in self._fds:
            os.close(fd)
        for link in (self.gateway_end, self.device_end):
            Path(link).unlink(missing_ok=True)

    def _speed_matches(self, master: int) -> bool:
        speed = termios.tcgetattr(master)[4]
        return bool(speed == getattr(termios, f"B{self.baud}", None))

    def _run(self) -> None:
        gateway, device = self._fds[0], self._fds[2]
        peer = {gateway: device, device: gateway}
        while not self._stop.is_set():
            ready, _, _ = select.select([gateway, device], [], [], 0.05)
            for source in ready:
                try:
                    data = os.read(source, 4096)
                except OSError:
                    continue  # the other side closed its end for now
                if not self._speed_matches(gateway):
                    # The wrong baud rate: the UART sees framing errors and drops the bytes.
                    # (Passing them on as noise would be as real, but pymodbus's server
                    # cannot resynchronise on silence the way a device does.)
                    continue
                time.sleep(len(data) * self.char_s)  # the bytes' time on the wire
                os.write(peer[source], data)
                self.bytes_moved += len(data)

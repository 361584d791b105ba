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
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer

from devstack.station_sim import StationSimulator

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
        if self._server is not None:
            await self._server.shutdown()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

"""The C reference node (firmware_bridge/c) built with the system compiler and run as a
simulated node on one end of a pty pair, for tests, the benchmark and demos.

    build = build_c_node(folder)                        # make: fb_node_posix, fb_tool
    with PtyPair(folder, "node") as pair, SimulatedNode(build.node, pair.device_end, folder) as node:
        node.set_sensors([(1234, -3, 0), (57, -1, 0)])  # channel 0: 1.234 m, channel 1: 5.7 mm
        ...                                             # the host opens pair.master_end
        node.kill(); node.start()                       # a power cut: flash (a file) survives
"""

import os
import select
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

C_SOURCES = Path(__file__).resolve().parent.parent / "firmware_bridge" / "c"
IMAGE_HANG = 0x01


@dataclass(frozen=True)
class CBuild:
    node: Path  # fb_node_posix
    tool: Path  # fb_tool


def build_c_node(folder: Path, cc: str = "cc", sanitize: bool = False) -> CBuild:
    """Compile the reference node and the codec driver into `folder` (warnings are errors);
    `sanitize`: with AddressSanitizer and UBSan, which abort on the first fault."""
    result = subprocess.run(
        ["make", "-s", "-C", str(C_SOURCES), f"BUILD={folder}", f"CC={cc}", *(["SANITIZE=1"] if sanitize else [])],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"building the C reference node failed:\n{result.stdout}{result.stderr}")
    return CBuild(folder / "fb_node_posix", folder / "fb_tool")


def sim_image(version: tuple[int, int, int], size: int = 4000, hang: bool = False) -> bytes:
    """An image as the POSIX port runs it: "FBIM", version, flags, then filler bytes."""
    header = b"FBIM" + bytes(version) + bytes([IMAGE_HANG if hang else 0])
    filler = bytes((i * 31 + version[1]) & 0xFF for i in range(size - len(header)))
    return header + filler


Sensor = tuple[int, int, int]  # raw, scale, status bits


class SimulatedNode:
    """One fb_node_posix process; `kill()` is a power cut, `start()` powers it on again."""

    def __init__(
        self,
        binary: Path,
        port: str,
        folder: Path,
        name: str = "node",
        version: str = "1.0.0",
        serial: str = "SIM-0001",
        watchdog_ms: int = 1500,
        clock_start_ms: int = 0,
    ) -> None:
        self.binary = binary
        self.port = port
        self.flash = folder / f"{name}.flash"
        self.sensors = folder / f"{name}.sensors"
        self.version = version
        self.serial = serial
        self.watchdog_ms = watchdog_ms
        self.clock_start_ms = clock_start_ms
        self._process: subprocess.Popen[bytes] | None = None

    def set_sensors(self, sensors: list[Sensor]) -> None:
        text = "".join(f"{raw} {scale} {status}\n" for raw, scale, status in sensors)
        staging = self.sensors.with_suffix(".tmp")
        staging.write_text(text)
        os.replace(staging, self.sensors)  # the node never reads half a file

    def start(self) -> "SimulatedNode":
        if not self.sensors.exists():
            self.set_sensors([(1234, -3, 0), (57, -1, 0)])
        self._process = subprocess.Popen(
            [
                str(self.binary),
                "--port",
                self.port,
                "--flash",
                str(self.flash),
                "--sensors",
                str(self.sensors),
                "--version",
                self.version,
                "--serial",
                self.serial,
                "--watchdog-ms",
                str(self.watchdog_ms),
                "--clock-start-ms",
                str(self.clock_start_ms),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._wait_for_boot()
        return self

    def _wait_for_boot(self, timeout_s: float = 10.0) -> None:
        """Until the node says it booted: from then on it reads what the host sends."""
        assert self._process is not None and self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], timeout_s)
        line = self._process.stdout.readline() if ready else b""
        if not line.startswith(b"boot "):
            stderr = self._process.stderr.read() if self._process.poll() is not None and self._process.stderr else b""
            raise RuntimeError(f"the simulated node did not boot: {line!r} {stderr.decode(errors='replace')}")

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the node stops mid-whatever, as on a power cut."""
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=5)
            self._process = None

    def __enter__(self) -> "SimulatedNode":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=5)
            self._process = None

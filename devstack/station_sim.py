"""A simulated river station: a pymodbus server that serves a device profile's
registers and replays a recorded series, `speedup` times faster than it happened.

Every answered read is logged in `served` (wall time, engineering values), so a
test can check that what reached InfluxDB is exactly what the station served.
"""

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusBaseServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from devstack.replay_data import Series
from edge_agent.decode import raw_for_value
from hardware_specs import BIT_TABLES, Profile, Register, load_profiles

MM_PER_TIP = 0.1
# Function codes that touch a bit table (reads 1, 2; writes 5, 15), and the table each touches.
_BIT_FUNCTIONS = {1: "coil", 2: "discrete_input", 5: "coil", 15: "coil"}


@dataclass
class ReplayClock:
    """Maps wall time onto the recorded series' time."""

    data_start_s: float
    speedup: float
    wall_start_s: float = field(default_factory=time.time)

    def data_time(self, wall_s: float | None = None) -> float:
        elapsed = (time.time() if wall_s is None else wall_s) - self.wall_start_s
        return self.data_start_s + elapsed * self.speedup


@dataclass(frozen=True)
class Served:
    wall_ms: int
    data_time_s: float
    values: dict[str, float]


# How each register of a profile takes its value from the replayed series.
ValueSource = Callable[[Series, float], float]
SOURCES: dict[str, ValueSource] = {
    "level": lambda series, t: series.at(t),
    "air_gap": lambda series, t: max(0.0, 12.0 - series.at(t)),
    "install_height": lambda series, t: 12.0,
    "tips": lambda series, t: round(series.total_until(t) / MM_PER_TIP),
    "rain_hour": lambda series, t: series.at(t),
    "rain_total": lambda series, t: round(series.total_until(t) / MM_PER_TIP) * MM_PER_TIP,
    # the gauge holds only the count; what the gateway derives as an increment is checked against `rain_total`
    "rain": lambda series, t: round(series.total_until(t) / MM_PER_TIP) * MM_PER_TIP,
    "mm_per_tip": lambda series, t: MM_PER_TIP,
    # A Geolux LX-80 12 m above the gauge datum, its level set from a staff-gauge reading.
    "distance": lambda series, t: max(0.0, 12.0 - series.at(t)),
    "distance_average": lambda series, t: max(0.0, 12.0 - series.at(t)),
    "level_average": lambda series, t: series.at(t),
    "sensor_height": lambda series, t: 12.0,
    "electronics_temp": lambda series, t: 31.0,
    "rs485_baud": lambda series, t: 0.0,  # 9600
    "rs485_framing": lambda series, t: 4.0,  # even parity, 1 stop bit
    # A camera cabinet: the series is the supply voltage; door shut, PoE, link and stream up.
    "supply_voltage": lambda series, t: series.at(t),
    "cabinet_temp": lambda series, t: 31.5,
    "door_open": lambda series, t: 0.0,
    "poe_power": lambda series, t: 1.0,
    "link_up": lambda series, t: 1.0,
    "stream_alive": lambda series, t: 1.0,
    "heater_on_below": lambda series, t: 5.0,
    "controller_state": lambda series, t: 1.0 if series.at(t) < 12.0 else 0.0,  # on battery below 12 V
    # A siren relay board's coils and inputs need no source: a bit no source names is off
    # (a relay released until a client writes it, the siren's current sensor silent).
}


def _off(series: Series, t: float) -> float:
    return 0.0


class StationSimulator:
    def __init__(self, profile: Profile, series: Series, clock: ReplayClock, port: int, unit_id: int = 1) -> None:
        self.profile = profile
        self.series = series
        self.clock = clock
        self.port = port
        self.unit_id = unit_id
        self.served: list[Served] = []
        self.fail_reads = False  # fault injection: answer with a Modbus exception
        self.written: dict[int, int] = {}  # address -> word a client wrote (kept: a setting stays set)
        self.written_coils: dict[int, int] = {}  # address -> 0/1 a client wrote to a coil (kept too)
        self._server: ModbusTcpServer | None = None
        self._task: asyncio.Task[None] | None = None

    def sim_device(self) -> SimDevice:
        """The pymodbus device this station is (for a TCP server, or one unit on an RTU bus)."""
        return self._device()

    def _device(self) -> SimDevice:
        """Four tables: coils, discrete inputs (a bit each) and the holding and input registers,
        which serve the same words (a profile's register is found in either)."""
        words = max((r.address + r.count for r in self.profile.registers if not r.is_bit), default=1)
        registers = [SimData(0, count=words, values=0, datatype=DataType.REGISTERS)]
        coils, inputs = (self._bit_block(table) for table in BIT_TABLES)
        return SimDevice(self.unit_id, simdata=(coils, inputs, registers, list(registers)), action=self._on_access)

    def _bit_block(self, table: str) -> list[SimData]:
        end = max((r.address + 1 for r in self.profile.registers if r.table == table), default=1)
        return [SimData(0, count=16 * -(-end // 16), values=False, datatype=DataType.BITS)]

    def values_at(self, data_time_s: float) -> dict[str, float]:
        # A coil or discrete input no source names is off (a relay nobody has switched yet).
        return {
            r.name: SOURCES.get(r.name, _off if r.is_bit else SOURCES[r.name])(self.series, data_time_s)
            for r in self.profile.registers
        }

    async def _on_access(
        self, function_code: int, start_address: int, address: int, count: int, registers: list[int], set_values: object
    ) -> ExcCodes | None:
        if self.fail_reads:
            return ExcCodes.DEVICE_BUSY
        # A device answers only in the tables it has: a relay board of coils and inputs has no
        # register, a level sensor no coil (or a scan would take one for the other).
        if function_code in _BIT_FUNCTIONS:
            if not any(r.table == _BIT_FUNCTIONS[function_code] for r in self.profile.registers):
                return ExcCodes.ILLEGAL_ADDRESS
            self._on_bits(function_code, address, count, registers, set_values)
            return None
        if all(r.is_bit for r in self.profile.registers):
            return ExcCodes.ILLEGAL_ADDRESS
        if set_values is not None:
            self.written.update(zip(range(address, address + count), list(set_values), strict=False))  # type: ignore[call-overload]
            return None
        wall_s = time.time()
        data_time = self.clock.data_time(wall_s)
        values = self.values_at(data_time)
        for register in self.profile.registers:
            if register.view_of is None and not register.is_bit:  # a view shares its base's words (bits: see _put_bits)
                self._put(registers, start_address, register, values[register.name])
        self._put_bits(registers, start_address, values)
        for written, word in self.written.items():
            if 0 <= written - start_address < len(registers):
                registers[written - start_address] = word
        served = {
            r.name: values[r.name]
            for r in self.profile.registers
            if address <= r.address < address + count and not r.is_bit
        }
        self.served.append(Served(int(wall_s * 1000), data_time, served))
        return None

    def _on_bits(self, function_code: int, address: int, count: int, registers: list[int], set_values: object) -> None:
        """A coil or discrete input: the block's words hold 16 bits each, bit `address % 16` of word
        `address // 16`; a write to a coil is kept (a relay stays switched)."""
        if set_values is not None:
            bits = [int(bool(v)) for v in set_values]  # type: ignore[attr-defined]
            self.written_coils.update(zip(range(address, address + len(bits)), bits, strict=True))
            return
        wall_s = time.time()
        data_time = self.clock.data_time(wall_s)
        values = self.values_at(data_time)
        table = _BIT_FUNCTIONS[function_code]
        served: dict[str, float] = {}
        for register in self.profile.registers:
            if register.table != table:
                continue
            value = values[register.name]
            if table == "coil":
                value = float(self.written_coils.get(register.address, value))
            word, bit = divmod(register.address, 16)
            registers[word] = registers[word] & ~(1 << bit) | (1 << bit if value else 0)
            if address <= register.address < address + 16 * count:
                served[register.name] = value
        self.served.append(Served(int(wall_s * 1000), data_time, served))

    def _put_bits(self, registers: list[int], start_address: int, values: dict[str, float]) -> None:
        for register in self.profile.registers:
            if register.bit is None or register.is_bit:
                continue
            offset = register.address - start_address
            if 0 <= offset < len(registers):
                mask = 1 << register.bit
                word = registers[offset] & ~mask
                registers[offset] = word | (mask if values[register.name] else 0)

    @staticmethod
    def _put(registers: list[int], start_address: int, register: Register, value: float) -> None:
        if register.bit is not None:
            return
        offset = register.address - start_address
        registers[offset : offset + register.count] = raw_for_value(register, value)

    async def start(self) -> "StationSimulator":
        self._server = ModbusTcpServer(self._device(), address=("127.0.0.1", self.port))
        self._task = asyncio.create_task(self._server.serve_forever(), name=f"sim-{self.port}")
        if self.port == 0:  # the kernel's choice: no other process can take it between choosing and binding
            self.port = await self._bound_port()
        await self._wait_listening()
        return self

    async def _bound_port(self) -> int:
        for _ in range(200):
            sockets = getattr(getattr(self._server, "transport", None), "sockets", None)
            if sockets:
                return int(sockets[0].getsockname()[1])
            await asyncio.sleep(0.02)
        raise RuntimeError("simulator did not bind a port")

    async def _wait_listening(self) -> None:
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                await writer.wait_closed()
                return
            except OSError:
                await asyncio.sleep(0.02)
        raise RuntimeError(f"simulator on port {self.port} did not start")

    async def stop(self) -> None:
        await stop_server(self._server, self._task)


async def stop_server(server: ModbusBaseServer | None, task: "asyncio.Task[None] | None") -> None:
    """Shut a pymodbus server down and end the task serving it (either may not have started)."""
    if server is not None:
        await server.shutdown()
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def serve_steady_stations(profile_name: str, ports: Sequence[int], value: float) -> None:
    """Serve one station per port, every one holding `value`, until the process is ended.

    Benchmarks run this in a child process, so the stations cost the measured process nothing.
    """
    profile = load_profiles()[profile_name]

    async def forever() -> None:
        for port in ports:
            await StationSimulator(profile, Series("steady", (0.0,), (value,)), ReplayClock(0, 1), port).start()
        await asyncio.Event().wait()

    asyncio.run(forever())

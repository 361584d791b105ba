"""Typed model of a device profile: the register map of one device model.

A profile describes a model of device (what its registers mean); an installed
device (address, unit id, poll period) lives in a gateway config and names
its profile. Profiles are YAML files in `hardware_specs/profiles/`.
"""

import itertools
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hardware_specs.wiring import Wiring
from typed_config import ConfigError, load_yaml_model
from wire_contract import QUANTITY_UNITS

PROFILES_DIR = Path(__file__).parent / "profiles"
MODBUS_MAX_READ_REGISTERS = 125
MODBUS_MAX_READ_BITS = 2000  # function codes 1 and 2
MODBUS_MAX_WRITE_BITS = 1968  # function code 15
# The tables of one bit each (a relay, a door contact); a register of them has type bool.
BIT_TABLES = ("coil", "discrete_input")
TABLES = ("holding", "input", *BIT_TABLES)


class DataType(StrEnum):
    int16 = "int16"
    uint16 = "uint16"
    int32 = "int32"
    uint32 = "uint32"
    float32 = "float32"
    int64 = "int64"
    uint64 = "uint64"
    float64 = "float64"
    # one bit of a coil or discrete input table (a reading of 0 or 1)
    bool = "bool"


# struct code and register count per data type: the one table decoders and
# simulators read, so a type's size is never written down twice.
DATA_TYPE_LAYOUT: dict[DataType, tuple[str, int]] = {
    DataType.int16: ("h", 1),
    DataType.uint16: ("H", 1),
    DataType.int32: ("i", 2),
    DataType.uint32: ("I", 2),
    DataType.float32: ("f", 2),
    DataType.int64: ("q", 4),
    DataType.uint64: ("Q", 4),
    DataType.float64: ("d", 4),
}


class ByteOrder(StrEnum):
    """Order of the bytes of a value as they arrive, A being the most significant.

    ABCD is big-endian throughout; CDAB swaps the 16-bit words (common on
    32-bit floats); BADC swaps the bytes in each word; DCBA is little-endian.
    For 64-bit types the same pattern extends over four words.
    """

    ABCD = "ABCD"
    BADC = "BADC"
    CDAB = "CDAB"
    DCBA = "DCBA"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# The standard RS-485 line settings: the one list configs, profiles and the CLI accept.
Baud = Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200]
Parity = Literal["N", "E", "O"]
BAUD_RATES: tuple[int, ...] = get_args(Baud)
PARITIES: tuple[str, ...] = get_args(Parity)


class SerialDefaults(_Strict):
    baud: Baud = 9600
    parity: Parity = "N"
    stop_bits: Literal[1, 2] = 1
    byte_size: Literal[7, 8] = 8


class Register(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    address: Annotated[int, Field(ge=0, le=65535)]
    table: Literal["holding", "input", "coil", "discrete_input"] = "holding"
    type: DataType
    byte_order: ByteOrder = ByteOrder.ABCD
    scale: float = 1.0
    offset: float = 0.0
    quantity: str
    unit: str
    valid_min: float
    valid_max: float
    writable: bool = False
    # One bit of a 16-bit status word (0 = least significant): the reading is 0 or 1.
    bit: Annotated[int, Field(ge=0, le=15)] | None = None
    # A running count that wraps at 2^bits (a tipping bucket's tips): the gateway keeps the
    # total it has accumulated, across the wrap, a reset of the device and its own restarts,
    # and publishes that total or (`counter_reports: increment`) what it grew by since the
    # previous reading (0 for the first one ever), which is what may be summed over time.
    counter: bool = False
    counter_reports: Literal["total", "increment"] = "total"
    # Another register at the same address read another way (bits of one status word,
    # tips as a count and as mm): exempt from the overlap check, must match its address.
    view_of: str | None = None
    # The codes an enumerated register may hold and what each means ({0: ok, 3: fault}):
    # the reading is the code; a code not listed is `out_of_range`.
    enum: dict[int, Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]] | None = None

    @property
    def count(self) -> int:
        """Registers (or bits, in a bit table) the value takes."""
        return 1 if self.type is DataType.bool else DATA_TYPE_LAYOUT[self.type][1]

    @property
    def is_bit(self) -> bool:
        """In a coil or discrete input table: one bit, read with function 1 or 2."""
        return self.table in BIT_TABLES

    @property
    def modulus(self) -> int:
        return 1 << (16 * self.count)

    @model_validator(mode="after")
    def _consistent(self) -> "Register":
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        if self.is_bit or self.type is DataType.bool:
            self._check_bit_table()
        expected = QUANTITY_UNITS.get(self.quantity)
        if expected is None:
            raise ValueError(f"quantity {self.quantity!r} is not in the wire contract; known: {sorted(QUANTITY_UNITS)}")
        if self.unit != expected:
            raise ValueError(f"quantity {self.quantity!r} has unit {expected!r}, not {self.unit!r}")
        if self.valid_min >= self.valid_max:
            raise ValueError("valid_min must be below valid_max")
        if self.address + self.count > 65536:
            raise ValueError(f"a {self.type.value} at {self.address} runs past register 65535")
        if self.bit is not None and (self.type not in (DataType.uint16, DataType.int16) or self.scale != 1):
            raise ValueError("a bit field needs type uint16 or int16 and scale 1")
        if self.counter and self.type not in (DataType.uint16, DataType.uint32, DataType.uint64):
            raise ValueError(f"a counter must be unsigned (uint16/uint32/uint64), not {self.type.value}")
        if self.counter and self.bit is not None:
            raise ValueError("a register is a counter or a bit field, not both")
        if self.counter_reports == "increment" and (not self.counter or self.offset != 0):
            raise ValueError("counter_reports: increment needs counter: true and offset 0")
        if self.enum is not None:
            self._check_enum(self.enum)
        return self

    def _check_bit_table(self) -> None:
        """A coil or discrete input is one bit: type bool, nothing to scale, order or count."""
        if not self.is_bit:
            raise ValueError(f"type bool is for the coil and discrete_input tables, not {self.table}; "
                             "a bit of a holding or input register is `bit: N` on a uint16")  # fmt: skip
        if self.type is not DataType.bool:
            raise ValueError(f"a {self.table} is one bit: type bool, not {self.type.value}")
        set_keys = self.model_fields_set
        meaningless = [
            key
            for key in ("byte_order", "scale", "offset", "bit", "counter", "counter_reports", "enum")
            if key in set_keys
        ]
        if meaningless:
            raise ValueError(f"a {self.table} is one bit (0 or 1): {', '.join(meaningless)} make no sense on it")
        if self.writable and self.table == "discrete_input":
            raise ValueError("a discrete input is read-only (function 2): writable: true is for a coil")
        if self.unit != "bool":
            raise ValueError(f"a {self.table} reads 0 or 1: its quantity needs unit 'bool', not {self.unit!r}")

    def _check_enum(self, enum: dict[int, str]) -> None:
        if not enum:
            raise ValueError("enum must list at least one code")
        if self.type in (DataType.float32, DataType.float64) or self.scale != 1 or self.offset != 0:
            raise ValueError("an enum needs an integer type, scale 1 and offset 0")
        if self.counter or self.bit is not None:
            raise ValueError("a register is an enum, a counter or a bit field: one of them")
        outside = sorted(code for code in enum if not self.valid_min <= code <= self.valid_max)
        if outside:
            raise ValueError(f"enum codes {outside} lie outside valid_min..valid_max")

    def label(self, value: float) -> str | None:
        """The name of an enum code (None: not an enum, or a code the profile does not list)."""
        return self.enum.get(int(value)) if self.enum is not None and value == int(value) else None


class Profile(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    manufacturer: str
    model: str
    source: str
    serial: SerialDefaults = SerialDefaults()
    # 0-9: when a gateway's buffer is full, readings of the lowest priority are dropped
    # first; on a busy serial bus the highest is polled first.
    priority: Annotated[int, Field(ge=0, le=9)] = 5
    max_registers_per_read: Annotated[int, Field(ge=1, le=MODBUS_MAX_READ_REGISTERS)] = 64
    registers: Annotated[tuple[Register, ...], Field(min_length=1)]
    # How to connect the device (`hardware_specs/wiring.py`); every shipped profile has one.
    wiring: Wiring | None = None
    # modbus: registers are Modbus registers. floodwatch_node: a microcontroller node speaking
    # firmware_bridge/PROTOCOL.md; a register's `address` is its channel, and the value is
    # the node's raw × 10^scale as sent, so type is int32 (uint32 for a counter), scale 1, offset 0.
    protocol: Literal["modbus", "floodwatch_node"] = "modbus"

    @model_validator(mode="after")
    def _node_channels(self) -> "Profile":
        if self.protocol != "floodwatch_node":
            return self
        for r in self.registers:
            if r.type not in (DataType.int32, DataType.uint32) or r.scale != 1 or r.offset != 0 or r.bit is not None:
                raise ValueError(
                    f"register {r.name!r}: a floodwatch_node channel carries its own decimal scale: "
                    "type int32 (uint32 for a counter), scale 1, offset 0, no bit"
                )
        return self

    @model_validator(mode="after")
    def _no_overlap(self) -> "Profile":
        names = [r.name for r in self.registers]
        if len(set(names)) != len(names):
            raise ValueError(f"register names repeat: {names}")
        by_name = {r.name: r for r in self.registers}
        for register in self.registers:
            if register.view_of is None:
                continue
            base = by_name.get(register.view_of)
            if base is None or base.view_of is not None:
                raise ValueError(f"register {register.name!r}: view_of {register.view_of!r} is not a register")
            if (base.address, base.table) != (register.address, register.table) or base.count != register.count:
                raise ValueError(f"register {register.name!r} must have the address, table and size of {base.name!r}")
        for table in TABLES:
            spans = sorted(  # a node's channel is one address, whatever its type
                (r.address, r.address + (1 if self.protocol == "floodwatch_node" else r.count), r.name)
                for r in self.registers
                if r.table == table and r.view_of is None
            )
            for (_, end, first), (start, _, second) in itertools.pairwise(spans):
                if start < end:
                    raise ValueError(f"registers {first!r} and {second!r} overlap in the {table} table")
        return self

    def register(self, name: str) -> Register:
        for register in self.registers:
            if register.name == name:
                return register
        raise KeyError(f"profile {self.name!r} has no register {name!r}")


def load_profile(path: Path) -> Profile:
    return load_yaml_model(path, Profile)


def _load_named(path: Path) -> Profile:
    profile = load_profile(path)
    if profile.name != path.stem:
        raise ConfigError(path, f"{path}: name: is {profile.name!r}, must equal the file name {path.stem!r}")
    return profile


def load_profiles(directory: Path = PROFILES_DIR) -> dict[str, Profile]:
    """Every profile in `directory`; the first broken file raises (the shipped set must be whole)."""
    return {path.stem: _load_named(path) for path in sorted(directory.glob("*.yaml"))}


@dataclass(frozen=True)
class ProfileSet:
    """The profiles a site can use: the shipped ones, then each site folder's, a later file
    of the same name replacing an earlier one. A file that does not load is kept aside in
    `broken` (name -> its error), so it fails only the configs that name it."""

    profiles: dict[str, Profile]
    broken: dict[str, ConfigError]
    origin: dict[str, Path]  # name -> the file it came from


def load_profile_set(*site_dirs: Path) -> ProfileSet:
    """The shipped profiles and those in `site_dirs` (e.g. /etc/floodwatch/profiles)."""
    profiles: dict[str, Profile] = {}
    broken: dict[str, ConfigError] = {}
    origin: dict[str, Path] = {}
    for directory in (PROFILES_DIR, *site_dirs):
        if not directory.is_dir():
            raise ConfigError(directory, f"{directory}: profiles folder not found (a folder of NAME.yaml files)")
        for path in sorted(directory.glob("*.yaml")):
            origin[path.stem] = path
            try:
                profiles[path.stem] = _load_named(path)
                broken.pop(path.stem, None)
            except ConfigError as error:
                broken[path.stem] = error
                profiles.pop(path.stem, None)
    return ProfileSet(profiles, broken, origin)

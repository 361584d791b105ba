"""Typed model of a profile's `wiring:` section: how a technician connects one device model.

What is the same for every device on an RS-485 bus (daisy chain, termination at both ends,
bias once, shield earthed at one end) is in `hardware_specs/README.md`, not here; this
holds what differs between models: supply, terminals, built-in termination and bias,
cable, and notes on mounting.
"""

from collections import Counter
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TerminalRole(StrEnum):
    rs485_a = "rs485_a"
    rs485_b = "rs485_b"
    common = "common"
    shield = "shield"
    supply_plus = "supply_plus"
    supply_0v = "supply_0v"
    earth = "earth"
    contact_input = "contact_input"
    relay_output = "relay_output"


# What each role is, as a technician reads it on a label: the one table the CLI and the
# README show. Vendors disagree on A and B (see the README): the role is the line that
# goes to the gateway adapter's A / D+ terminal.
TERMINAL_ROLES: dict[TerminalRole, str] = {
    TerminalRole.rs485_a: "RS-485 A (D+, 485+, T/R+)",
    TerminalRole.rs485_b: "RS-485 B (D−, 485−, T/R−)",
    TerminalRole.common: "RS-485 signal common (GND, COM, SC)",
    TerminalRole.shield: "cable shield / drain",
    TerminalRole.supply_plus: "supply V+",
    TerminalRole.supply_0v: "supply 0 V",
    TerminalRole.earth: "earth (cabinet earth bar)",
    TerminalRole.contact_input: "contact input (switch, dry contact)",
    TerminalRole.relay_output: "relay output contact",
}


class Terminal(_Strict):
    # As printed on the device or its cable: "A+", "485-B", "DI1", "brown core".
    label: Annotated[str, Field(min_length=1)]
    role: TerminalRole
    # Core colour of the device's own cable; None for a screw terminal.
    colour: str | None = None
    note: str | None = None


class Switchable(_Strict):
    """A built-in 120 Ω termination or fail-safe bias: whether it is fitted and how it is switched."""

    fitted: bool
    switched_by: str | None = None  # "DIP switch 1", "jumper J3", "always on"
    factory_setting: Literal["on", "off"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "Switchable":
        if self.fitted and (self.switched_by is None or self.factory_setting is None):
            raise ValueError("a fitted termination or bias needs switched_by and factory_setting")
        if not self.fitted and (self.switched_by is not None or self.factory_setting is not None):
            raise ValueError("switched_by and factory_setting are for a fitted termination or bias only")
        return self


class Cable(_Strict):
    """The cable to run from the device to the gateway (or to the next device on the bus)."""

    twisted_pairs: Annotated[int, Field(ge=1, le=8)]
    conductor_awg: Annotated[int, Field(ge=16, le=28)]
    shielded: bool
    impedance_ohm: Annotated[int, Field(ge=50, le=150)] = 120


class Wiring(_Strict):
    # "vendor": copied from the installed model's datasheet; "typical": what devices of this
    # kind usually have, modelled like the register map: check the unit's label and manual.
    basis: Literal["vendor", "typical"]
    supply_v_min: Annotated[float, Field(gt=0)]
    supply_v_max: Annotated[float, Field(gt=0)]
    current_ma: Annotated[float, Field(gt=0)]  # typical draw, for the power budget
    current_ma_peak: Annotated[float, Field(gt=0)] | None = None  # while measuring, heating, switching
    # Load on the RS-485 bus in standard unit loads (32 per bus): 1 unless the datasheet
    # says 1/4 or 1/8.
    unit_load: Annotated[float, Field(gt=0, le=1)] = 1.0
    terminals: Annotated[tuple[Terminal, ...], Field(min_length=1)]
    termination: Switchable
    bias: Switchable
    cable: Cable
    notes: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> "Wiring":
        if self.supply_v_min >= self.supply_v_max:
            raise ValueError(
                f"supply_v_min ({self.supply_v_min:g} V) must be below supply_v_max ({self.supply_v_max:g} V)"
            )
        if self.current_ma_peak is not None and self.current_ma_peak < self.current_ma:
            raise ValueError(
                f"current_ma_peak ({self.current_ma_peak:g}) must not be below current_ma ({self.current_ma:g})"
            )
        labels = [t.label for t in self.terminals]
        repeated = sorted(label for label, n in Counter(labels).items() if n > 1)
        if repeated:
            raise ValueError(f"terminal labels repeat: {repeated}")
        roles = Counter(t.role for t in self.terminals)
        for role in (TerminalRole.rs485_a, TerminalRole.rs485_b):
            if roles[role] != 1:
                raise ValueError(f"terminals need exactly one {role.value}, found {roles[role]}")
        for role in (TerminalRole.supply_plus, TerminalRole.supply_0v):
            if roles[role] == 0:
                raise ValueError(f"terminals need a {role.value}")
        return self

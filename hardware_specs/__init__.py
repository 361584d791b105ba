"""Device profiles as data (`profiles/*.yaml`), with their wiring notes, and the typed model that checks them."""

from hardware_specs.profile import (
    DATA_TYPE_LAYOUT,
    PROFILES_DIR,
    ByteOrder,
    DataType,
    Profile,
    Register,
    SerialDefaults,
    load_profile,
    load_profiles,
)
from hardware_specs.wiring import TERMINAL_ROLES, Cable, Switchable, Terminal, TerminalRole, Wiring

__all__ = [
    "DATA_TYPE_LAYOUT",
    "PROFILES_DIR",
    "TERMINAL_ROLES",
    "ByteOrder",
    "Cable",
    "DataType",
    "Profile",
    "Register",
    "SerialDefaults",
    "Switchable",
    "Terminal",
    "TerminalRole",
    "Wiring",
    "load_profile",
    "load_profiles",
]

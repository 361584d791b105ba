"""Device profiles as data (`profiles/*.yaml`), with their wiring notes, and the typed model that checks them."""

from hardware_specs.profile import (
    BAUD_RATES,
    DATA_TYPE_LAYOUT,
    PARITIES,
    PROFILES_DIR,
    Baud,
    ByteOrder,
    DataType,
    Parity,
    Profile,
    ProfileSet,
    Register,
    SerialDefaults,
    load_profile,
    load_profile_set,
    load_profiles,
)
from hardware_specs.wiring import TERMINAL_ROLES, Cable, Switchable, Terminal, TerminalRole, Wiring

__all__ = [
    "BAUD_RATES",
    "DATA_TYPE_LAYOUT",
    "PARITIES",
    "PROFILES_DIR",
    "TERMINAL_ROLES",
    "Baud",
    "ByteOrder",
    "Cable",
    "DataType",
    "Parity",
    "Profile",
    "ProfileSet",
    "Register",
    "SerialDefaults",
    "Switchable",
    "Terminal",
    "TerminalRole",
    "Wiring",
    "load_profile",
    "load_profile_set",
    "load_profiles",
]

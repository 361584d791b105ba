"""Device profiles as data (`profiles/*.yaml`) and the typed model that checks them."""

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

__all__ = [
    "DATA_TYPE_LAYOUT",
    "PROFILES_DIR",
    "ByteOrder",
    "DataType",
    "Profile",
    "Register",
    "SerialDefaults",
    "load_profile",
    "load_profiles",
]

"""Writing a setting to a device (an installation height, a siren's state): only to a register
its profile marks `writable`, within the register's valid range, then read back.

    await write_value(poller, "install_height", 11.5)   # -> 11.5, as the device now holds it
    await write_coil(poller, "siren_on", True)          # -> True: function 5, then read back with 1
    await write_coils(poller, {"siren_on": True, "strobe_on": True})  # adjacent coils: one function 15

The write goes through the device's reader: on a serial bus it queues on the port's
scheduler with the device's priority (one request on the wire at a time), like a read.
Refused before the wire (`WriteRefused`): an unknown register, one the profile does not
mark writable, an input register or discrete input, a bit or counter, a value outside
the valid range. A coil is written with function 5 (FF00 on, 0000 off) and read back with
function 1; `write_value` on a coil takes 0 or 1.
Failed on the wire (`TransportError`, with the contract's reason): the write itself, or
the read-back. A read-back that differs from what was written is `WriteNotTaken`.
"""

from collections.abc import Mapping

from edge_agent.decode import engineering_value, raw_for_value
from edge_agent.poller import DevicePoller
from hardware_specs import Profile, Register


class WriteRefused(ValueError):
    """A write the profile does not allow; nothing was sent."""


class WriteNotTaken(Exception):
    """The device answered the write, but reading the register back shows other words."""

    def __init__(self, device: str, register: str, wrote: list[int], read: list[int]) -> None:
        super().__init__(f"device {device!r}: wrote {wrote} to {register!r}, read back {read}")
        self.wrote, self.read = wrote, read


def _writable(profile: Profile, register_name: str) -> Register:
    try:
        register = profile.register(register_name)
    except KeyError:
        raise WriteRefused(f"profile {profile.name!r} has no register {register_name!r}") from None
    if not register.writable or register.table not in ("holding", "coil"):
        writable = [r.name for r in profile.registers if r.writable]
        raise WriteRefused(
            f"profile {profile.name!r} does not mark {register_name!r} writable; writable: {writable or 'none'}"
        )
    return register


async def write_coil(poller: DevicePoller, register_name: str, on: bool) -> bool:
    """Switch a coil the profile marks writable (a siren's relay) and return its state read back.

    Raises `WriteRefused` before the wire, `TransportError` (with the contract's reason) when the
    write or the read-back fails, `WriteNotTaken` when the coil reads back otherwise."""
    return (await write_coils(poller, {register_name: on}))[register_name]


async def write_coils(poller: DevicePoller, states: Mapping[str, bool]) -> dict[str, bool]:
    """Switch several coils the profile marks writable; each run of adjacent coils is one request
    (function 5 for one coil, 15 for more), read back with function 1. Returns the states read
    back; raises as `write_coil` does, before anything is sent if any coil is refused."""
    coils = sorted(
        ((_coil(poller.profile, name), 1 if on else 0) for name, on in states.items()), key=lambda c: c[0].address
    )
    back: dict[str, bool] = {}
    for run in _runs(coils):
        address, bits = run[0][0].address, [bit for _, bit in run]
        await poller.reader.write(address, bits, "coil")
        read = await poller.reader.read("coil", address, len(bits))
        if read != bits:
            names = ", ".join(register.name for register, _ in run)
            raise WriteNotTaken(poller.device.name, names, bits, read)
        back |= {register.name: bool(bit) for (register, _), bit in zip(run, read, strict=True)}
    return back


def _coil(profile: Profile, register_name: str) -> Register:
    register = _writable(profile, register_name)
    if register.table != "coil":
        raise WriteRefused(f"{register_name!r} is a {register.table} register, not a coil: use write_value")
    return register


def _runs(coils: list[tuple[Register, int]]) -> list[list[tuple[Register, int]]]:
    """Coils sorted by address, cut where the next one is not adjacent."""
    runs: list[list[tuple[Register, int]]] = []
    for coil in coils:
        if runs and runs[-1][-1][0].address + 1 == coil[0].address:
            runs[-1].append(coil)
        else:
            runs.append([coil])
    return runs


async def write_value(poller: DevicePoller, register_name: str, value: float) -> float:
    """Write `value` (engineering units; 0 or 1 to a coil) to the register and return what reading it back gives."""
    profile, device = poller.profile, poller.device.name
    register = _writable(profile, register_name)
    if register.table == "coil":
        if value not in (0, 1):
            raise WriteRefused(f"{register_name} is a coil: write 0 (off) or 1 (on), not {value:g}")
        return float(await write_coil(poller, register_name, bool(value)))
    if register.bit is not None or register.counter or register.view_of is not None:
        raise WriteRefused(f"{register_name!r} is a bit, a counter or a view of another register: not written")
    if not register.valid_min <= value <= register.valid_max:
        raise WriteRefused(
            f"{register_name} = {value:g} {register.unit} is outside {register.valid_min:g}..{register.valid_max:g}"
        )
    words = raw_for_value(register, value)
    await poller.reader.write(register.address, words)
    back = await poller.reader.read(register.table, register.address, register.count)
    if back != words:
        raise WriteNotTaken(device, register_name, words, back)
    return engineering_value(register, back)

"""Writing a setting to a device (an installation height, a siren's state): only to a register
its profile marks `writable`, within the register's valid range, then read back.

    await write_value(poller, "install_height", 11.5)   # -> 11.5, as the device now holds it

The write goes through the device's reader: on a serial bus it queues on the port's
scheduler with the device's priority (one request on the wire at a time), like a read.
Refused before the wire (`WriteRefused`): an unknown register, one the profile does not
mark writable, an input register, a bit or counter, a value outside the valid range.
Failed on the wire (`TransportError`, with the contract's reason): the write itself, or
the read-back. A read-back that differs from what was written is `WriteNotTaken`.
"""

from edge_agent.decode import engineering_value, raw_for_value
from edge_agent.poller import DevicePoller


class WriteRefused(ValueError):
    """A write the profile does not allow; nothing was sent."""


class WriteNotTaken(Exception):
    """The device answered the write, but reading the register back shows other words."""

    def __init__(self, device: str, register: str, wrote: list[int], read: list[int]) -> None:
        super().__init__(f"device {device!r}: wrote {wrote} to {register!r}, read back {read}")
        self.wrote, self.read = wrote, read


async def write_value(poller: DevicePoller, register_name: str, value: float) -> float:
    """Write `value` (engineering units) to the register and return what reading it back gives."""
    profile, device = poller.profile, poller.device.name
    try:
        register = profile.register(register_name)
    except KeyError:
        raise WriteRefused(f"profile {profile.name!r} has no register {register_name!r}") from None
    if not register.writable or register.table != "holding":
        writable = [r.name for r in profile.registers if r.writable]
        raise WriteRefused(
            f"profile {profile.name!r} does not mark {register_name!r} writable; writable: {writable or 'none'}"
        )
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

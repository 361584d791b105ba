"""Turn a device's wanted registers into as few Modbus read requests as fit.

Compiled once at start-up (not per poll): the poll loop walks `ReadRequest`s,
and each request knows which registers it carries and where in the response.
"""

from dataclasses import dataclass

from hardware_specs import Profile, Register
from hardware_specs.profile import MODBUS_MAX_READ_BITS

# Bits read through between two wanted ones: 16 bits cost 2 bytes, a request of its own ~16.
BIT_GAP = 16


@dataclass(frozen=True)
class Slot:
    register: Register
    sensor: str
    offset: int  # index of the register's first word (or its bit) in the response


@dataclass(frozen=True)
class ReadRequest:
    table: str
    address: int
    count: int
    slots: tuple[Slot, ...]


def plan_requests(profile: Profile, sensors: dict[str, str]) -> tuple[ReadRequest, ...]:
    """Group registers that are contiguous (or nearly: small gaps are read through), per table.

    Coils and discrete inputs group by bits: up to 2000 a request (functions 1 and 2),
    gaps of up to `BIT_GAP` bits read through."""
    wanted = sorted((profile.register(name) for name in sensors), key=lambda r: (r.table, r.address))
    requests: list[ReadRequest] = []
    group: list[Register] = []
    for register in wanted:
        if group and _fits(group, register, profile.max_registers_per_read):
            group.append(register)
            continue
        if group:
            requests.append(_request(group, sensors))
        group = [register]
    if group:
        requests.append(_request(group, sensors))
    return tuple(requests)


def _fits(group: list[Register], register: Register, limit: int) -> bool:
    first, last = group[0], group[-1]
    gap = 4
    if register.is_bit:
        gap, limit = BIT_GAP, MODBUS_MAX_READ_BITS
    return (
        register.table == first.table
        and register.address - (last.address + last.count) <= gap
        and register.address + register.count - first.address <= limit
    )


def _request(group: list[Register], sensors: dict[str, str]) -> ReadRequest:
    start = group[0].address
    end = max(r.address + r.count for r in group)
    slots = tuple(Slot(r, sensors[r.name], r.address - start) for r in group)
    return ReadRequest(group[0].table, start, end - start, slots)

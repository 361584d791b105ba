"""What `floodwatch-edge scan` and `probe` do, without the terminal: find devices on a
serial port, tell which profiles fit what they answer, read raw registers.

A scan sends one read (`address`, `count`) to each unit id at each baud rate and
parity, and lists every unit that answered, registers or a Modbus exception (a
device that refuses a register still exists). For each answer, a profile matches
when every register it describes can be read and decodes within its valid range.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from edge_agent.decode import DecodeError, engineering_value
from edge_agent.plan import plan_requests
from edge_agent.rtu import ExceptionResponse, RtuError, SerialLine
from hardware_specs import Profile


@dataclass
class Answer:
    baud: int
    parity: str
    unit: int
    words: list[int] | None  # None: it answered with a Modbus exception
    exception: int | None = None
    profiles: list[str] = field(default_factory=list)


async def matching_profiles(line: SerialLine, unit: int, profiles: Iterable[Profile], timeout_s: float) -> list[str]:
    matches = []
    for profile in profiles:
        wanted = {r.name: r.name for r in profile.registers}
        try:
            for request in plan_requests(profile, wanted):
                words = await line.read(unit, request.table, request.address, request.count, timeout_s)
                for slot in request.slots:
                    register = slot.register
                    value = engineering_value(register, words[slot.offset : slot.offset + register.count])
                    unknown_code = register.enum is not None and register.label(value) is None
                    if not register.valid_min <= value <= register.valid_max or unknown_code:
                        raise DecodeError(f"{register.name} = {value} out of range")
        except (RtuError, DecodeError):
            continue
        matches.append(profile.name)
    return matches


async def scan_serial(
    port: str,
    bauds: Iterable[int],
    parities: Iterable[str],
    units: Iterable[int],
    profiles: Iterable[Profile],
    address: int = 0,
    count: int = 1,
    table: str = "holding",
    timeout_s: float = 0.1,
    step: Callable[[], None] = lambda: None,
    retries: int = 1,
) -> list[Answer]:
    answers: list[Answer] = []
    unit_list, profile_list = list(units), list(profiles)
    for baud in bauds:
        for parity in parities:
            line = SerialLine(port, baud, parity, 1, 8)
            line.open()
            try:
                for unit in unit_list:
                    step()
                    try:
                        answer = Answer(baud, parity, unit, await line.read(unit, table, address, count, timeout_s))
                    except ExceptionResponse as refused:
                        answer = Answer(baud, parity, unit, None, refused.code)
                    except RtuError:
                        continue
                    answer.profiles = await matching_profiles(line, unit, profile_list, timeout_s)
                    answers.append(answer)
            finally:
                line.close()
    return answers


async def _ask(
    line: SerialLine,
    baud: int,
    parity: str,
    unit: int,
    table: str,
    address: int,
    count: int,
    timeout_s: float,
    retries: int,
) -> Answer | None:
    """One unit, asked again after a failure: a device that just received noise
    (the previous baud rate) may need a frame to find its footing."""
    for _ in range(retries + 1):
        try:
            return Answer(baud, parity, unit, await line.read(unit, table, address, count, timeout_s))
        except ExceptionResponse as refused:
            return Answer(baud, parity, unit, None, refused.code)
        except RtuError:
            continue
    return None

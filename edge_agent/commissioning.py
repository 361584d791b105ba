"""What `floodwatch-edge scan` and `probe` do, without the terminal: find devices on a
serial port, tell which profiles fit what they answer, read raw registers.

A scan sends one read (`address`, `count`) to each unit id at each baud rate and
parity, and lists every unit that answered, registers or a Modbus exception (a
device that refuses a register still exists). For each answer, a profile matches
when every register it describes can be read and decodes within its valid range.
"""

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from edge_agent.decode import DecodeError, engineering_value
from edge_agent.failures import TransportError
from edge_agent.plan import plan_requests
from edge_agent.poller import TcpReader
from edge_agent.rtu import ExceptionResponse, RtuError, SerialLine
from hardware_specs import Profile
from wire_contract import MODBUS_EXCEPTIONS, FailureReason, modbus_exception_words

# Read `count` registers of `table` from `address`: one unit's registers, over RTU or TCP.
Read = Callable[[str, int, int], Awaitable[list[int]]]
_REFUSALS = {*MODBUS_EXCEPTIONS.values(), FailureReason.modbus_exception}


@dataclass
class Answer:
    baud: int | None  # None: over Modbus TCP
    parity: str
    unit: int
    words: list[int] | None  # None: it answered with a Modbus exception
    exception: str | None = None  # the exception in the spec's words
    profiles: list[str] = field(default_factory=list)


async def matching_profiles(read: Read, profiles: Iterable[Profile]) -> list[str]:
    matches = []
    for profile in profiles:
        wanted = {r.name: r.name for r in profile.registers}
        try:
            for request in plan_requests(profile, wanted):
                words = await read(request.table, request.address, request.count)
                for slot in request.slots:
                    register = slot.register
                    value = engineering_value(register, words[slot.offset : slot.offset + register.count])
                    unknown_code = register.enum is not None and register.label(value) is None
                    if not register.valid_min <= value <= register.valid_max or unknown_code:
                        raise DecodeError(f"{register.name} = {value} out of range")
        except (RtuError, TransportError, DecodeError):
            continue
        matches.append(profile.name)
    return matches


@dataclass(frozen=True)
class Question:
    """What a scan asks each unit: `count` registers of `table` from `address`, waiting `timeout_s`."""

    address: int = 0
    count: int = 1
    table: str = "holding"
    timeout_s: float = 0.1


async def scan_serial(
    port: str,
    bauds: Iterable[int],
    parities: Iterable[str],
    units: Iterable[int],
    profiles: Iterable[Profile],
    question: Question = Question(),
    step: Callable[[], None] = lambda: None,
) -> list[Answer]:
    """Port faults (missing, locked, settings refused) raise from `SerialLine.open`, as they are."""
    address, count, table, timeout_s = question.address, question.count, question.table, question.timeout_s
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
                        answer = Answer(baud, parity, unit, None, modbus_exception_words(refused.code))
                    except RtuError:
                        continue
                    answer.profiles = await matching_profiles(_unit_reader(line, unit, timeout_s), profile_list)
                    answers.append(answer)
            finally:
                line.close()
    return answers


def _unit_reader(line: SerialLine, unit: int, timeout_s: float) -> Read:
    async def read(table: str, address: int, count: int) -> list[int]:
        return await line.read(unit, table, address, count, timeout_s)

    return read


async def scan_tcp(
    host: str,
    port: int,
    units: Iterable[int],
    profiles: Iterable[Profile],
    question: Question = Question(),
    step: Callable[[], None] = lambda: None,
) -> list[Answer]:
    """Each unit id behind a Modbus TCP address (a gateway to a serial bus, or one device).
    Nothing listening there raises `TransportError(connection_refused)`."""
    address, count, table, timeout_s = question.address, question.count, question.table, question.timeout_s
    answers: list[Answer] = []
    profile_list = list(profiles)
    for unit in units:
        step()
        reader = TcpReader.for_address(host, port, unit, timeout_s)
        try:
            try:
                answer = Answer(None, "-", unit, await reader.read(table, address, count))
            except TransportError as error:
                if error.reason is FailureReason.connection_refused:
                    raise
                if error.reason not in _REFUSALS:
                    continue
                answer = Answer(None, "-", unit, None, error.detail)
            answer.profiles = await matching_profiles(reader.read, profile_list)
            answers.append(answer)
        finally:
            await reader.close()
    return answers

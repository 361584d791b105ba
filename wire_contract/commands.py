"""Commands from the centre to a gateway's devices (sirens, loudspeaker relays), and their results.

    floodwatch/v1/<gateway>/command          centre -> gateway, QoS 1, DeviceCommand
    floodwatch/v1/<gateway>/command_result   gateway -> centre, QoS 1, CommandResult

Topics, payloads and codec of the command path in one module. Every integer is bounded:
a register value is one 16-bit word (0..65535; a coil is 0 or 1), times are the contract's
millisecond range. Only the warning service may publish commands (the broker's ACL, the
security issue, enforces it).

The gateway executes a command only before its deadline, only on a register its device's
profile marks writable, and at most once per `command_id`: a repeat (the centre retries
until it hears a result) is answered with the first result, not executed again.

Outcomes:
    done      written and read back equal (`value_read` holds what was read)
    refused   not a device or writable register of this gateway, or a value out of range
    failed    the write or the read-back failed (the device did not answer, or disagreed)
    expired   the command arrived after its deadline and was not executed
"""

from typing import Annotated, Literal

from pydantic import Field

from wire_contract.codec import _decode
from wire_contract.payload import CONTRACT_VERSION, GatewayId, SensorId, TimestampMs, _Strict
from wire_contract.topics import PREFIX, _checked

COMMAND_SUBSCRIPTION = f"{PREFIX}/+/command"
COMMAND_RESULT_SUBSCRIPTION = f"{PREFIX}/+/command_result"

CommandId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
RegisterName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Word = Annotated[int, Field(ge=0, le=65535)]
Outcome = Literal["done", "refused", "failed", "expired"]


class DeviceCommand(_Strict):
    v: Literal[1] = CONTRACT_VERSION
    command_id: CommandId
    gateway: GatewayId
    device: SensorId
    register_name: RegisterName
    value: Word
    issued_ms: TimestampMs
    deadline_ms: TimestampMs
    # Why: the warning (transition id) that ordered it, for the desk's record.
    reason: Annotated[str, Field(max_length=200)] = ""


class CommandResult(_Strict):
    v: Literal[1] = CONTRACT_VERSION
    command_id: CommandId
    gateway: GatewayId
    outcome: Outcome
    value_read: Word | None = None
    ts_ms: TimestampMs
    detail: Annotated[str, Field(max_length=300)] = ""


def command_topic(gateway: str) -> str:
    return f"{PREFIX}/{_checked(gateway)}/command"


def command_result_topic(gateway: str) -> str:
    return f"{PREFIX}/{_checked(gateway)}/command_result"


def encode_command(command: DeviceCommand) -> bytes:
    return command.model_dump_json().encode()


def decode_command(data: bytes) -> DeviceCommand:
    return _decode(DeviceCommand, data)


def encode_command_result(result: CommandResult) -> bytes:
    return result.model_dump_json().encode()


def decode_command_result(data: bytes) -> CommandResult:
    return _decode(CommandResult, data)

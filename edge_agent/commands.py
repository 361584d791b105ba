"""The gateway's side of the command path: execute a centre's command once, answer with the result.

    CommandExecutor(gateway_id, writer).handle(payload, now_ms) -> CommandResult | None

`writer` does the Modbus work (`RegisterWriter`; on a gateway `PollerWriter`, the profile-driven
writes of edge_agent.writes): write one word to a device's register and read it back,
refusing a register its profile does not mark writable. The executor adds the
contract's rules (wire_contract.commands): a command for another gateway is ignored; one past
its deadline is `expired`, not executed; a command id seen before is answered with the first
result and not executed again (the centre republishes until it hears back). The ids are
remembered in memory, the newest `remember` of them: a command repeated after a gateway
restart is executed again, which for a siren coil (set to the same value) is harmless.

The gateway's publisher (edge_agent.publisher) subscribes to the command topic on its
connection and publishes each result on `command_result_topic`.
"""

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Protocol

from edge_agent.failures import TransportError
from edge_agent.poller import DevicePoller
from edge_agent.writes import WriteNotTaken, WriteRefused, write_value
from wire_contract import (
    CommandResult,
    ContractError,
    DeviceCommand,
    decode_command,
)

log = logging.getLogger(__name__)


class CommandRefused(ValueError):
    """Not a device, or not a writable register, of this gateway (or a value it cannot take)."""


class CommandFailed(Exception):
    """The write or its read-back failed: the device did not answer, or read back another value."""


class RegisterWriter(Protocol):
    async def write(self, device: str, register_name: str, value: int) -> int:
        """Write `value`, read it back and return what was read; CommandRefused or CommandFailed."""
        ...


class PollerWriter:
    """The gateway's writes (edge_agent.writes): through a device's poller, only to writable registers."""

    def __init__(self, pollers: Mapping[str, DevicePoller]) -> None:
        self._pollers = dict(pollers)

    async def write(self, device: str, register_name: str, value: int) -> int:
        poller = self._pollers.get(device)
        if poller is None:
            raise CommandRefused(f"no device {device!r} on this gateway; devices: {sorted(self._pollers)}")
        try:
            return round(await write_value(poller, register_name, value))
        except WriteRefused as error:
            raise CommandRefused(str(error)) from None
        except (WriteNotTaken, TransportError) as error:
            raise CommandFailed(f"device {device!r}: {error}") from None


class CommandExecutor:
    def __init__(self, gateway_id: str, writer: RegisterWriter, *, remember: int = 10_000) -> None:
        self.gateway_id = gateway_id
        self._writer = writer
        self._remember = remember
        self._results: OrderedDict[str, CommandResult] = OrderedDict()
        self._running: dict[str, asyncio.Future[CommandResult]] = {}
        self.executed = 0
        self.repeats = 0

    async def handle(self, payload: bytes, now_ms: int) -> CommandResult | None:
        """The result to publish, or None for a payload that is not a command for this gateway."""
        try:
            command = decode_command(payload)
        except ContractError as error:
            log.warning("command refused: %s", error.reason)
            return None
        if command.gateway != self.gateway_id:
            return None
        known = self._results.get(command.command_id)
        if known is not None:
            self.repeats += 1
            return known
        running = self._running.get(command.command_id)
        if running is not None:  # a repeat while the first is still writing: the same answer
            self.repeats += 1
            return await asyncio.shield(running)
        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._running[command.command_id] = future
        try:
            result = await self._execute(command, now_ms)
            future.set_result(result)
        finally:
            del self._running[command.command_id]
        self._results[command.command_id] = result
        while len(self._results) > self._remember:
            self._results.popitem(last=False)
        return result

    async def _execute(self, command: DeviceCommand, now_ms: int) -> CommandResult:
        def result(outcome: str, detail: str = "", value_read: int | None = None) -> CommandResult:
            return CommandResult.model_validate(
                {
                    "command_id": command.command_id,
                    "gateway": self.gateway_id,
                    "outcome": outcome,
                    "value_read": value_read,
                    "ts_ms": now_ms,
                    "detail": detail[:300],
                }
            )

        if now_ms > command.deadline_ms:
            return result("expired", f"arrived {now_ms - command.deadline_ms} ms after its deadline")
        self.executed += 1
        try:
            read = await self._writer.write(command.device, command.register_name, command.value)
        except CommandRefused as error:
            return result("refused", str(error))
        except CommandFailed as error:
            return result("failed", str(error))
        if read != command.value:
            return result("failed", f"wrote {command.value}, read back {read}", read)
        return result("done", value_read=read)

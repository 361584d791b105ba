"""Poll one Modbus TCP device and turn its registers into readings with a quality.

A read failure (timeout, Modbus exception, lost connection) becomes readings of
quality `read_failure` for the registers of that request; it never stops the agent.
A value outside the profile's valid range is published as `out_of_range`.
"""

import logging
import time

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from edge_agent.config import Device
from edge_agent.decode import DecodeError, engineering_value
from edge_agent.plan import ReadRequest, Slot, plan_requests
from hardware_specs import Profile
from wire_contract import Quality, Reading

log = logging.getLogger(__name__)


class ReadFailure(Exception):
    def __init__(self, device: str, request: ReadRequest, reason: str) -> None:
        super().__init__(f"device {device!r}: read {request.table} {request.address}+{request.count} failed: {reason}")
        self.device = device
        self.reason = reason


class DevicePoller:
    """Owns the connection to one device; `poll()` reads every planned request once."""

    def __init__(self, device: Device, profile: Profile) -> None:
        self.device = device
        self.profile = profile
        self.requests = plan_requests(profile, device.sensors)
        self.errors = 0
        self._failing = False
        self._client = AsyncModbusTcpClient(
            device.transport.host,
            port=device.transport.port,
            timeout=device.timeout_ms / 1000,
            retries=device.retries,
            reconnect_delay=0,  # the poll loop reconnects on its own schedule
        )

    async def close(self) -> None:
        self._client.close()

    async def poll(self) -> list[Reading]:
        readings: list[Reading] = []
        for request in self.requests:
            ts_ms = time.time_ns() // 1_000_000
            try:
                words = await self._read(request)
            except ReadFailure as failure:
                self._note_failure(failure)
                readings += [self._failed(slot, ts_ms) for slot in request.slots]
                continue
            self._note_success()
            readings += [self._decoded(slot, words, ts_ms) for slot in request.slots]
        return readings

    async def _read(self, request: ReadRequest) -> list[int]:
        name = self.device.name
        try:
            if not self._client.connected and not await self._client.connect():
                raise ReadFailure(name, request, "cannot connect")
            read = (
                self._client.read_holding_registers if request.table == "holding" else self._client.read_input_registers
            )
            response = await read(request.address, count=request.count, device_id=self.device.unit_id)
        except (TimeoutError, ModbusException, OSError) as error:
            raise ReadFailure(name, request, f"{type(error).__name__}: {error}") from error
        if response.isError():
            raise ReadFailure(name, request, f"Modbus exception code {getattr(response, 'exception_code', '?')}")
        if len(response.registers) < request.count:
            raise ReadFailure(name, request, f"short response of {len(response.registers)} registers")
        return list(response.registers)

    def _note_failure(self, failure: ReadFailure) -> None:
        self.errors += 1
        # Log the first failure loudly and the rest quietly, so a dead device
        # does not drown the journal during a storm.
        level = logging.DEBUG if self._failing else logging.WARNING
        log.log(
            level, "read_failure", extra={"event": "read_failure", "device": failure.device, "reason": failure.reason}
        )
        self._failing = True

    def _note_success(self) -> None:
        if self._failing:
            log.info("device_recovered", extra={"event": "device_recovered", "device": self.device.name})
        self._failing = False

    def _reading(self, slot: Slot, value: float | None, quality: Quality, ts_ms: int) -> Reading:
        register = slot.register
        return Reading(
            sensor=slot.sensor,
            station=self.device.station,
            quantity=register.quantity,
            value=value,
            unit=register.unit,
            ts_ms=ts_ms,
            quality=quality,
        )

    def _failed(self, slot: Slot, ts_ms: int) -> Reading:
        return self._reading(slot, None, Quality.read_failure, ts_ms)

    def _decoded(self, slot: Slot, words: list[int], ts_ms: int) -> Reading:
        register = slot.register
        try:
            value = engineering_value(register, words[slot.offset : slot.offset + register.count])
        except DecodeError as error:
            log.warning(
                "decode_failure",
                extra={
                    "event": "decode_failure",
                    "device": self.device.name,
                    "register": register.name,
                    "reason": str(error),
                },
            )
            return self._failed(slot, ts_ms)
        in_range = register.valid_min <= value <= register.valid_max
        return self._reading(slot, value, Quality.good if in_range else Quality.out_of_range, ts_ms)

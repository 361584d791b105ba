"""Why a reading failed, and how a gateway's devices and tasks are doing: a bounded vocabulary.

A reading of quality `read_failure` carries a `reason` from `FailureReason`, so the
centre can tell a cut cable from a busy sensor without the gateway's log. The set is
closed (the centre stores it as it is); a gateway that meets something new says
`internal_error` and logs the detail.

| reason                     | what happened                                                  |
|----------------------------|----------------------------------------------------------------|
| timeout                    | no answer within the device's `timeout_ms` (every retry)       |
| crc_error                  | an answer whose CRC did not match (noise, two talkers)         |
| short_frame                | an answer that stopped mid-frame                               |
| wrong_unit                 | an answer from another unit or to another function             |
| illegal_function, ...      | a Modbus exception, by its name in the spec (`MODBUS_EXCEPTIONS`) |
| modbus_exception           | a Modbus exception code the spec does not name                 |
| port_missing               | the serial port is not there (adapter unplugged, wrong path)   |
| port_locked                | another process holds the serial port                          |
| permission_denied          | the service may not open the port (not in group `dialout`)     |
| port_settings_refused      | the driver refused the line settings (`termios.error`)         |
| port_error                 | any other I/O error on the port (EIO: the adapter reset)       |
| connection_refused         | Modbus TCP: nothing listens at host:port                       |
| connection_lost            | Modbus TCP: the connection broke or the peer talked nonsense   |
| quarantined                | not asked: the device failed too often and waits out a backoff |
| decode_error               | registers that do not decode as the profile says               |
| sensor_fault               | the device answered but flags this sensor as failed (a node's `sensor_fault` status) |
| internal_error             | a fault inside the gateway (logged with its detail)            |
"""

from enum import StrEnum


class FailureReason(StrEnum):
    timeout = "timeout"
    crc_error = "crc_error"
    short_frame = "short_frame"
    wrong_unit = "wrong_unit"
    illegal_function = "illegal_function"
    illegal_data_address = "illegal_data_address"
    illegal_data_value = "illegal_data_value"
    server_device_failure = "server_device_failure"
    acknowledge = "acknowledge"
    server_device_busy = "server_device_busy"
    memory_parity_error = "memory_parity_error"
    gateway_path_unavailable = "gateway_path_unavailable"
    gateway_target_failed_to_respond = "gateway_target_failed_to_respond"
    modbus_exception = "modbus_exception"
    port_missing = "port_missing"
    port_locked = "port_locked"
    permission_denied = "permission_denied"
    port_settings_refused = "port_settings_refused"
    port_error = "port_error"
    connection_refused = "connection_refused"
    connection_lost = "connection_lost"
    quarantined = "quarantined"
    decode_error = "decode_error"
    sensor_fault = "sensor_fault"
    internal_error = "internal_error"


# Modbus Application Protocol v1.1b3, section 7: exception codes and their names.
MODBUS_EXCEPTIONS: dict[int, FailureReason] = {
    1: FailureReason.illegal_function,
    2: FailureReason.illegal_data_address,
    3: FailureReason.illegal_data_value,
    4: FailureReason.server_device_failure,
    5: FailureReason.acknowledge,
    6: FailureReason.server_device_busy,
    8: FailureReason.memory_parity_error,
    10: FailureReason.gateway_path_unavailable,
    11: FailureReason.gateway_target_failed_to_respond,
}


def modbus_exception_reason(code: int) -> FailureReason:
    return MODBUS_EXCEPTIONS.get(code, FailureReason.modbus_exception)


def modbus_exception_words(code: int) -> str:
    """The spec's words for an exception code: `server device busy (exception 6)`."""
    reason = MODBUS_EXCEPTIONS.get(code)
    name = reason.value.replace("_", " ") if reason is not None else "unknown exception"
    return f"{name} (exception {code})"

"""Failed reads, sorted by kind: the one exception the poll path raises, and the table
that turns what the serial port, the socket or the RTU codec raised into a
`FailureReason` of the wire contract.

    TransportError(reason, detail)   a read that produced no registers
    classify(error) -> FailureReason

How a port breaks, and what it is called: `termios.error` while setting the line
(a driver refusing a setting, a USB adapter resetting during open) is
`port_settings_refused`; ENOENT/ENODEV/ENXIO `port_missing`; EACCES/EPERM
`permission_denied`; EAGAIN from the exclusive lock `port_locked`; EIO and the
rest `port_error`.
"""

import asyncio
import errno
import termios

import serial

from edge_agent.rtu import CrcMismatch, ExceptionResponse, NoResponse, ShortFrame, UnexpectedFrame
from wire_contract import FailureReason, modbus_exception_reason, modbus_exception_words

_ERRNO_REASONS = {
    errno.ENOENT: FailureReason.port_missing,
    errno.ENODEV: FailureReason.port_missing,
    errno.ENXIO: FailureReason.port_missing,
    errno.EACCES: FailureReason.permission_denied,
    errno.EPERM: FailureReason.permission_denied,
    errno.EAGAIN: FailureReason.port_locked,
}

# What to do about each port fault: the one line a technician reads.
FIXES: dict[FailureReason, str] = {
    FailureReason.port_missing: "is the adapter plugged in? `ls -l /dev/serial/by-id/` lists the ports there are",
    FailureReason.port_locked: "another process holds the port: stop it (`fuser -v PORT` names it)",
    FailureReason.permission_denied: "add the user to group dialout (`sudo usermod -aG dialout $USER`)",
    FailureReason.port_settings_refused: "the driver refused the line settings: try another baud rate or parity",
    FailureReason.port_error: "the adapter reported an I/O error: replug it and check `dmesg`",
    FailureReason.connection_refused: "nothing listens there: check host, port and that the device's Modbus TCP is on",
    FailureReason.connection_lost: "the connection broke: check the network path to the device",
}


class TransportError(Exception):
    """A read that did not produce registers; `reason` is the contract's word for why, `detail` the rest."""

    def __init__(self, reason: FailureReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail or reason.value


def classify(error: BaseException) -> FailureReason:
    """The contract's reason for what the port, the socket or the codec raised."""
    match error:
        case TransportError():
            return error.reason
        case ExceptionResponse():
            return modbus_exception_reason(error.code)
        case CrcMismatch():
            return FailureReason.crc_error
        case ShortFrame():
            return FailureReason.short_frame
        case UnexpectedFrame():
            return FailureReason.wrong_unit
        case NoResponse() | TimeoutError():
            return FailureReason.timeout
        case termios.error():
            return FailureReason.port_settings_refused
        case serial.SerialException() if str(error).startswith("Could not configure port"):
            return FailureReason.port_settings_refused  # tcgetattr refused: not a serial port (/dev/null)
        case ConnectionRefusedError():
            return FailureReason.connection_refused
        case ConnectionError() | asyncio.IncompleteReadError():
            return FailureReason.connection_lost
        case OSError():
            return _ERRNO_REASONS.get(error.errno or 0, FailureReason.port_error)
    return FailureReason.internal_error


def describe(error: BaseException) -> str:
    """One line for a log or a table: what the device or the port said, in its own words."""
    if isinstance(error, ExceptionResponse):
        return modbus_exception_words(error.code)
    if isinstance(error, TransportError):
        return error.detail
    text = str(error)
    if isinstance(error, termios.error) and error.args:
        text = f"could not set the line settings: {error.args[-1]}"
    return text or type(error).__name__


def failure(error: BaseException) -> TransportError:
    """`error` as the poll path's one exception, with its reason and its words."""
    if isinstance(error, TransportError):
        return error
    return TransportError(classify(error), describe(error))

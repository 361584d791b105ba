"""Structured event logs: one JSON object per line, with the context as keys.

Code logs `log.warning("read_failure", extra={"event": "read_failure", "device": ...})`;
`setup_logging()` makes every service print that as JSON for journald or a file.
"""

import json
import logging
import sys
import time
from enum import StrEnum

_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        event.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        return json.dumps(event, default=str, ensure_ascii=False)


class LogLevel(StrEnum):
    """The levels a command's `--log-level` takes (a CLI refuses any other with exit 2)."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # pymodbus logs every failed request at ERROR; our pollers report them once.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


__all__ = ["JsonFormatter", "LogLevel", "setup_logging"]

"""The gateway's heartbeat: what a technician (or the centre) needs to know it is well.

Read from the machine at each heartbeat: uptime, CPU temperature (Raspberry Pi OS:
/sys/class/thermal), load, free disk where the buffer lives; and from the agent:
buffer depth, age of the oldest unsent reading, drops, per-device errors, clock.
"""

import os
import shutil
import time
from pathlib import Path

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")
MB = 1024 * 1024


def cpu_temp_c(zone: Path = THERMAL_ZONE) -> float | None:
    try:
        return int(zone.read_text().strip()) / 1000
    except (OSError, ValueError):
        return None  # no thermal zone (a VM, a container)


def load_1m() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def disk_free_mb(path: Path | None) -> float:
    folder = path.parent if path is not None else Path("/")
    return round(shutil.disk_usage(folder).free / MB, 1)


def age_s(ts_ms: int | None) -> float | None:
    return None if ts_ms is None else round(time.time() - ts_ms / 1000, 3)

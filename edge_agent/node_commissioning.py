"""Commissioning a microcontroller node: who it is, how it is set, and its live readings
(`floodwatch-edge node PORT`), as `probe` does for a Modbus device."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from firmware_bridge import ConfigKey, Hello, LinkCounters, NodeLink, Readings
from firmware_bridge.framing import FrameCounters


@dataclass
class NodeReport:
    hello: Hello
    config: dict[str, int]
    link: LinkCounters
    frames: FrameCounters


async def watch_node(
    port: str,
    baud: int,
    timeout_s: float,
    polls: int,
    interval_s: float,
    show: Callable[[Hello, dict[str, int]], None],
    on_readings: Callable[[Readings], None],
) -> NodeReport:
    """IDENTIFY, read every config key, then POLL `polls` times `interval_s` apart (0: until cancelled)."""
    async with NodeLink(port, baud, timeout_s) as link:
        hello = await link.identify()
        config = {key.name.lower(): await link.config_get(key) for key in ConfigKey}
        show(hello, config)
        done = 0
        while polls == 0 or done < polls:
            if done:
                await asyncio.sleep(interval_s)
            on_readings(await link.poll())
            done += 1
        return NodeReport(hello, config, link.counters, link.frame_counters)

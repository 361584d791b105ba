"""Grafana's expansion of an InfluxQL query, as Grafana does it before sending it.

The one place that knows Grafana's rules, so tests, previews and benchmarks run
exactly the text Grafana would send to InfluxDB:

    $timeFilter, $__timeFilter   time >= <from>ms and time <= <to>ms   (the InfluxQL datasource)
    $__interval, $__interval_ms  (to - from) / maxDataPoints, rounded by Grafana's table
                                 (rangeutil.roundInterval), at least the panel's min interval,
                                 written as secondsToHms does ("10m", "1h", "1d", "7d")
    $__from, $__to, ${__from}    epoch milliseconds of the range
    $var, ${var}, [[var]]        template variables: a single value as it is; a multi-value or
                                 include-all variable as a regex, each value escaped, several
                                 joined as (a|b), as the InfluxQL datasource formats them for =~ /^$var$/
    ${var:raw}, ${var:regex}     the explicit formats
    a panel's timeFrom ("7d")    its range is now-7d .. now, whatever the dashboard's (for_panel)
    a panel's interval           its min interval, which may itself be a variable ("$rp_interval")

A variable name not known is left as it is, as Grafana leaves it.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

# Grafana's roundInterval: (upper bound of the raw interval, rounded interval), in ms.
_ROUNDING_MS: tuple[tuple[int, int], ...] = (
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1_500, 1_000),
    (3_500, 2_000),
    (7_500, 5_000),
    (12_500, 10_000),
    (17_500, 15_000),
    (25_000, 20_000),
    (45_000, 30_000),
    (90_000, 60_000),
    (210_000, 120_000),
    (450_000, 300_000),
    (750_000, 600_000),
    (1_050_000, 900_000),
    (1_500_000, 1_200_000),
    (2_700_000, 1_800_000),
    (5_400_000, 3_600_000),
    (9_000_000, 7_200_000),
    (16_200_000, 10_800_000),
    (32_400_000, 21_600_000),
    (86_400_000, 43_200_000),
    (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000),
    (3_628_800_000, 2_592_000_000),
)
_YEAR_MS = 31_536_000_000
_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "y": _YEAR_MS}
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]|\$(\w+)")
_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|{}\[\]/]")


class MacroError(ValueError):
    """A query or an interval that Grafana could not expand either."""


def round_interval_ms(raw_ms: float) -> int:
    for upper, rounded in _ROUNDING_MS:
        if raw_ms < upper:
            return rounded
    return _YEAR_MS


def interval_text(interval_ms: int) -> str:
    """Grafana's secondsToHms: the largest whole unit only (90 min -> '1h'), as InfluxQL reads it."""
    seconds = interval_ms / 1000
    parts = (
        ("y", seconds // 31_536_000),
        ("d", (seconds % 31_536_000) // 86_400),
        ("h", (seconds % 86_400) // 3_600),
        ("m", (seconds % 3_600) // 60),
        ("s", seconds % 60 // 1),
        ("ms", interval_ms),
    )
    for unit, count in parts:
        if count:
            return f"{int(count)}{unit}"
    return "0ms"


def parse_interval_ms(text: str) -> int:
    """'10m' -> 600000, the way Grafana reads a panel's min interval."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d|w|y)", text.strip())
    if match is None:
        raise MacroError(f"interval {text!r}: expected a number and one of {sorted(_UNITS_MS)}, like '10m'")
    return int(match.group(1)) * _UNITS_MS[match.group(2)]


def calculate_interval_ms(from_ms: int, to_ms: int, max_data_points: int, min_interval: str | None = None) -> int:
    """Grafana's calculateInterval: the rounded span per data point, never below the min interval."""
    if to_ms <= from_ms:
        raise MacroError(f"time range ends ({to_ms}) at or before it starts ({from_ms})")
    if max_data_points <= 0:
        raise MacroError(f"maxDataPoints must be > 0, got {max_data_points}")
    interval_ms = round_interval_ms((to_ms - from_ms) / max_data_points)
    low_ms = parse_interval_ms(min_interval) if min_interval else 1
    return max(interval_ms, low_ms)


def _regex_escape(value: str) -> str:
    return _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), value)


@dataclass(frozen=True)
class Variable:
    """A template variable's current value(s); `multi` covers multi-value and include-all."""

    values: tuple[str, ...]
    multi: bool = False

    def format(self, how: str | None) -> str:
        if how == "raw":
            return ",".join(self.values)
        if how == "regex" or self.multi:
            escaped = [_regex_escape(v) for v in self.values]
            return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
        if how not in (None, "text"):
            raise MacroError(f"variable format {how!r} is not one Grafana's InfluxQL queries use here")
        return self.values[0] if self.values else ""


@dataclass(frozen=True)
class Expansion:
    """What Grafana knows when it runs a panel's query: the range, the panel, the variables."""

    from_ms: int
    to_ms: int
    max_data_points: int = 1000
    min_interval: str | None = None
    variables: Mapping[str, Variable] = field(default_factory=dict)
    now_ms: int | None = None  # Grafana's "now" for a panel's relative time; None: to_ms

    @property
    def interval_ms(self) -> int:
        """A min interval may be a variable ("$rp_interval"), as Grafana allows."""
        low = _substitute(self.min_interval, {}, self.variables) if self.min_interval else None
        return calculate_interval_ms(self.from_ms, self.to_ms, self.max_data_points, low)

    def builtins(self) -> dict[str, str]:
        interval_ms = self.interval_ms
        time_filter = f"time >= {self.from_ms}ms and time <= {self.to_ms}ms"
        return {
            "timeFilter": time_filter,
            "__timeFilter": time_filter,
            "__interval": interval_text(interval_ms),
            "__interval_ms": str(interval_ms),
            "__from": str(self.from_ms),
            "__to": str(self.to_ms),
        }

    def with_variables(self, **values: Variable) -> "Expansion":
        return replace(self, variables={**self.variables, **values})

    def for_panel(self, max_data_points: int, min_interval: str | None, time_from: str | None = None) -> "Expansion":
        """A panel's own view: its maxDataPoints and min interval, and its relative time.

        A panel with `timeFrom` ("7d") shows now-7d .. now whatever the dashboard's range,
        as Grafana does; "now" is `now_ms`, by default the end of the dashboard's range.
        """
        here = replace(self, max_data_points=max_data_points, min_interval=min_interval)
        if time_from:
            now_ms = self.to_ms if self.now_ms is None else self.now_ms
            here = replace(here, from_ms=now_ms - parse_interval_ms(time_from), to_ms=now_ms)
        return here


def expand(query: str, context: Expansion) -> str:
    """The query with every macro and known variable replaced, as Grafana sends it."""
    return _substitute(query, context.builtins(), context.variables)


def _substitute(text: str, builtins: Mapping[str, str], variables: Mapping[str, Variable]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3) or match.group(4)
        if name in builtins:
            return builtins[name]
        variable = variables.get(name)
        return match.group(0) if variable is None else variable.format(match.group(2))

    return _VARIABLE.sub(replace, text)


def single(value: str) -> Variable:
    return Variable((value,))


def many(values: Sequence[str]) -> Variable:
    return Variable(tuple(values), multi=True)

"""Honest scoring of a backtest: was a warning aimed at the station and level active when the river crossed?

- A warning is aimed at the station its rule names (`station`), whichever sensor it reads:
  an upstream rule on Kiến Giang's gauge with `station: le_thuy` warns Lệ Thủy, and the
  forecast rule warns its own station. Its state k aims at BĐk. Rain and staleness rules
  are not aimed at an alarm level (a heavy-rain category is not a river level): they are
  listed as not scored, never dropped silently.
- A crossing of BĐk is a reading at or above BĐk after one below (the levels in effect at
  its time; `backtest.official_episodes`).
- A crossing is a hit when some rule aimed at the station was at k or above at the
  crossing's time. Its lead = crossing time - when that rule's warning was raised to k
  or above in the spell that was still active at the crossing (a warning that cleared
  before does not count); a warning still on from the station's previous spell above
  BĐk counts from the last reading of that spell (its lead belongs to the same
  episode, not to the flood before). The hit's lead is the best of the rules active.
- A false alarm: a spell of a rule at k or above (from its raise to its clear, or the end
  of the record) during which the river never reached BĐk. Counted per station-month.
"""

import math
from collections import defaultdict
from dataclasses import dataclass, field

from rules.backtest import Episode, official_episodes
from rules.levels import AlarmLevelTable
from rules.runner import Transition
from rules.series import Series

HOUR_MS = 3_600_000
MONTH_MS = 30.44 * 24 * HOUR_MS
NOT_AIMED_KINDS = ("rainfall", "staleness")


@dataclass(frozen=True)
class Spell:
    """A rule at k or above from `raised_ms` until `cleared_ms` (None: still on at the end)."""

    rule: str
    kind: str
    station: str
    level: int
    raised_ms: int
    cleared_ms: int | None

    def active_at(self, ts_ms: int) -> bool:
        return self.raised_ms <= ts_ms and (self.cleared_ms is None or ts_ms < self.cleared_ms)


@dataclass
class Crossing:
    episode: Episode
    leads_ms: dict[str, int] = field(default_factory=dict)  # rule -> lead, for every rule active at the crossing
    kinds: dict[str, str] = field(default_factory=dict)  # rule -> kind

    @property
    def hit(self) -> bool:
        return bool(self.leads_ms)

    @property
    def lead_ms(self) -> int | None:
        return max(self.leads_ms.values()) if self.leads_ms else None

    @property
    def best_rule(self) -> str | None:
        return max(self.leads_ms, key=lambda r: self.leads_ms[r]) if self.leads_ms else None


@dataclass
class Scorecard:
    crossings: list[Crossing] = field(default_factory=list)
    false_alarms: list[Spell] = field(default_factory=list)
    station_months: float = 0.0
    not_scored: list[str] = field(default_factory=list)  # rules and stations named, with why

    def leads_by_kind(self) -> dict[str, list[tuple[int, int]]]:
        """kind -> (BĐk, lead) of that kind's best rule at every crossing it was active at."""
        out: defaultdict[str, list[tuple[int, int]]] = defaultdict(list)
        for crossing in self.crossings:
            best: dict[str, int] = {}
            for rule, lead in crossing.leads_ms.items():
                kind = crossing.kinds[rule]
                best[kind] = max(best.get(kind, lead), lead)
            for kind, lead in best.items():
                out[kind].append((crossing.episode.level, lead))
        return dict(out)

    def false_per_station_month(self) -> float:
        return len(self.false_alarms) / self.station_months if self.station_months else math.nan


def spells(transitions: list[Transition]) -> list[Spell]:
    """Every rule's spells at each level k: raised to >= k, until it fell below k."""
    out = []
    open_at: dict[tuple[str, int], tuple[int, Transition]] = {}
    for t in sorted(transitions, key=lambda t: t.ts_ms):
        if t.kind in NOT_AIMED_KINDS:
            continue
        for k in range(1, 4):
            key = (t.rule, k)
            if t.previous < k <= t.state:
                open_at[key] = (t.ts_ms, t)
            elif t.state < k <= t.previous and key in open_at:
                raised, first = open_at.pop(key)
                out.append(Spell(t.rule, first.kind, first.station, k, raised, t.ts_ms))
    for (rule, k), (raised, first) in open_at.items():
        out.append(Spell(rule, first.kind, first.station, k, raised, None))
    return sorted(out, key=lambda s: (s.station, s.raised_ms, s.level, s.rule))


def score(
    levels: AlarmLevelTable,
    series: Series,
    level_sensors: dict[str, str],
    transitions: list[Transition],
    start_ms: int,
    end_ms: int,
) -> Scorecard:
    """`level_sensors`: station -> the sensor whose readings decide its official crossings."""
    card = Scorecard()
    all_spells = spells(transitions)
    scored_stations = set()
    for station, sensor in sorted(level_sensors.items()):
        if station not in levels.station_ids:
            card.not_scored.append(f"station {station}: no alarm levels, so its crossings are unknown")
            continue
        if sensor not in series:
            card.not_scored.append(f"station {station}: no readings of {sensor} in the range")
            continue
        scored_stations.add(station)
        ts, vals = series[sensor]
        card.station_months += (end_ms - start_ms) / MONTH_MS
        mine = [s for s in all_spells if s.station == station]
        episodes = official_episodes(levels, station, ts, vals)
        for episode in episodes:
            crossing = Crossing(episode)
            # A warning still on from the previous spell above BĐk is credited from when the river left it.
            since = max((e.end_ms for e in episodes if e.level == episode.level and e.end_ms < episode.start_ms),
                        default=None)  # fmt: skip
            for spell in mine:
                if spell.level == episode.level and spell.active_at(episode.start_ms):
                    lead = episode.start_ms - max(spell.raised_ms, since if since is not None else spell.raised_ms)
                    if lead >= crossing.leads_ms.get(spell.rule, -1):
                        crossing.leads_ms[spell.rule] = lead
                        crossing.kinds[spell.rule] = spell.kind
            card.crossings.append(crossing)
        for spell in mine:
            until = spell.cleared_ms if spell.cleared_ms is not None else end_ms
            threshold_reached = any(
                spell.raised_ms <= t <= until and not math.isnan(v) and _at_or_above(levels, station, t, v, spell.level)
                for t, v in zip(ts, vals, strict=True)
            )
            if not threshold_reached:
                card.false_alarms.append(spell)
    for rule in sorted({t.rule for t in transitions if t.kind in NOT_AIMED_KINDS}):
        card.not_scored.append(f"rule {rule}: a rain or data warning, not aimed at an alarm level")
    for rule, station in sorted({(t.rule, t.station) for t in transitions if t.kind not in NOT_AIMED_KINDS}):
        if station not in scored_stations:
            card.not_scored.append(f"rule {rule}: warns {station}, which has no alarm levels or no level readings")
    card.crossings.sort(key=lambda c: (c.episode.station, c.episode.start_ms, c.episode.level))
    return card


def _at_or_above(levels: AlarmLevelTable, station: str, ts_ms: int, value: float, level: int) -> bool:
    try:
        return value >= levels.station(station, ts_ms).thresholds_m[level - 1]
    except KeyError:
        return False

"""The reference data the dashboards join with readings, written into InfluxDB from the YAML.

InfluxQL cannot read a YAML file, so `floodwatch-grafana reference` copies what the
panels need into three small measurements; the YAML files stay the one place each fact
is written (a rerun overwrites the same points):

    station_info   tags station, river, display_name; fields lat, lon        (rules/network.yaml)
                   time 0
    alarm_levels   tag station; fields bd1_m, bd2_m, bd3_m                    (rules/alarm_levels.yaml)
                   time = the version's effective_from: `last(...) WHERE time <= $__to`
                   is the version in effect at the end of the dashboard's range
    rp_config      tag choice; fields rp, min_span_ms, max_span_ms, mean_field, sum_field,
                   min_field, max_field, min_interval; time 0: the hidden variables $rp, $mean_field, ...
                   pick the raw data or a rollup by the dashboard's span (RP_CHOICES)

With Grafana's maxDataPoints at 1000 the span decides $__interval, so picking by span is
picking by $__interval: up to 2 days (interval <= 2 min) the raw readings; up to 90 days
(interval <= 2 h) rollup_1h; beyond, rollup_1d.
"""

from dataclasses import dataclass

from centre.influx import InfluxV1
from centre.line_protocol import FieldValue, Point
from rules.levels import AlarmLevelTable
from rules.network import RiverNetwork

DAY_MS = 86_400_000


@dataclass(frozen=True)
class RetentionChoice:
    rp: str
    min_span_ms: int
    max_span_ms: int
    # the field each aggregate reads: the raw reading's `value`, or the rollup's own aggregate
    mean_field: str
    sum_field: str
    min_field: str
    max_field: str
    # the panels' min interval ($rp_interval): no finer than the data, so a year of daily
    # rollups is grouped by day, not into empty 6 h buckets
    min_interval: str

    @property
    def fields(self) -> dict[str, str]:
        return {
            "mean_field": self.mean_field,
            "sum_field": self.sum_field,
            "min_field": self.min_field,
            "max_field": self.max_field,
        }


RP_CHOICES = (
    RetentionChoice("autogen", 0, 2 * DAY_MS, "value", "value", "value", "value", "10s"),
    RetentionChoice("rollup_1h", 2 * DAY_MS, 90 * DAY_MS, "mean", "sum", "min", "max", "1h"),
    RetentionChoice("rollup_1d", 90 * DAY_MS, 1_000_000 * DAY_MS, "mean", "sum", "min", "max", "1d"),
)


def choose_rp(span_ms: int) -> RetentionChoice:
    """What the rp_config variable query returns for a span (the tests hold the two equal)."""
    return next(c for c in RP_CHOICES if c.min_span_ms <= span_ms < c.max_span_ms)


def reference_points(network: RiverNetwork, levels: AlarmLevelTable) -> list[Point]:
    points = [
        Point(
            "station_info",
            {"station": s.station, "river": s.river, "display_name": s.display_name},
            {"lat": s.lat, "lon": s.lon},
            0,
        )
        for s in network.stations
    ]
    points += [
        Point(
            "alarm_levels",
            {"station": v.station},
            {"bd1_m": v.bd1_m, "bd2_m": v.bd2_m, "bd3_m": v.bd3_m},
            v.effective_ms,
        )
        for v in levels.stations
    ]
    for choice in RP_CHOICES:
        fields: dict[str, FieldValue] = {
            "rp": choice.rp,
            "min_span_ms": choice.min_span_ms,
            "max_span_ms": choice.max_span_ms,
            **choice.fields,
            "min_interval": choice.min_interval,
        }
        points.append(Point("rp_config", {"choice": choice.rp}, fields, 0))
    return points


def write_reference(influx: InfluxV1, network: RiverNetwork, levels: AlarmLevelTable) -> int:
    points = reference_points(network, levels)
    influx.write(points)
    return len(points)

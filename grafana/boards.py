"""The IOC's five dashboards, built with grafana-foundation-sdk.

Every panel reads InfluxDB (datasource uid `floodwatch-influxdb`) with raw InfluxQL.
Long spans read the rollups: `FROM "$rp"."<quantity>"` with `$mean_field` (or sum, min,
max), hidden variables that the `rp_config` measurement answers by the dashboard's span
(grafana/reference.py). Stations are joined with `station_info` and `alarm_levels`, which
`floodwatch-grafana reference` writes from rules/network.yaml and rules/alarm_levels.yaml.
"""

from collections.abc import Callable
from typing import Any

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import geomap, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import geomap as geomap_models
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataTransformerConfig,
    DynamicConfigValue,
    GridPos,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableHide,
    VariableRefresh,
)

from grafana.influxql import DATASOURCE, InfluxQL

FOLDER_UID = "floodwatch"
FOLDER_TITLE = "Floodwatch"
MAX_DATA_POINTS = 1000
LEVEL_NAMES = ("below BĐ1", "BĐ1", "BĐ2", "BĐ3")
LEVEL_COLOURS = ("green", "yellow", "orange", "red")
# readings of these quantities carry a gateway tag; the fleet panels read them
FLEET_QUANTITIES = "water_level|rain|supply_voltage|temperature|door_open|poe_on|link_up|stream_alive"
SPAN = "${__to} - ${__from}"
STATIONS = '"station" =~ /^$station$/'
UNTIL_TO = "time <= ${__to}ms"
RP_INTERVAL = "$rp_interval"  # a panel reading "$rp" groups no finer than the data it reads


def _rp_variable(name: str, field: str) -> dash.QueryVariable:
    return (
        dash.QueryVariable(name)
        .datasource(DATASOURCE)
        .query(f'SELECT "{field}" FROM "rp_config" WHERE "min_span_ms" <= {SPAN} AND "max_span_ms" > {SPAN}')
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .hide(VariableHide.HIDE_VARIABLE)
    )


def _station_variables(with_gateway: bool = False) -> list[dash.QueryVariable]:
    out = [
        _rp_variable("rp", "rp"),
        *(_rp_variable(f"{kind}_field", f"{kind}_field") for kind in ("mean", "sum", "min", "max")),
        _rp_variable("rp_interval", "min_interval"),
        dash.QueryVariable("river")
        .label("River")
        .datasource(DATASOURCE)
        .query('SHOW TAG VALUES FROM "station_info" WITH KEY = "river"')
        .multi(True)
        .include_all(True)
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD),
        dash.QueryVariable("station")
        .label("Station")
        .datasource(DATASOURCE)
        .query('SHOW TAG VALUES FROM "station_info" WITH KEY = "station" WHERE "river" =~ /^$river$/')
        .multi(True)
        .include_all(True)
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD),
    ]
    if with_gateway:
        out.append(
            dash.QueryVariable("gateway")
            .label("Gateway")
            .datasource(DATASOURCE)
            .query(f'SHOW TAG VALUES FROM /^({FLEET_QUANTITIES}|gateway_status)$/ WITH KEY = "gateway"')
            .multi(True)
            .include_all(True)
            .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        )
    return out


def _base(uid: str, title: str, with_gateway: bool = False) -> dash.Dashboard:
    board = (
        dash.Dashboard(title)
        .uid(uid)
        .tags(["floodwatch", "generated"])
        .timezone("Asia/Ho_Chi_Minh")
        .time("now-7d", "now")
        .refresh("1m")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .readonly()
    )
    for variable in _station_variables(with_gateway):
        board = board.with_variable(variable)
    return board


def _legend() -> common_builders.VizLegendOptions:
    return (
        common_builders.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.LIST)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
    )


def _tooltip() -> common_builders.VizTooltipOptions:
    return common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.NONE)


def _series(title: str, at: GridPos) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .grid_pos(at)
        .datasource(DATASOURCE)
        .max_data_points(MAX_DATA_POINTS)
        .legend(_legend())
        .tooltip(_tooltip())
    )


def _at(x: int, y: int, w: int, h: int) -> GridPos:
    return GridPos(x=x, y=y, w=w, h=h)


def _alarm_thresholds() -> dash.ThresholdsConfig:
    steps = [Threshold(value=None if i == 0 else float(i), color=c) for i, c in enumerate(LEVEL_COLOURS)]
    return dash.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps)


def _alarm_mappings() -> list[Any]:
    return [
        ValueMap(
            options={
                str(i): ValueMappingResult(text=n, color=c)
                for i, (n, c) in enumerate(zip(LEVEL_NAMES, LEVEL_COLOURS, strict=True))
            }
        )
    ]


def _join_by(field: str) -> DataTransformerConfig:
    return DataTransformerConfig(id_val="joinByField", options={"byField": field, "mode": "outer"})


STATION_INFO = (
    'SELECT last("lat") AS "lat", last("lon") AS "lon" FROM "station_info" '
    f'WHERE {STATIONS} GROUP BY "station", "display_name", "river"'
)
ALARM_LEVEL_NOW = (
    'SELECT last("level") AS "alarm_level" FROM "warning" '
    f'WHERE "kind" = \'level\' AND {STATIONS} AND {UNTIL_TO} GROUP BY "station"'
)
LEVEL_NOW = (
    'SELECT last("value") AS "level_m" FROM "water_level" '
    f'WHERE {STATIONS} AND time > ${{__to}}ms - 30d AND {UNTIL_TO} GROUP BY "station"'
)
THRESHOLDS_NOW = (
    'SELECT last("bd1_m") AS "BĐ1", last("bd2_m") AS "BĐ2", last("bd3_m") AS "BĐ3" FROM "alarm_levels" '
    f'WHERE {STATIONS} AND {UNTIL_TO} GROUP BY "station"'
)
TREND_3H = (
    'SELECT last("value") - first("value") AS "trend_3h_m" FROM "water_level" '
    f'WHERE {STATIONS} AND time > ${{__to}}ms - 3h AND {UNTIL_TO} GROUP BY "station"'
)


def province_overview() -> dash.Dashboard:
    markers = (
        common_builders.MapLayerOptions()
        .type("markers")
        .name("Stations")
        .location(
            common_builders.FrameGeometrySource()
            .mode(common.FrameGeometrySourceMode.COORDS)
            .latitude("lat")
            .longitude("lon")
        )
        .config(
            {
                "showLegend": True,
                "style": {
                    "color": {"field": "alarm_level", "fixed": "green"},
                    "size": {"fixed": 12, "min": 8, "max": 16},
                    "text": {"field": "display_name", "mode": "field"},
                    "textConfig": {"fontSize": 12, "offsetY": -14, "textAlign": "center"},
                },
            }
        )
        .tooltip(True)
    )
    overview_map = (
        geomap.Panel()
        .title("Stations by alarm level")
        .description("Colour: the last level warning (BĐ1 yellow, BĐ2 orange, BĐ3 red); green: none in effect")
        .grid_pos(_at(0, 0, 10, 16))
        .datasource(DATASOURCE)
        .max_data_points(MAX_DATA_POINTS)
        .with_target(InfluxQL("A", STATION_INFO, "table"))
        .with_target(InfluxQL("B", ALARM_LEVEL_NOW, "table"))
        .with_transformation(_join_by("station"))
        .view(geomap.MapViewConfig().id("coords").lat(17).lon(107).zoom(8))
        .basemap(common_builders.MapLayerOptions().type("default").name("Basemap"))
        .layers([markers])
        .controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(True))
        .tooltip(geomap.TooltipOptions().mode(geomap_models.TooltipMode.DETAILS))
        .thresholds(_alarm_thresholds())
        .mappings(_alarm_mappings())
        .no_value("0")
    )
    stations = (
        table.Panel()
        .title("Stations: level against BĐ1/2/3")
        .description("BĐ levels of the version in effect at the end of the range; trend: change over the last 3 h")
        .grid_pos(_at(10, 0, 14, 16))
        .datasource(DATASOURCE)
        .with_target(InfluxQL("A", STATION_INFO, "table"))
        .with_target(InfluxQL("B", LEVEL_NOW, "table"))
        .with_target(InfluxQL("C", THRESHOLDS_NOW, "table"))
        .with_target(InfluxQL("D", TREND_3H, "table"))
        .with_target(InfluxQL("E", ALARM_LEVEL_NOW, "table"))
        .with_transformation(_join_by("station"))
        .frame_index(0)
        .show_header(True)
        .with_transformation(
            DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {
                        "lat": True,
                        "lon": True,
                        "Time 1": True,
                        "Time 3": True,
                        "Time 4": True,
                        "Time 5": True,
                    },
                    "renameByName": {
                        "Time 2": "Last reading",
                        "display_name": "Station",
                        "river": "River",
                        "level_m": "Level (m)",
                        "trend_3h_m": "Trend 3 h (m)",
                        "alarm_level": "Alarm",
                    },
                },
            )
        )
        .unit("m")
        .decimals(2)
        # The time of the last reading shown as its age ("3 hours ago"): Grafana's dateTimeFromNow unit.
        .override_by_name("Last reading", [DynamicConfigValue(id_val="unit", value="dateTimeFromNow")])
    )
    return _base("floodwatch-overview", "Floodwatch · Province overview").with_panel(overview_map).with_panel(stations)


HYDROGRAPH = (
    'SELECT mean("$mean_field") AS "level" FROM "$rp"."water_level" '
    f"WHERE {STATIONS} AND $timeFilter GROUP BY time($__interval) fill(none)"
)
WARNINGS = (
    'SELECT "level", "previous_level", "value", "rule" FROM "warning" '
    f"WHERE {STATIONS} AND \"kind\" = 'level' AND $timeFilter"
)


def river_hydrographs() -> dash.Dashboard:
    panel = (
        _series("$station: water level", _at(0, 0, 24, 12))
        .description("Lines: BĐ1/2/3 in effect at the end of the range; markers: level warnings")
        .repeat("station")
        .repeat_direction("v")
        .interval(RP_INTERVAL)
        .with_target(InfluxQL("A", HYDROGRAPH).alias("$station"))
        .with_target(InfluxQL("B", THRESHOLDS_NOW, "table"))
        .with_transformation(
            DataTransformerConfig(
                id_val="configFromData",
                options={
                    "configRefId": "B",
                    "mappings": [
                        {"fieldName": name, "handlerKey": "threshold1", "handlerArguments": {"threshold": {"color": c}}}
                        for name, c in (("BĐ1", "yellow"), ("BĐ2", "orange"), ("BĐ3", "red"))
                    ],
                },
            )
        )
        .unit("m")
        .decimals(2)
        .thresholds_style(common_builders.GraphThresholdsStyleConfig().mode(common.GraphTresholdsStyleMode.LINE))
        .span_nulls(True)
    )
    warnings = (
        dash.AnnotationQuery()
        .name("Level warnings")
        .datasource(DATASOURCE)
        .enable(True)
        .icon_color("red")
        .target(dash.AnnotationTarget().limit(1000).match_any(True).tags([]).type("tags"))
    )
    board = _base("floodwatch-hydrographs", "Floodwatch · River hydrographs").with_panel(panel).annotation(warnings)
    built = board.build()
    # the SDK's AnnotationTarget knows only tag filters; InfluxQL annotations carry a raw query
    assert built.annotations is not None and built.annotations.list_val
    built.annotations.list_val[-1].target = {  # type: ignore[assignment]
        "refId": "Anno",
        "rawQuery": True,
        "query": WARNINGS,
        "resultFormat": "table",
    }
    return _Prebuilt(built)


RAIN_LONG = (
    'SELECT sum("$sum_field") AS "rain_mm" FROM "$rp"."rain" '
    f'WHERE {STATIONS} AND $timeFilter GROUP BY time($__interval), "station" fill(none)'
)
RAIN_24H = (
    'SELECT sum("value") AS "rain_24h_mm" FROM "rain" '
    f'WHERE {STATIONS} AND time > ${{__to}}ms - 24h AND {UNTIL_TO} GROUP BY "station"'
)
# 20:00 -> 20:00 at UTC+07:00 is 13:00 -> 13:00 UTC: ingest's rollup of those days (rollup_1d_13h)
RAIN_BULLETIN_DAY = (
    'SELECT sum("sum") AS "rain_mm" FROM "rollup_1d_13h"."rain" '
    f'WHERE {STATIONS} AND $timeFilter GROUP BY time(1d, 13h), "station" fill(0)'
)


def rainfall() -> dash.Dashboard:
    hourly = (
        _series("Rain per interval", _at(0, 0, 16, 9))
        .interval(RP_INTERVAL)
        .with_target(InfluxQL("A", RAIN_LONG).alias("$tag_station"))
        .unit("lengthmm")
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(80)
    )
    sum_24h = (
        stat.Panel()
        .title("Rain, last 24 h")
        .grid_pos(_at(16, 0, 8, 9))
        .datasource(DATASOURCE)
        .with_target(InfluxQL("A", RAIN_24H, "table"))
        .graph_mode(common.BigValueGraphMode.NONE)
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .justify_mode(common.BigValueJustifyMode.AUTO)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .orientation(common.VizOrientation.AUTO)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).fields("/^rain_24h_mm$/"))
        .unit("lengthmm")
        .thresholds(
            dash.ThresholdsConfig()
            .mode(ThresholdsMode.ABSOLUTE)
            .steps(
                [
                    Threshold(value=None, color="green"),
                    Threshold(value=50.0, color="yellow"),
                    Threshold(value=100.0, color="orange"),
                    Threshold(value=200.0, color="red"),
                ]
            )
        )
    )
    bulletin = (
        _series("Rain per bulletin day (20:00 → 20:00)", _at(0, 9, 24, 9))
        .with_target(InfluxQL("A", RAIN_BULLETIN_DAY).alias("$tag_station"))
        .unit("lengthmm")
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(80)
    )
    return (
        _base("floodwatch-rainfall", "Floodwatch · Rainfall")
        .with_panel(hourly)
        .with_panel(sum_24h)
        .with_panel(bulletin)
    )


GATEWAY_LAST_SEEN = (
    f'SELECT last("quality") AS "quality" FROM /^({FLEET_QUANTITIES})$/ '
    f'WHERE "gateway" =~ /^$gateway$/ AND time > ${{__to}}ms - 7d AND {UNTIL_TO} GROUP BY "gateway"'
)
GATEWAY_READ_FAILURES = (
    f'SELECT count("quality") AS "read_failures" FROM /^({FLEET_QUANTITIES})$/ '
    f'WHERE "quality" = \'read_failure\' AND "gateway" =~ /^$gateway$/ AND $timeFilter '
    'GROUP BY time($__interval), "gateway" fill(0)'
)
GATEWAY_CLOCK = (
    f'SELECT count("quality") AS "unsynced" FROM /^({FLEET_QUANTITIES})$/ '
    f'WHERE "clock_synced" = false AND "gateway" =~ /^$gateway$/ AND $timeFilter '
    'GROUP BY time($__interval), "gateway" fill(0)'
)


def _group_by_gateway(value_field: str, aggregation: str) -> DataTransformerConfig:
    return DataTransformerConfig(
        id_val="groupBy",
        options={
            "fields": {
                "gateway": {"operation": "groupby"},
                value_field: {"operation": "aggregate", "aggregations": [aggregation]},
            }
        },
    )


GATEWAYS = '"gateway" =~ /^$gateway$/'
HEARTBEAT_LAST = (
    'SELECT last("online") AS "online" FROM "gateway_status" '
    f'WHERE {GATEWAYS} AND time > ${{__to}}ms - 7d AND {UNTIL_TO} GROUP BY "gateway"'
)
HEARTBEAT_FIGURES = (
    'SELECT last("buffer_depth") AS "buffer_depth", last("oldest_unsent_age_s") AS "oldest_unsent_s", '
    'last("device_errors") AS "device_errors", last("clock_synced") AS "clock_synced" FROM "gateway_status" '
    f'WHERE {GATEWAYS} AND time > ${{__to}}ms - 7d AND {UNTIL_TO} GROUP BY "gateway"'
)


def _heartbeat_series(field: str, name: str) -> str:
    return (
        f'SELECT max("{field}") AS "{name}" FROM "gateway_status" '
        f'WHERE {GATEWAYS} AND $timeFilter GROUP BY time($__interval), "gateway" fill(none)'
    )


HEARTBEAT_BUFFER = _heartbeat_series("buffer_depth", "buffer_depth")
HEARTBEAT_OLDEST = _heartbeat_series("oldest_unsent_age_s", "oldest_unsent_s")
# The fleet's graphs read data that is not rolled up (raw readings, heartbeats at one a
# minute per gateway), so each shows a fixed last stretch (timeFrom) whatever the
# dashboard's range: a year's range stays fast (bench/grafana_panels.py).
FLEET_WINDOW = "7d"  # counts of raw readings
HEARTBEAT_WINDOW = "24h"  # heartbeats: 1,440 a day per gateway
HEARTBEAT_MIN_INTERVAL = "5m"  # 288 points a gateway, not one per heartbeat


def gateway_fleet() -> dash.Dashboard:
    heartbeat = (
        table.Panel()
        .title("Gateways: last status")
        .description(
            "From each gateway's status heartbeat (ingest's gateway_status): online, then as of its last"
            " heartbeat the readings waiting on its disk, the age of the oldest, device errors since start"
            " and whether its clock is synchronised; Time: when the status came"
        )
        .grid_pos(_at(0, 0, 14, 8))
        .datasource(DATASOURCE)
        .with_target(InfluxQL("A", HEARTBEAT_LAST, "table"))
        .with_target(InfluxQL("B", HEARTBEAT_FIGURES, "table"))
        .with_transformation(_join_by("gateway"))
        .with_transformation(
            DataTransformerConfig(
                id_val="organize",
                # several last()s in one query are stamped with the range's start: not a time to show
                options={"excludeByName": {"Time 2": True}, "renameByName": {"Time 1": "status at"}},
            )
        )
        .frame_index(0)
        .show_header(True)
    )
    last_seen = (
        table.Panel()
        .title("Gateways: last reading stored")
        .description("Time of each gateway's newest reading (any quantity) in the last 7 days")
        .grid_pos(_at(14, 0, 10, 8))
        .datasource(DATASOURCE)
        .with_target(InfluxQL("A", GATEWAY_LAST_SEEN, "table"))
        .with_transformation(_group_by_gateway("Time", "max"))
        .frame_index(0)
        .show_header(True)
    )
    buffer_depth = (
        _series("Buffer depth (readings not yet confirmed)", _at(0, 8, 12, 8))
        .time_from(HEARTBEAT_WINDOW)
        .interval(HEARTBEAT_MIN_INTERVAL)
        .with_target(InfluxQL("A", HEARTBEAT_BUFFER).alias("$tag_gateway"))
    )
    oldest = (
        _series("Oldest unsent reading (age)", _at(12, 8, 12, 8))
        .time_from(HEARTBEAT_WINDOW)
        .interval(HEARTBEAT_MIN_INTERVAL)
        .with_target(InfluxQL("A", HEARTBEAT_OLDEST).alias("$tag_gateway"))
        .unit("s")
    )
    failures = (
        _series("Device read failures", _at(0, 16, 12, 8))
        .time_from(FLEET_WINDOW)
        .with_target(InfluxQL("A", GATEWAY_READ_FAILURES).alias("$tag_gateway $measurement"))
        .draw_style(common.GraphDrawStyle.BARS)
    )
    clock = (
        _series("Readings stamped without a synchronised clock", _at(12, 16, 12, 8))
        .time_from(FLEET_WINDOW)
        .with_target(InfluxQL("A", GATEWAY_CLOCK).alias("$tag_gateway $measurement"))
        .draw_style(common.GraphDrawStyle.BARS)
    )
    board = _base("floodwatch-fleet", "Floodwatch · Gateway fleet", with_gateway=True)
    for panel in (heartbeat, last_seen, buffer_depth, oldest, failures, clock):
        board = board.with_panel(panel)
    return board


def _cabinet_series(quantity: str, aggregate: str, name: str | None = None, expression: str = "{}") -> str:
    selected = expression.format(f'{aggregate}("${aggregate}_field")')
    return (
        f'SELECT {selected} AS "{name or quantity}" FROM "$rp"."{quantity}" '
        f'WHERE {STATIONS} AND $timeFilter GROUP BY time($__interval), "station" fill(none)'
    )


CABINET_SUPPLY = _cabinet_series("supply_voltage", "min")
CABINET_TEMPERATURE = _cabinet_series("temperature", "max")
# every state reads 1 = ok, 0 = fault: a door open at any time of an interval shows open
# (door_closed = 1 - max(door_open)); a link, PoE or stream down at any time shows down
CABINET_STATES = {
    "door_closed": _cabinet_series("door_open", "max", "door_closed", "1 - {}"),
    "poe_on": _cabinet_series("poe_on", "min"),
    "link_up": _cabinet_series("link_up", "min"),
    "stream_alive": _cabinet_series("stream_alive", "min"),
}


def camera_cabinets() -> dash.Dashboard:
    supply = (
        _series("Supply voltage (lowest per interval)", _at(0, 0, 12, 8))
        .interval(RP_INTERVAL)
        .with_target(InfluxQL("A", CABINET_SUPPLY).alias("$tag_station"))
        .unit("volt")
        .thresholds(
            dash.ThresholdsConfig()
            .mode(ThresholdsMode.ABSOLUTE)
            .steps([Threshold(value=None, color="red"), Threshold(value=11.8, color="green")])
        )
        .thresholds_style(common_builders.GraphThresholdsStyleConfig().mode(common.GraphTresholdsStyleMode.LINE))
    )
    temperature = (
        _series("Cabinet temperature (highest per interval)", _at(12, 0, 12, 8))
        .interval(RP_INTERVAL)
        .with_target(InfluxQL("A", CABINET_TEMPERATURE).alias("$tag_station"))
        .unit("celsius")
    )
    states = (
        statetimeline.Panel()
        .title("Door, PoE, link, stream")
        .grid_pos(_at(0, 8, 24, 10))
        .datasource(DATASOURCE)
        .max_data_points(MAX_DATA_POINTS)
        .interval(RP_INTERVAL)
        .legend(_legend())
        .tooltip(_tooltip())
        .show_value(common.VisibilityMode.AUTO)
        .row_height(0.9)
        .mappings(
            [
                ValueMap(
                    options={
                        "0": ValueMappingResult(text="fault", color="red"),
                        "1": ValueMappingResult(text="ok", color="green"),
                    }
                )
            ]
        )
    )
    for ref, (quantity, query) in zip("ABCD", CABINET_STATES.items(), strict=True):
        states = states.with_target(InfluxQL(ref, query).alias(f"$tag_station {quantity}"))
    return (
        _base("floodwatch-cabinets", "Floodwatch · Camera-cabinet health")
        .with_panel(supply)
        .with_panel(temperature)
        .with_panel(states)
    )


class _Prebuilt(dash.Dashboard):
    """A dashboard finished by hand after building (a field the SDK's builder does not set)."""

    def __init__(self, built: Any) -> None:
        self._built = built

    def build(self) -> Any:
        return self._built


DASHBOARDS: dict[str, Callable[[], dash.Dashboard]] = {
    "province_overview": province_overview,
    "river_hydrographs": river_hydrographs,
    "rainfall": rainfall,
    "gateway_fleet": gateway_fleet,
    "camera_cabinets": camera_cabinets,
}


def dashboard_json(name: str) -> dict[str, Any]:
    """The dashboard as Grafana stores it (the SDK's JSON, panels numbered in order)."""
    import json

    model = json.loads(json.dumps(DASHBOARDS[name]().build(), cls=JSONEncoder))
    # The SDK on PyPI still writes `style` and variable ids, which the current dashboard
    # schema (grafana/schemas/) no longer has; Grafana ignores both.
    model.pop("style", None)
    for panel in model.get("panels", []):
        if panel["type"] == "stat":  # options the SDK predates; Grafana's own defaults
            panel["options"] |= {"wideLayout": True, "showPercentChange": False, "percentChangeColorMode": "standard"}
    for variable in model.get("templating", {}).get("list", []):
        variable.pop("id", None)
    for number, panel in enumerate(model.get("panels", []), start=1):
        panel["id"] = number
    return model

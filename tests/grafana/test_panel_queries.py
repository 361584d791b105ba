"""Every panel's query, expanded as Grafana expands it, against the real InfluxDB loaded
with the demo's replay (October 2020); the values are checked against the CSV files."""

import math
from collections import defaultdict
from datetime import datetime

import pytest

from centre.influx import InfluxV1
from devstack.replay_data import LEVEL_CSV, RAIN_CSV
from devstack.replay_influx import (
    DOOR_OPEN,
    GATEWAYS,
    MAINS_LOST,
    OUTAGE,
    OUTAGE_BACKLOG,
    READ_FAILURES,
    UNSYNCED,
    ReplayLoad,
)
from grafana.generate import load_dashboards
from grafana.macros import Expansion, expand, single
from grafana.panel_run import panel, resolve_variables, rows, run_panel
from grafana.reference import RP_CHOICES, choose_rp
from rules.backtest import load_csv
from rules.network import load_network

START = datetime.fromisoformat("2020-10-01T00:00:00+07:00")
END = datetime.fromisoformat("2020-11-01T00:00:00+07:00")
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
BOARDS = load_dashboards()


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


MONTH = Expansion(_ms("2020-10-01T00:00:00+07:00"), _ms("2020-11-01T00:00:00+07:00"))
FLOOD_DAY = Expansion(_ms("2020-10-08T00:00:00+07:00"), _ms("2020-10-09T00:00:00+07:00"))
NOON_19TH = _ms("2020-10-19T12:00:00+07:00")
CSV = load_csv((LEVEL_CSV, RAIN_CSV), MONTH.from_ms, MONTH.to_ms)


def _run(influx: InfluxV1, board: str, title: str, context: Expansion, **chosen: str) -> dict[str, list[dict]]:
    model = BOARDS[board]
    full = resolve_variables(influx, model, context, {k: single(v) for k, v in chosen.items()})
    return {ref: rows(result.series) for ref, result in run_panel(influx, panel(model, title), full).items()}


def _csv(sensor: str, until_ms: int | None = None) -> list[tuple[int, float]]:
    times, values = CSV[sensor]
    return [
        (t, v) for t, v in zip(times, values, strict=True) if math.isfinite(v) and (until_ms is None or t <= until_ms)
    ]


def _bucket_means(sensor: str, size_ms: int, offset_ms: int = 0) -> dict[int, float]:
    buckets: defaultdict[int, list[float]] = defaultdict(list)
    for t, v in _csv(sensor):
        buckets[(t - offset_ms) // size_ms * size_ms + offset_ms].append(v)
    return {t: sum(vs) / len(vs) for t, vs in buckets.items()}


def _bucket_sums(sensor: str, size_ms: int, offset_ms: int = 0) -> dict[int, float]:
    buckets: defaultdict[int, float] = defaultdict(float)
    for t, v in _csv(sensor):
        buckets[(t - offset_ms) // size_ms * size_ms + offset_ms] += v
    return dict(buckets)


@pytest.mark.parametrize("span_days", [1, 31, 365])
def test_the_rp_variable_picks_raw_or_a_rollup_by_span(replayed: tuple[InfluxV1, ReplayLoad], span_days: int) -> None:
    influx, _ = replayed
    to_ms = MONTH.to_ms
    context = resolve_variables(influx, BOARDS["river_hydrographs"], Expansion(to_ms - span_days * DAY_MS, to_ms))
    choice = choose_rp(span_days * DAY_MS)
    assert context.variables["rp"].values == (choice.rp,)
    assert context.variables["mean_field"].values == (choice.mean_field,)
    assert context.variables["rp_interval"].values == (choice.min_interval,)
    hydrograph = panel(BOARDS["river_hydrographs"], "$station: water level")
    grouped = context.for_panel(hydrograph["maxDataPoints"], hydrograph["interval"]).builtins()["__interval"]
    assert grouped == {1: "1m", 31: "1h", 365: "1d"}[span_days]  # a year: by day, not 6 h buckets of daily data
    assert [c.rp for c in RP_CHOICES] == ["autogen", "rollup_1h", "rollup_1d"]


def test_river_and_station_variables_come_from_the_network(replayed: tuple[InfluxV1, ReplayLoad]) -> None:
    influx, _ = replayed
    model = BOARDS["river_hydrographs"]
    everything = resolve_variables(influx, model, MONTH)
    assert sorted(everything.variables["station"].values) == sorted(load_network().station_ids)
    only_kien_giang = resolve_variables(influx, model, MONTH, {"river": single("Kiến Giang")})
    assert sorted(only_kien_giang.variables["station"].values) == ["kien_giang", "le_thuy"]


def test_hydrograph_of_a_month_reads_the_hourly_rollup(replayed: tuple[InfluxV1, ReplayLoad]) -> None:
    influx, _ = replayed
    result = _run(influx, "river_hydrographs", "$station: water level", MONTH, station="le_thuy")
    assert 'FROM "rollup_1h"."water_level"' in run_query_text(influx, MONTH)
    expected = _bucket_means("le_thuy.level", HOUR_MS)
    got = {r["time"]: r["level"] for r in result["A"]}
    assert set(got) == set(expected)
    for t, value in expected.items():
        assert got[t] == pytest.approx(value, abs=1e-9)
    assert max(got.values()) == pytest.approx(4.88)
    assert [(r["BĐ1"], r["BĐ2"], r["BĐ3"]) for r in result["B"]] == [(1.20, 2.20, 2.70)]


def run_query_text(influx: InfluxV1, context: Expansion) -> str:
    model = BOARDS["river_hydrographs"]
    full = resolve_variables(influx, model, context, {"station": single("le_thuy")})
    return run_panel(influx, panel(model, "$station: water level"), full)["A"].query


def test_hydrograph_of_a_day_reads_every_raw_reading(replayed: tuple[InfluxV1, ReplayLoad]) -> None:
    influx, _ = replayed
    result = _run(influx, "river_hydrographs", "$station: water level", FLOOD_DAY, station="kien_giang")
    expected = {t: v for t, v in _csv("kien_giang.level") if FLOOD_DAY.from_ms <= t <= FLOOD_DAY.to_ms}
    assert {r["time"]: r["level"] for r in result["A"]} == pytest.approx(expected)
    assert max(expected.values()) == pytest.approx(14.66)


def test_warning_annotations_are_the_level_transitions(replayed: tuple[InfluxV1, ReplayLoad]) -> None:
    influx, _ = replayed
    model = BOARDS["river_hydrographs"]
    context = resolve_variables(influx, model, MONTH, {"station": single("le_thuy")})
    annotation = model["annotations"]["list"][-1]["target"]["query"]
    found = rows(influx.query(expand(annotation, context)))
    by_time = {r["time"]: (r["previous_level"], r["level"], r["value"]) for r in found}
    assert by_time[_ms("2020-10-07T22:00:00+07:00")] == (0, 1, pytest.approx(1.22))
    assert by_time[_ms("2020-10-08T08:00:00+07:00")] == (2, 3, pytest.approx(2.81))
    assert {r["rule"] for r in found} == {"le_thuy_level"}
    assert all(abs(r["level"] - r["previous_level"]) >= 1 for r in found)


def _last_level(sensor: str, until_ms: int) -> tuple[int, float]:
    return _csv(sensor, until_ms)[-1]


def test_overview_map_joins_coordinates_and_alarm_level(replayed: tuple[InfluxV1, ReplayLoad]) -> None:
    influx, _ = replayed
    context = Expansion(NOON_19TH - 7 * DAY_MS, NOON_19TH)
    result = _run(influx, "province_overview", "Stations by alarm level", context)
    coordinates = {r["station"]: (r["lat"], r["lon"], r["display_name"]) for r in result["A"]}
    for station in load_network().stations:
        assert coordinates[station.station] == (station.lat, station.lon, station.display_name)
    alarm = {r["station"]: r["alarm_level"] for r in result["B"]}
    _, level_now = _last_level("le_thuy.level", NOON_19TH)
    assert level_now > 2.70
    assert alarm == {"le_thuy": 3}  # the only station with level rules and data


def test_overview_table_level_thresholds_trend_and_age(replayed: tuple[InfluxV1, ReplayLoad]) -> None:
    influx, _ = replayed
    context = Expansion(NOON_19TH - 7 * DAY_MS, NOON_19TH)
    result = _run(influx, "province_overview", "Stations: level against BĐ1/2/3", context)
    level = {r["station"]: (r["time"], r["level_m"]) for r in result["B"]}
    for station in ("le_thuy", "kien_giang", "dong_hoi"):
        assert level[station] == pytest.approx(_last_level(f"{station}.level", NOON_19TH))
    assert {r["station"]: (r["BĐ1"], r["BĐ2"], r["BĐ3"]) for r in result["C"]} == {
        "le_thuy": (1.2, 2.2, 2.7),
        "kim_long": (1.0, 2.0, 3.5),
        "phu_oc": (1.5, 3.0, 4.5),
    }
    window = [v for t, v in _csv("le_thuy.level", NOON_19TH) if t > NOON_19TH - 3 * HOUR_MS]
    trend = {r["station"]: r["trend_3h_m"] for r in result["D"]}
    assert trend["le_thuy"] == pytest.approx(window[-1] - window[0])


def test_rain_per_interval_sums_the_hourly_rollup(replayed: tuple[InfluxV1, ReplayLoad]) -> None:
    influx, _ = replayed
    result = _run(influx, "rainfall", "Rain per interval", MONTH, station="dong_hoi")
    got = {r["time"]: r["rain_mm"] for r in result["A"] if r["rain_mm"]}
    expected = {t: v for t, v in _bucket_sums("dong_hoi.rain", HOUR_MS).items() if v}
    assert got == pytest.approx(expected)
    assert sum(got.values()) == pytest.approx(sum(v for _, v in _csv("dong_hoi.rain")))


def test_rain_last_24h_and_bulletin_days(replayed: tuple[InfluxV1, ReplayLoad]) -> None:
    influx, _ = replayed
    context = Expansion(NOON_19TH - 7 * DAY_MS, NOON_19TH)
    last_24h = _run(influx, "rainfall", "Rain, last 24 h", context)["A"]
    for station in ("le_thuy", "kien_giang", "dong_hoi"):
        expected = sum(v for t, v in _csv(f"{station}.rain") if NOON_19TH - DAY_MS < t <= NOON_19TH)
        assert {r["station"]: r["rain_24h_mm"] for r in last_24h}[station] == pytest.approx(expected)
    days = _run(influx, "rainfall", "Rain per bulletin day (20:00 → 20:00)", MONTH, station="le_thuy")["A"]
    got = {r["time"]: r["rain_mm"] for r in days if r["rain_mm"]}
    expected_days = {t: v for t, v in _bucket_sums("le_thuy.rain", DAY_MS, 13 * HOUR_MS).items() if v}
    assert got == pytest.approx(expected_days)
    assert all(datetime.fromtimestamp(t / 1000, START.tzinfo).hour == 20 for t in got)


def test_fleet_last_seen_read_failures_and_clock(replayed: tuple[InfluxV1, ReplayLoad]) -> None:
    influx, _ = replayed
    context = Expansion(NOON_19TH - 7 * DAY_MS, NOON_19TH)
    seen = _run(influx, "gateway_fleet", "Gateways: last reading stored", context)["A"]
    newest: defaultdict[str, int] = defaultdict(int)
    for r in seen:
        newest[r["gateway"]] = max(newest[r["gateway"]], r["time"])
    assert newest["gw-le-thuy-01"] == NOON_19TH  # the cabinet reports every 10 min
    assert newest["gw-dong-hoi-01"] == _last_level("dong_hoi.level", NOON_19TH)[0]
    # a year's range: the counting panels still show only their last 7 days (timeFrom)
    fleet_now = _ms("2020-10-15T00:00:00+07:00")
    year = Expansion(fleet_now - 365 * DAY_MS, fleet_now)
    failures = _run(influx, "gateway_fleet", "Device read failures", year)["A"]
    assert min(r["time"] for r in failures) >= fleet_now - 7 * DAY_MS
    per_gateway: defaultdict[str, int] = defaultdict(int)
    for r in failures:
        per_gateway[r["gateway"]] += r["read_failures"]
    # a gateway without failures has no series at all (InfluxQL fills only within a series)
    assert dict(per_gateway) == {"gw-kien-giang-01": len(READ_FAILURES)}
    unsynced = _run(influx, "gateway_fleet", "Readings stamped without a synchronised clock", year)["A"]
    total: defaultdict[str, int] = defaultdict(int)
    for r in unsynced:
        total[r["gateway"]] += r["unsynced"]
    expected = sum(
        1 for s in ("dong_hoi.level", "dong_hoi.rain") for t, _ in _csv(s) if UNSYNCED[0] <= t <= UNSYNCED[1]
    )
    assert expected > 0
    assert dict(total) == {"gw-dong-hoi-01": expected}


def test_fleet_status_table_follows_the_outage(replayed: tuple[InfluxV1, ReplayLoad]) -> None:
    influx, _ = replayed
    during = _ms("2020-10-08T10:00:00+07:00")
    table = _run(influx, "gateway_fleet", "Gateways: last status", Expansion(during - DAY_MS, during))
    online = {r["gateway"]: (r["online"], r["time"]) for r in table["A"]}
    assert online == {
        "gw-kien-giang-01": (False, OUTAGE[0] + 120_000),  # the last will
        "gw-le-thuy-01": (True, during),
        "gw-dong-hoi-01": (True, during),
    }
    after = _ms("2020-10-08T15:00:00+07:00")
    table = _run(influx, "gateway_fleet", "Gateways: last status", Expansion(after - DAY_MS, after))
    figures = {r["gateway"]: (r["buffer_depth"], r["device_errors"], r["clock_synced"]) for r in table["B"]}
    assert figures["gw-kien-giang-01"] == (0, len(READ_FAILURES), True)
    assert {r["gateway"]: r["online"] for r in table["A"]} == dict.fromkeys(GATEWAYS.values(), True)


def test_fleet_buffer_depth_and_oldest_unsent_show_the_backlog(replayed: tuple[InfluxV1, ReplayLoad]) -> None:
    influx, _ = replayed
    fleet_now = _ms("2020-10-09T00:00:00+07:00")  # the graphs show the last 24 h
    context = Expansion(fleet_now - DAY_MS, fleet_now)
    depth = _run(influx, "gateway_fleet", "Buffer depth (readings not yet confirmed)", context)["A"]
    backlog = [(r["gateway"], r["time"], r["buffer_depth"]) for r in depth if r["buffer_depth"]]
    assert backlog == [("gw-kien-giang-01", OUTAGE[1], OUTAGE_BACKLOG)]
    assert {r["gateway"] for r in depth} == set(GATEWAYS.values())
    oldest = _run(influx, "gateway_fleet", "Oldest unsent reading (age)", context)["A"]
    assert [(r["gateway"], r["time"], r["oldest_unsent_s"]) for r in oldest if r["oldest_unsent_s"]] == [
        ("gw-kien-giang-01", OUTAGE[1], (OUTAGE[1] - OUTAGE[0]) / 1000)
    ]


def test_cabinet_panels_show_the_power_cut_and_the_open_door(replayed: tuple[InfluxV1, ReplayLoad]) -> None:
    influx, _ = replayed
    supply = _run(influx, "camera_cabinets", "Supply voltage (lowest per interval)", MONTH, station="le_thuy")["A"]
    low = sorted(r["time"] for r in supply if r["supply_voltage"] < 12)
    assert low == list(range(MAINS_LOST[0], MAINS_LOST[1], HOUR_MS))
    assert {r["supply_voltage"] for r in supply} == {11.4, 13.2}
    states = _run(influx, "camera_cabinets", "Door, PoE, link, stream", MONTH, station="le_thuy")
    door_faults = [r["time"] for r in states["A"] if r["door_closed"] == 0]
    assert door_faults == [DOOR_OPEN[0] // HOUR_MS * HOUR_MS]
    stream_down = sorted(r["time"] for r in states["D"] if r["stream_alive"] == 0)
    assert stream_down == list(range(MAINS_LOST[0], MAINS_LOST[1], HOUR_MS))
    assert {r["poe_on"] for r in states["B"]} == {1.0} and {r["link_up"] for r in states["C"]} == {1.0}
    temperature = _run(
        influx, "camera_cabinets", "Cabinet temperature (highest per interval)", MONTH, station="le_thuy"
    )["A"]
    assert max(r["temperature"] for r in temperature) == pytest.approx(34.0, abs=0.05)


def test_previews_render_every_dashboard_from_the_queries(replayed: tuple[InfluxV1, ReplayLoad], tmp_path) -> None:
    from PIL import Image

    from devstack.grafana_previews import VIEWS
    from grafana.preview import render_dashboard

    influx, _ = replayed
    for name, model in BOARDS.items():
        now, days, chosen = VIEWS[name]
        to_ms = int(now.timestamp() * 1000)
        path = render_dashboard(
            influx, model, Expansion(to_ms - days * DAY_MS, to_ms), tmp_path / f"{name}.png", chosen
        )
        with Image.open(path) as image:
            assert image.width == 1440 and image.height > 300

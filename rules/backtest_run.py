"""One backtest, end to end: replay the rule book, run the forecast models, score, write the outputs.

`floodwatch-rules backtest` parses its options and calls `run_backtest` and `write_outputs`;
the tests call them too. The stations' time zone comes from the river network: `--from` and
`--to` without a zone are read in it (`parse_time`), and the report shows it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

from rules.backtest import replay
from rules.forecast.model import ForecastModel
from rules.forecast.rule import forecast_rule
from rules.levels import AlarmLevelTable
from rules.network import RiverNetwork
from rules.report import ReportInput, hydrograph, write_markdown, write_transitions_csv
from rules.rulebook import ForecastKind, LevelKind, RainfallKind, RuleBook
from rules.runner import Transition
from rules.scoring import NOT_AIMED_KINDS, Scorecard, score
from rules.series import Series

HOUR_MS = 3_600_000


class BacktestError(ValueError):
    """A backtest that cannot run as asked; the message says why and what to give instead."""


@dataclass
class BacktestResult:
    series: Series
    transitions: list[Transition]
    card: Scorecard
    info: ReportInput
    rivers: dict[str, str]  # level sensor -> station it stands at
    rain_sensors: list[str]


def stations_zone(network: RiverNetwork, stations: set[str]) -> tuple[tzinfo, str]:
    """The one time zone of `stations` (those on the network); refused when they have several."""
    zones = sorted({network.station(s).time_zone for s in stations if s in network.station_ids})
    if len(zones) > 1:
        raise BacktestError(f"the stations are in several time zones ({', '.join(zones)}); back test them apart")
    if not zones:
        raise BacktestError(
            f"none of the stations {sorted(stations)} is in the river network, so their time zone is unknown"
        )
    return network.station(next(s for s in stations if s in network.station_ids)).zone, zones[0]


def parse_time(text: str, zone: tzinfo, zone_name: str, option: str) -> int:
    """'2020-10-01' or an ISO time; without an offset, in the stations' zone (never the machine's)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BacktestError(
            f"{option} {text!r}: not an ISO date or time (e.g. 2020-10-01 or 2020-10-01T00:00+07:00)"
        ) from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=zone)).timestamp() * 1000)


def book_stations(book: RuleBook, models: list[ForecastModel]) -> set[str]:
    return {rule.station for rule in book.rules} | {model.station for model in models}


def with_forecasts(book: RuleBook, models: list[ForecastModel], network: RiverNetwork) -> RuleBook:
    """The rule book and a forecast rule (default options) per model of `--forecast`."""
    if not models:
        return book
    return book.model_copy(update={"rules": (*book.rules, *(forecast_rule(m, network) for m in models))})


def upstream_details(book: RuleBook, network: RiverNetwork, transitions: list[Transition]) -> dict[str, str]:
    """For a raise by a rule that reads a gauge upstream of the station it warns: when the water
    is expected there (`RiverNetwork.arrival_note`, which the live evaluator uses too)."""
    out = {}
    names = {rule.name for rule in book.rules}
    for t in transitions:
        if t.rule in names and t.state > t.previous and t.kind not in NOT_AIMED_KINDS:
            note = network.arrival_note(t.sensor, t.station, t.ts_ms)
            if note is not None:
                out[t.transition_id] = note
    return out


def run_backtest(
    book: RuleBook,
    levels: AlarmLevelTable,
    network: RiverNetwork,
    series: Series,
    models: list[ForecastModel],
    start_ms: int,
    end_ms: int,
    title: str,
    notes: list[str],
    progress: Callable[[int], None] = lambda _: None,
) -> BacktestResult:
    zone, zone_name = stations_zone(network, book_stations(book, models))
    try:
        book = with_forecasts(book, models, network)
    except ValueError as error:
        raise BacktestError(str(error)) from None
    used = {sensor for rule in book.rules for sensor in rule.sensors()}
    level_sensors: dict[str, str] = {}  # station -> the gauge that decides its crossings
    for rule in book.rules:
        if isinstance(rule, LevelKind):
            level_sensors.setdefault(rule.levels, rule.sensor)
    for rule in book.rules:
        if isinstance(rule, ForecastKind):
            level_sensors.setdefault(rule.levels, rule.loaded.sensor)
            if rule.loaded.rain_gauges and not any(g in series for g in rule.loaded.rain_gauges):
                raise BacktestError(
                    f"forecast rule {rule.name!r} uses the rain of {list(rule.loaded.rain_gauges)}, "
                    "none of which is in the record"
                )
    for rule in book.rules:  # a rule aimed at a station with levels but no level rule: score it on its gauge
        if rule.station in levels.station_ids and rule.station not in level_sensors:
            gauge = network.station(rule.station).level_sensor if rule.station in network.station_ids else None
            if gauge:
                level_sensors[rule.station] = gauge
                used.add(gauge)
    for sensor in sorted(series):  # a gauge in the data whose station has no levels: named, not dropped
        station = sensor.split(".")[0]
        if sensor.endswith(".level") and station not in levels.station_ids:
            level_sensors.setdefault(station, sensor)
    book_series = {sensor: data for sensor, data in series.items() if sensor in used}
    details: dict[str, str] = {}
    transitions = replay(book, levels, book_series, start_ms, end_ms, progress, network, details)
    details |= upstream_details(book, network, transitions)
    transitions.sort(key=lambda t: (t.ts_ms, t.rule))
    kept = {sensor: data for sensor, data in series.items() if sensor in used}
    card = score(levels, kept, level_sensors, transitions, start_ms, end_ms)
    info = ReportInput(title, zone, zone_name, details, notes)
    rivers = {sensor: sensor.split(".")[0] for sensor in sorted(kept) if sensor.endswith(".level")}
    for station, sensor in level_sensors.items():
        rivers[sensor] = station
    rain = sorted({r.sensor for r in book.rules if isinstance(r, RainfallKind)})
    return BacktestResult(kept, transitions, card, info, rivers, rain)


def write_outputs(out_dir: Path, result: BacktestResult, levels: AlarmLevelTable) -> Path:
    """report.md, transitions.csv and hydrograph.png in `out_dir`; returns the report's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / "hydrograph.png"
    hydrograph(
        png, levels, result.series, result.rivers, result.rain_sensors, result.transitions, result.card, result.info
    )
    write_transitions_csv(out_dir / "transitions.csv", result.transitions, result.info)
    report = out_dir / "report.md"
    write_markdown(report, result.transitions, result.card, png, result.info)
    return report

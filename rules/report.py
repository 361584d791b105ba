"""The backtest's outputs: a Markdown report, a CSV of transitions and a hydrograph PNG.

Times are shown in the stations' own zone (the river network's `time_zone`), with the
zone named. The hydrograph draws gaps in the record as gaps, and adds a zoomed panel
around each flood (each crossing of BĐ1, at most `MAX_ZOOMS`).
"""

import csv
import math
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a server; set before pyplot is imported
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from rules.levels import AlarmLevelTable, StationLevels
from rules.runner import Transition
from rules.scoring import NOT_AIMED_KINDS, Scorecard
from rules.series import Series

HOUR_MS = 3_600_000
SEVERITY_COLOURS = {1: "#f2c500", 2: "#f28500", 3: "#d00000"}
GAP_MS = 7 * HOUR_MS  # four readings a day in normal weather: a longer silence is a gap
MAX_ZOOMS = 6


@dataclass
class ReportInput:
    """What the report shows besides the transitions and the scorecard."""

    title: str
    zone: tzinfo
    zone_name: str
    details: dict[str, str] = field(default_factory=dict)  # transition id -> what the warning says
    notes: list[str] = field(default_factory=list)  # input problems found (duplicates, jumps, ...)


def local(ts_ms: int, zone: tzinfo) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, zone).strftime("%Y-%m-%d %H:%M")


def hours(ms: int | None) -> str:
    return "—" if ms is None else f"{ms / HOUR_MS:+.1f} h"


def write_transitions_csv(path: Path, transitions: list[Transition], info: ReportInput) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["time_local", "ts_ms", "rule", "kind", "station", "sensor", "from", "to", "value", "id", "detail"]
        )
        for t in transitions:
            writer.writerow(
                [local(t.ts_ms, info.zone), t.ts_ms, t.rule, t.kind, t.station, t.sensor, t.previous, t.state,
                 t.value, t.transition_id, info.details.get(t.transition_id, "")]
            )  # fmt: skip


def _median(values: list[int]) -> int:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def summary_lines(transitions: list[Transition], card: Scorecard) -> list[str]:
    lines = []
    for k in (1, 2, 3):
        crossings = [c for c in card.crossings if c.episode.level == k]
        hits = [c for c in crossings if c.hit]
        false = [s for s in card.false_alarms if s.level == k]
        leads = [c.lead_ms for c in hits if c.lead_ms is not None]
        lead = f", lead median {hours(_median(leads))}, min {hours(min(leads))}" if leads else ""
        ahead = sum(1 for lead_ms in leads if lead_ms >= 6 * HOUR_MS)
        lines.append(
            f"BĐ{k}: {len(crossings)} crossings, {len(hits)} hits, {len(crossings) - len(hits)} misses{lead}; "
            f"{ahead} warned ≥ 6 h ahead; {len(false)} false alarms"
        )
    rate = card.false_per_station_month()
    lines.append(
        f"false alarms: {len(card.false_alarms)} in {card.station_months:.1f} station-months "
        f"({rate:.2f} per station-month)"
        if not math.isnan(rate)
        else "false alarms: no station with alarm levels and readings to count them against"
    )
    aimed = sum(1 for t in transitions if t.kind not in NOT_AIMED_KINDS)
    rest = len(transitions) - aimed
    lines.append(f"{len(transitions)} transitions: {aimed} flood warnings and clears, {rest} rain and data warnings")
    return lines


def write_markdown(
    path: Path, transitions: list[Transition], card: Scorecard, png: Path | None, info: ReportInput
) -> None:
    at = lambda ts: local(ts, info.zone)  # noqa: E731
    out = [f"# {info.title}", "", f"Times in {info.zone_name}.", ""]
    out += [f"- {line}" for line in summary_lines(transitions, card)]
    if png is not None:
        out += ["", f"![hydrograph]({png.name})"]
    out += ["", "## Lead time by rule kind", "",
            "A kind's lead at a crossing is that of its best rule active at the crossing.", "",
            "| kind | crossings warned | BĐ1 leads | BĐ2 leads | BĐ3 leads | median | ≥ 6 h | false alarms "
            "(per station-month) |",
            "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    by_kind = card.leads_by_kind()
    for kind in sorted(set(by_kind) | {s.kind for s in card.false_alarms}):
        leads = by_kind.get(kind, [])
        per_level = [", ".join(hours(lead) for k, lead in leads if k == level) or "—" for level in (1, 2, 3)]
        all_leads = [lead for _, lead in leads]
        ahead = sum(1 for lead in all_leads if lead >= 6 * HOUR_MS)
        median = hours(_median(all_leads)) if all_leads else "—"
        false = sum(1 for s in card.false_alarms if s.kind == kind)
        rate = f" ({false / card.station_months:.2f})" if card.station_months else ""
        out.append(f"| {kind} | {len(leads)} | {' | '.join(per_level)} | {median} | {ahead} | {false}{rate} |")
    out += ["", "## Alarm-level crossings", "",
            "| station | BĐ | crossing | until | peak | warned by (best lead) | lead | also active |",
            "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for c in card.crossings:
        e = c.episode
        best = c.best_rule or "MISSED"
        others = ", ".join(f"{rule} {hours(lead)}" for rule, lead in sorted(c.leads_ms.items()) if rule != c.best_rule)
        out.append(
            f"| {e.station} | {e.level} | {at(e.start_ms)} | {at(e.end_ms)} | {e.peak_m:.2f} m at {at(e.peak_ms)} "
            f"| {best} | {hours(c.lead_ms)} | {others or '—'} |"
        )
    out += [
        "",
        "## False alarms",
        "",
        "A warning at BĐk whose spell (raise to clear) saw no reading at or above BĐk.",
        "",
    ]
    out += [
        f"- {s.rule} ({s.kind}) BĐ{s.level} for {s.station}: {at(s.raised_ms)} → "
        f"{at(s.cleared_ms) if s.cleared_ms is not None else 'still on at the end'}"
        for s in card.false_alarms
    ] or ["none"]
    out += ["", "## Not scored", ""] + ([f"- {line}" for line in card.not_scored] or ["nothing"])
    out += ["", "## Input", ""] + ([f"- {line}" for line in info.notes] or ["no problems found"])
    out += ["", "## Every transition", "", "| time | rule | kind | sensor | from → to | value | says |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for t in transitions:
        value = "" if math.isnan(t.value) else f"{t.value:g}"
        says = info.details.get(t.transition_id, "")
        out.append(
            f"| {at(t.ts_ms)} | {t.rule} | {t.kind} | {t.sensor} | {t.previous} → {t.state} | {value} | {says} |"
        )
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def _dates(ts: list[int]) -> list[float]:
    """Matplotlib's date numbers (days) of UTC milliseconds."""
    return [float(mdates.date2num(datetime.fromtimestamp(t / 1000, UTC))) for t in ts]


def with_gaps(ts: list[int], vals: list[float], gap_ms: int = GAP_MS) -> tuple[list[int], list[float]]:
    """A NaN between two readings more than `gap_ms` apart, so the line breaks there."""
    out_ts: list[int] = []
    out_vals: list[float] = []
    for t, v in zip(ts, vals, strict=True):
        if out_ts and t - out_ts[-1] > gap_ms:
            out_ts.append(out_ts[-1] + 1)
            out_vals.append(math.nan)
        out_ts.append(t)
        out_vals.append(v)
    return out_ts, out_vals


def _alarm_lines(ax: Axes, versions: list[StationLevels], start_ms: int, end_ms: int, labels: bool = True) -> None:
    """Each version's BĐ lines over the part of the plot in which it was in effect."""
    for number, version in enumerate(versions):
        ends = versions[number + 1].effective_ms if number + 1 < len(versions) else end_ms
        span = (max(version.effective_ms, start_ms), min(ends, end_ms))
        if span[0] >= span[1]:
            continue
        for k, value in enumerate(version.thresholds_m, start=1):
            left, right = _dates(list(span))
            ax.hlines(value, left, right, color=SEVERITY_COLOURS[k], ls="--", lw=1)
            if labels:
                ax.annotate(f"BĐ{k} {value:.2f} m", (_dates([span[1]])[0], value), xytext=(4, 0),
                            textcoords="offset points", va="center", fontsize=8, color=SEVERITY_COLOURS[k])  # fmt: skip


def _raises(ax: Axes, transitions: list[Transition], station: str, start_ms: int, end_ms: int) -> None:
    shown = set()
    styles = {"level": "-", "forecast": ":", "rate_of_rise": "-.", "duration": "--"}
    for t in transitions:
        if t.station != station or t.kind in NOT_AIMED_KINDS or t.state <= t.previous:
            continue
        if not start_ms <= t.ts_ms <= end_ms:
            continue
        key = (t.kind, t.state)
        label = f"{t.kind} raised to {t.state}" if key not in shown else None
        shown.add(key)
        ax.axvline(_dates([t.ts_ms])[0], color=SEVERITY_COLOURS[t.state], lw=1.0, alpha=0.8,
                   ls=styles.get(t.kind, "-"), label=label)  # fmt: skip


def hydrograph(
    path: Path,
    levels: AlarmLevelTable,
    series: Series,
    rivers: dict[str, str],
    rain_sensors: list[str],
    transitions: list[Transition],
    card: Scorecard,
    info: ReportInput,
) -> None:
    """One panel per river sensor (`rivers`: sensor -> station it warns or stands at), one per
    rain sensor, then a zoomed panel around each flood."""
    rivers = {sensor: station for sensor, station in rivers.items() if sensor in series}
    rain_sensors = [sensor for sensor in rain_sensors if sensor in series]
    zooms = [c.episode for c in card.crossings if c.episode.level == 1][:MAX_ZOOMS]
    main = len(rivers) + len(rain_sensors)
    if main == 0:
        raise ValueError("nothing to plot: no level or rain sensor has data in the range")
    zoom_rows = (len(zooms) + 1) // 2
    fig = plt.figure(figsize=(13, 3.4 * (main + zoom_rows) + 0.8))
    grid = fig.add_gridspec(main + zoom_rows, 2)
    first_ax: Axes | None = None
    formatter = mdates.DateFormatter("%d %b\n%H:%M", tz=info.zone)
    for row, (sensor, station) in enumerate(rivers.items()):
        ax = fig.add_subplot(grid[row, :], sharex=first_ax)
        first_ax = first_ax or ax
        ts, vals = series[sensor]
        versions = levels.versions(station) if station in levels.station_ids and sensor.startswith(station) else []
        name = f"{versions[0].display_name} ({versions[0].river})" if versions else sensor
        ax.plot(_dates(with_gaps(ts, vals)[0]), with_gaps(ts, vals)[1], color="#1f4e9c", lw=1.4, marker=".", ms=3,
                label=sensor)  # fmt: skip
        _alarm_lines(ax, versions, ts[0], ts[-1])
        if versions:
            _raises(ax, transitions, station, ts[0], ts[-1])
        ax.set_ylabel("water level (m)")
        ax.set_title(f"{name}: level, alarm levels and warnings aimed at it" if versions else f"{sensor}: level",
                     fontsize=10, loc="left")  # fmt: skip
        ax.legend(loc="upper left", fontsize=7, ncol=3)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_formatter(formatter)
    for row, sensor in enumerate(rain_sensors, start=len(rivers)):
        ax = fig.add_subplot(grid[row, :], sharex=first_ax)
        first_ax = first_ax or ax
        ts, vals = series[sensor]
        ax.bar(_dates(ts), vals, width=1 / 24, color="#4a90d9", label="hourly rain (mm)")
        ax.set_ylabel("rain (mm/h)")
        ax.set_title(f"{sensor}: hourly rain", fontsize=10, loc="left")
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_formatter(formatter)
    for number, episode in enumerate(zooms):
        ax = fig.add_subplot(grid[main + number // 2, number % 2])
        start, end = episode.start_ms - 24 * HOUR_MS, episode.start_ms + 36 * HOUR_MS
        gauge = next((s for s, st in rivers.items() if st == episode.station and s.startswith(episode.station)), None)
        if gauge is None:
            continue
        ts, vals = series[gauge]
        keep = [(t, v) for t, v in zip(ts, vals, strict=True) if start <= t <= end]
        if keep:
            zts, zvals = with_gaps([t for t, _ in keep], [v for _, v in keep])
            ax.plot(_dates(zts), zvals, color="#1f4e9c", lw=1.4, marker=".", ms=4)
        _alarm_lines(ax, levels.versions(episode.station), start, end, labels=False)
        _raises(ax, transitions, episode.station, start, end)
        ax.set_xlim(_dates([start])[0], _dates([end])[0])
        ax.set_title(f"{episode.station}: BĐ1 crossed {local(episode.start_ms, info.zone)}", fontsize=9, loc="left")
        ax.xaxis.set_major_formatter(formatter)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=6)
    fig.supxlabel(f"time ({info.zone_name})", fontsize=9)
    fig.suptitle("\n".join(textwrap.wrap(info.title, 120)), fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=100)
    plt.close(fig)

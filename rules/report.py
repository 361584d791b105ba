"""The backtest's outputs: a Markdown report, a CSV of transitions and a hydrograph PNG."""

import csv
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a server; set before pyplot is imported
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from rules.backtest import HOUR_MS, Score, is_flood_warning
from rules.inventory import quantity_for
from rules.levels import AlarmLevelTable, StationLevels
from rules.rulebook import LevelKind, RainfallKind, RuleBook
from rules.runner import Transition
from rules.series import Series

LOCAL = timezone(timedelta(hours=7), "ICT")
SEVERITY_COLOURS = {1: "#f2c500", 2: "#f28500", 3: "#d00000"}


def local(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, LOCAL).strftime("%Y-%m-%d %H:%M")


def hours(ms: int | None) -> str:
    return "—" if ms is None else f"{ms / HOUR_MS:+.1f} h"


def write_transitions_csv(path: Path, transitions: list[Transition]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time_local", "ts_ms", "rule", "kind", "station", "sensor", "from", "to", "value", "id"])
        for t in transitions:
            writer.writerow(
                [
                    local(t.ts_ms),
                    t.ts_ms,
                    t.rule,
                    t.kind,
                    t.station,
                    t.sensor,
                    t.previous,
                    t.state,
                    t.value,
                    t.transition_id,
                ]
            )


def summary_lines(book: RuleBook, transitions: list[Transition], result: Score) -> list[str]:
    lines = []
    for k in (1, 2, 3):
        episodes = [e for e in result.episodes if e.level == k]
        hits = [e for e in episodes if e.hit]
        false = [t for t, level in result.false_alarms if level == k]
        leads = [e.start_ms - e.first_warning_ms for e in hits if e.first_warning_ms is not None]
        lead = f", median lead {hours(sorted(leads)[len(leads) // 2])}" if leads else ""
        lines.append(
            f"BĐ{k}: {len(episodes)} official crossings, {len(hits)} hits, {len(episodes) - len(hits)} misses, "
            f"{len(false)} false alarms{lead}"
        )
    flood = sum(1 for t in transitions if is_flood_warning(book, t))
    rest = len(transitions) - flood
    lines.append(f"{len(transitions)} transitions: {flood} flood warnings and clears, {rest} rain and data warnings")
    return lines


def write_markdown(
    path: Path, title: str, book: RuleBook, transitions: list[Transition], result: Score, png: Path | None
) -> None:
    out = [f"# {title}", ""]
    out += [f"- {line}" for line in summary_lines(book, transitions, result)]
    if png is not None:
        out += ["", f"![hydrograph]({png.name})"]
    out += [
        "",
        "## Official alarm-level crossings",
        "",
        "| station | BĐ | from | to | peak | first warning | lead |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in sorted(result.episodes, key=lambda e: (e.station, e.start_ms, e.level)):
        first = local(e.first_warning_ms) if e.first_warning_ms is not None else "MISSED"
        lead = hours(e.start_ms - e.first_warning_ms) if e.first_warning_ms is not None else "—"
        peak = f"{e.peak_m:.2f} m at {local(e.peak_ms)}"
        out.append(f"| {e.station} | {e.level} | {local(e.start_ms)} | {local(e.end_ms)} | {peak} | {first} | {lead} |")
    out += [
        "",
        "## Lead time before each peak",
        "",
        "| station | highest BĐ | peak | lead before peak |",
        "|---|---|---|---|",
    ]
    for episode, peak_lead in result.peaks:
        peak = f"{episode.peak_m:.2f} m at {local(episode.peak_ms)}"
        out.append(f"| {episode.station} | {episode.level} | {peak} | {hours(peak_lead)} |")
    out += ["", "## False alarms", ""]
    out += [
        f"- {local(t.ts_ms)} {t.rule}: {t.previous} → {t.state} (no BĐ{k} crossing within the lead window)"
        for t, k in result.false_alarms
    ] or ["none"]
    out += [
        "",
        "## Every transition",
        "",
        "| time (UTC+7) | rule | kind | sensor | from → to | value |",
        "|---|---|---|---|---|---|",
    ]
    for t in transitions:
        value = "" if math.isnan(t.value) else f"{t.value:g}"
        out.append(f"| {local(t.ts_ms)} | {t.rule} | {t.kind} | {t.sensor} | {t.previous} → {t.state} | {value} |")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def _dates(ts: list[int]) -> list[datetime]:
    return [datetime.fromtimestamp(t / 1000, UTC) for t in ts]


def _alarm_lines(ax: Axes, versions: list[StationLevels], start_ms: int, end_ms: int) -> None:
    """Each version's BĐ lines over the part of the plot in which it was in effect."""
    for number, version in enumerate(versions):
        ends = versions[number + 1].effective_ms if number + 1 < len(versions) else end_ms
        span = (max(version.effective_ms, start_ms), min(ends, end_ms))
        if span[0] >= span[1]:
            continue
        for k, value in enumerate(version.thresholds_m, start=1):
            ax.hlines(value, *mdates.date2num(_dates(list(span))), color=SEVERITY_COLOURS[k], ls="--", lw=1)
            ax.annotate(f"BĐ{k} {value:.2f} m", (_dates([span[1]])[0], value), xytext=(4, 0),
                        textcoords="offset points", va="center", fontsize=8, color=SEVERITY_COLOURS[k])  # fmt: skip


def hydrograph(
    path: Path, book: RuleBook, levels: AlarmLevelTable, series: Series, transitions: list[Transition], title: str
) -> None:
    """One panel per level rule's station (level, BĐ lines, warnings), one per rain sensor."""
    rivers: dict[str, tuple[str, list[StationLevels]]] = {}  # level sensor -> (station, alarm-level versions)
    for rule in book.rules:
        if quantity_for(rule) == "water_level":
            for sensor in rule.sensors():
                if sensor in series and (sensor not in rivers or isinstance(rule, LevelKind)):
                    versions = levels.versions(rule.levels) if isinstance(rule, LevelKind) else []
                    rivers[sensor] = (rule.station, versions)
    rain_sensors = sorted({r.sensor for r in book.rules if isinstance(r, RainfallKind) and r.sensor in series})
    panels = len(rivers) + len(rain_sensors)
    if panels == 0:
        raise ValueError("nothing to plot: no level or rain sensor of the rule book has data in the range")
    fig, axes = plt.subplots(panels, 1, figsize=(13, 3.4 * panels), sharex=True, squeeze=False)
    for ax, (sensor, (station, versions)) in zip(axes[: len(rivers), 0], rivers.items(), strict=True):
        ts, vals = series[sensor]
        name = f"{versions[0].display_name} ({versions[0].river})" if versions else station
        ax.plot(_dates(ts), vals, color="#1f4e9c", lw=1.4, marker=".", ms=3, label=f"{sensor}")
        _alarm_lines(ax, versions, ts[0], ts[-1])
        shown = set()
        for t in transitions:
            if t.station != station or not is_flood_warning(book, t) or t.state <= t.previous:
                continue
            label = f"warning raised to {t.state}" if t.state not in shown else None
            shown.add(t.state)
            ax.axvline(_dates([t.ts_ms])[0], color=SEVERITY_COLOURS[t.state], lw=0.9, alpha=0.8, label=label)
        ax.set_ylabel("water level (m)")
        what = "level, alarm levels and warnings raised" if versions else "level and warnings raised (no alarm levels)"
        ax.set_title(f"{name}: {what}", fontsize=10)
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
    for ax, sensor in zip(axes[len(rivers) :, 0], rain_sensors, strict=True):
        ts, vals = series[sensor]
        ax.bar(_dates(ts), vals, width=1 / 24, color="#4a90d9", label="hourly rain (mm)")
        window = [(t, v) for t, v in zip(ts, vals, strict=True) if not math.isnan(v)]
        sums, j, total = [], 0, 0.0
        for now, v in window:
            total += v
            while window[j][0] <= now - 24 * HOUR_MS:
                total -= window[j][1]
                j += 1
            sums.append(total)
        twin = ax.twinx()
        twin.plot(_dates([now for now, _ in window]), sums, color="#222", lw=1.2, label="24 h sum (mm)")
        for over, name in ((50, "heavy > 50"), (100, "very heavy > 100")):
            twin.axhline(over, color="#888", ls=":", lw=1)
            twin.annotate(name, (0.0, over), xycoords=("axes fraction", "data"), xytext=(4, 2),
                          textcoords="offset points", fontsize=8, color="#555")  # fmt: skip
        twin.set_ylabel("24 h sum (mm)")
        ax.set_ylabel("rain (mm/h)")
        ax.set_title(f"{sensor}: hourly rain and 24 h sum", fontsize=10)
        ax.legend(loc="upper left", fontsize=8)
        twin.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].xaxis.set_major_formatter(mdates.DateFormatter("%d %b\n%H:%M", tz=LOCAL))
    axes[-1, 0].set_xlabel("time (UTC+07:00)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

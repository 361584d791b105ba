"""PNG previews of the dashboards, drawn with matplotlib from the panels' own query results.

No Grafana runs here, so this draws what an operator would see, from the same queries
Grafana would send (grafana.panel_run): panels where their gridPos puts them (24 columns),
time series with BĐ lines (the hydrograph's `configFromData` query) and warning markers,
the station map coloured by alarm level, the joined stations table, stats and state timelines.
It is a preview, not a copy of Grafana's rendering: no basemap tiles, fonts and colours
approximate.
"""

import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib.dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from centre.influx import InfluxV1
from grafana.macros import Expansion, expand, single
from grafana.panel_run import TargetResult, resolve_variables, rows, run_panel

ALARM_COLOURS = {0: "#56a64b", 1: "#f2cc0c", 2: "#ff9830", 3: "#e02f44"}
COLOURS = {"green": "#56a64b", "yellow": "#f2cc0c", "orange": "#ff9830", "red": "#e02f44"}
ROW_PX = 30
COL_PX = 60


def _time(ms: int, tz: Any) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz)


def _series_label(row: dict[str, Any], several_measurements: bool) -> str:
    """Grafana's alias "$tag_station $measurement": the tags, and the measurement where a query reads several."""
    tags = [str(row[k]) for k in ("station", "gateway") if k in row]
    return " ".join(tags + ([row["_measurement"]] if several_measurements else []))


def _value_key(row: dict[str, Any]) -> str:
    skip = {"time", "_measurement", "station", "gateway", "sensor", "display_name", "river"}
    return next(k for k in row if k not in skip)


def _draw_timeseries(ax: Axes, panel: dict[str, Any], results: dict[str, TargetResult], tz: Any) -> None:
    bars = panel["fieldConfig"]["defaults"].get("custom", {}).get("drawStyle") == "bars"
    config_ref = next(
        (t["options"]["configRefId"] for t in panel.get("transformations", []) if t["id"] == "configFromData"), None
    )
    for ref, result in results.items():
        if ref == config_ref:
            continue
        grouped: dict[str, list[tuple[datetime, float]]] = {}
        for row in rows(result.series):
            key = _value_key(row)
            if row[key] is not None:
                label = _series_label(row, len({s["name"] for s in result.series}) > 1) or key
                grouped.setdefault(label, []).append((_time(row["time"], tz), row[key]))
        for index, (label, points) in enumerate(grouped.items()):
            xs, ys = zip(*points, strict=True)
            if bars:  # side by side within each bucket, as Grafana's bar groups
                days = [mdates.date2num(x) for x in xs]
                step = min((b - a for a, b in itertools.pairwise(days) if b > a), default=1.0)
                width = step / (len(grouped) + 1)
                ax.bar([d + (index + 0.5) * width for d in days], ys, width=width, label=label)
                ax.xaxis_date(tz)
            else:
                ax.plot(xs, ys, label=label, linewidth=1.4, marker="o" if len(xs) < 3 else None)
    if config_ref is not None:
        for row in rows(results[config_ref].series):
            for mapping in next(t for t in panel["transformations"] if t["id"] == "configFromData")["options"][
                "mappings"
            ]:
                colour = COLOURS[mapping["handlerArguments"]["threshold"]["color"]]
                value = row[mapping["fieldName"]]
                ax.axhline(value, color=colour, linestyle="--", linewidth=1)
                ax.annotate(
                    mapping["fieldName"],
                    (1.0, value),
                    xycoords=("axes fraction", "data"),
                    color=colour,
                    fontsize=7,
                    ha="right",
                    va="bottom",
                )
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d/%m\n%H:%M", tz=tz))
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def _draw_annotations(ax: Axes, annotations: list[dict[str, Any]], tz: Any) -> None:
    for row in annotations:
        colour = ALARM_COLOURS[int(row["level"])]
        ax.axvline(float(mdates.date2num(_time(row["time"], tz))), color=colour, linewidth=0.8, alpha=0.8)
        ax.annotate(
            f"{'↑' if row['level'] > row['previous_level'] else '↓'}{row['level']}",
            (_time(row["time"], tz), 1.0),
            xycoords=("data", "axes fraction"),
            color=colour,
            fontsize=6,
            ha="center",
            va="bottom",
        )


def _joined(results: dict[str, TargetResult], by: str = "station") -> list[dict[str, Any]]:
    """Grafana's joinByField (outer): one row per value of `by`, each target's columns."""
    joined: dict[str, dict[str, Any]] = {}
    for ref, result in results.items():
        for row in rows(result.series):
            entry = joined.setdefault(row[by], {by: row[by]})
            entry.update({k if k != "time" else f"time {ref}": v for k, v in row.items() if k != "_measurement"})
    return list(joined.values())


def _draw_joined_table(
    ax: Axes, results: dict[str, TargetResult], by: str, tz: Any, organize: dict[str, Any] | None
) -> None:
    """The joined frames, organised: Grafana names each frame's time "Time 1", "Time 2", ..."""
    numbered = {f"time {ref}": f"Time {i}" for i, ref in enumerate(results, start=1)}
    exclude = (organize or {}).get("excludeByName", {})
    rename = (organize or {}).get("renameByName", {})
    found = [
        {numbered.get(k, k): v for k, v in row.items() if not exclude.get(numbered.get(k, k))}
        for row in _joined(results, by)
    ]
    found = [{rename.get(k, k): v for k, v in row.items()} for row in found]
    header = list(dict.fromkeys(k for row in found for k in row))
    times = {rename.get(t, t) for t in numbered.values()}
    body = [
        [_time(row[k], tz).strftime("%d/%m %H:%M") if k in times and row.get(k) else row.get(k) for k in header]
        for row in sorted(found, key=lambda r: str(r[by]))
    ]
    _table(ax, header, body)


def _draw_map(ax: Axes, results: dict[str, TargetResult]) -> None:
    for row in _joined(results):
        if "lat" not in row:
            continue
        level = int(row.get("alarm_level") or 0)
        ax.scatter(row["lon"], row["lat"], s=140, color=ALARM_COLOURS[level], edgecolor="black", zorder=3)
        ax.annotate(
            row["display_name"],
            (row["lon"], row["lat"]),
            xytext=(0, 9),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    ax.set_xlabel("longitude °E", fontsize=7)
    ax.set_ylabel("latitude °N", fontsize=7)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.set_aspect("equal", adjustable="datalim")


def _fmt(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.2f}"
    return "" if value is None else str(value)


def _alarm_text(level: Any) -> str:
    return ("below BĐ1", "BĐ1", "BĐ2", "BĐ3")[int(level)] if level is not None else ""


def _draw_stations_table(ax: Axes, results: dict[str, TargetResult], to_ms: int) -> None:
    header = ["Station", "River", "Level (m)", "BĐ1", "BĐ2", "BĐ3", "Trend 3 h", "Alarm", "Last reading"]
    body = []
    for row in sorted(_joined(results), key=lambda r: r.get("display_name", "")):
        age_h = (to_ms - row["time B"]) / 3_600_000 if "time B" in row else None
        body.append(
            [
                row.get("display_name"),
                row.get("river"),
                row.get("level_m"),
                row.get("BĐ1"),
                row.get("BĐ2"),
                row.get("BĐ3"),
                row.get("trend_3h_m"),
                _alarm_text(row.get("alarm_level")),
                f"{age_h:.1f} h ago" if age_h is not None else "",
            ]
        )
    _table(ax, header, body)


def _table(ax: Axes, header: list[str], body: list[list[Any]]) -> None:
    ax.axis("off")
    if not body:
        ax.text(0.5, 0.5, "No data", ha="center")
        return
    table = ax.table(cellText=[[_fmt(c) for c in r] for r in body], colLabels=header, loc="upper center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 1.4)


def _draw_stat(ax: Axes, results: dict[str, TargetResult]) -> None:
    ax.axis("off")
    found = [r for result in results.values() for r in rows(result.series)]
    for i, row in enumerate(found):
        key = _value_key(row)
        ax.text((i + 0.5) / max(len(found), 1), 0.55, f"{row[key]:.0f} mm", ha="center", fontsize=16, weight="bold")
        ax.text((i + 0.5) / max(len(found), 1), 0.3, row.get("station", ""), ha="center", fontsize=8)


def _draw_state_timeline(ax: Axes, results: dict[str, TargetResult], tz: Any) -> None:
    for lane, (_ref, result) in enumerate(results.items()):
        found = rows(result.series)
        if not found:
            continue
        key = _value_key(found[0])
        for row in found:
            start = mdates.date2num(_time(row["time"], tz))
            width = 1 / 24
            ax.barh(lane, width, left=start, color="#56a64b" if row[key] else "#e02f44", height=0.8)
        ax.text(ax.get_xlim()[0], lane, f" {key}", va="center", fontsize=7)
    ax.set_yticks([])
    ax.xaxis_date(tz)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d/%m", tz=tz))
    ax.tick_params(labelsize=7)


def _draw_groupby_table(ax: Axes, results: dict[str, TargetResult], to_ms: int, tz: Any) -> None:
    newest: dict[str, int] = {}
    for result in results.values():
        for row in rows(result.series):
            newest[row["gateway"]] = max(newest.get(row["gateway"], 0), row["time"])
    body = [
        [g, _time(t, tz).strftime("%Y-%m-%d %H:%M"), f"{(to_ms - t) / 60_000:.0f} min ago"]
        for g, t in sorted(newest.items())
    ]
    _table(ax, ["Gateway", "Last reading", "Age"], body)


def render_dashboard(
    influx: InfluxV1, model: dict[str, Any], context: Expansion, out: Path, chosen: dict[str, str] | None = None
) -> Path:
    """One PNG of the whole dashboard; a panel repeated by $station is drawn once per station chosen."""
    tz = datetime.fromisoformat("2020-01-01T00:00:00+07:00").tzinfo
    full = resolve_variables(influx, model, context, {k: single(v) for k, v in (chosen or {}).items()})
    placed: list[tuple[dict[str, Any], Expansion, int]] = []
    y_shift = 0
    for panel in model["panels"]:
        if panel.get("repeat"):
            for value in full.variables[panel["repeat"]].values:
                placed.append((panel, full.with_variables(**{panel["repeat"]: single(value)}), y_shift))
                y_shift += panel["gridPos"]["h"]
            y_shift -= panel["gridPos"]["h"]
        else:
            placed.append((panel, full, y_shift))
    height = max(p["gridPos"]["y"] + p["gridPos"]["h"] + s for p, _, s in placed)
    fig = Figure(figsize=(24 * COL_PX / 100, height * ROW_PX / 100 + 0.6), dpi=100)
    fig.suptitle(
        f"{model['title']}   {_time(context.from_ms, tz):%Y-%m-%d %H:%M} → {_time(context.to_ms, tz):%Y-%m-%d %H:%M}"
        " (UTC+07:00)",
        fontsize=11,
        x=0.01,
        ha="left",
    )
    for panel, here, shift in placed:
        grid = panel["gridPos"]
        top = 1 - (grid["y"] + shift) / height * 0.92 - 0.07
        ax = fig.add_axes(
            (
                grid["x"] / 24 + 0.035,
                top - grid["h"] / height * 0.92 + 0.05,
                grid["w"] / 24 - 0.05,
                grid["h"] / height * 0.92 - 0.08,
            )
        )
        ax.set_title(expand(panel["title"], here), fontsize=9, loc="left")
        results = run_panel(influx, panel, here)
        kind = panel["type"]
        if kind == "timeseries":
            _draw_timeseries(ax, panel, results, tz)
            shown = here.for_panel(1000, None, panel.get("timeFrom"))
            ax.set_xlim(
                float(mdates.date2num(_time(shown.from_ms, tz))), float(mdates.date2num(_time(shown.to_ms, tz)))
            )
            if not any(r.series for r in results.values()):
                ax.text(0.5, 0.5, "No data", transform=ax.transAxes, ha="center", color="grey")
            if panel.get("repeat") and model.get("annotations", {}).get("list"):
                query = model["annotations"]["list"][-1]["target"]["query"]
                _draw_annotations(ax, rows(influx.query(expand(query, here))), tz)
        elif kind == "geomap":
            _draw_map(ax, results)
        elif kind == "table" and any(t["id"] == "groupBy" for t in panel.get("transformations", [])):
            _draw_groupby_table(ax, results, context.to_ms, tz)
        elif kind == "table":
            by = next(t["options"]["byField"] for t in panel["transformations"] if t["id"] == "joinByField")
            if by == "station":
                _draw_stations_table(ax, results, context.to_ms)
            else:
                organize = next((t["options"] for t in panel["transformations"] if t["id"] == "organize"), None)
                _draw_joined_table(ax, results, by, tz, organize)
        elif kind == "stat":
            _draw_stat(ax, results)
        elif kind == "state-timeline":
            _draw_state_timeline(ax, results, tz)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out

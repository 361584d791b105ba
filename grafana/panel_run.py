"""Run a dashboard's queries against InfluxDB the way Grafana runs them.

Variables first, in the dashboard's order (a variable's query may use the ones before
it and the range: `$river` in `$station`'s, `${__to}` in `$rp`'s), each set to all its
values (Grafana's "All") unless given; then each panel's targets, expanded by
`grafana.macros`. Used by the tests, the PNG previews and the benchmark.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from centre.influx import InfluxV1
from grafana.macros import Expansion, Variable, expand

Series = list[dict[str, Any]]


@dataclass(frozen=True)
class TargetResult:
    ref_id: str
    query: str  # as sent to InfluxDB
    series: Series


def variable_values(influx: InfluxV1, query: str) -> list[str]:
    """A query variable's options: the last column of every row (SHOW TAG VALUES: the value)."""
    return [str(row[-1]) for s in influx.query(query) for row in s.get("values", [])]


def resolve_variables(
    influx: InfluxV1, model: dict[str, Any], context: Expansion, chosen: Mapping[str, Variable] | None = None
) -> Expansion:
    chosen = chosen or {}
    for variable in model.get("templating", {}).get("list", []):
        name = variable["name"]
        if name in chosen:
            context = context.with_variables(**{name: chosen[name]})
            continue
        values = variable_values(influx, expand(variable["query"], context))
        if not values:
            raise LookupError(f"variable ${name}: its query returned nothing ({expand(variable['query'], context)})")
        multi = bool(variable.get("multi") or variable.get("includeAll"))
        context = context.with_variables(**{name: Variable(tuple(values), multi=multi)})
    return context


def panel(model: dict[str, Any], title: str) -> dict[str, Any]:
    for candidate in model["panels"]:
        if candidate["title"] == title:
            return candidate
    raise KeyError(f"no panel titled {title!r} in {model['uid']}; panels: {[p['title'] for p in model['panels']]}")


def run_panel(influx: InfluxV1, panel_model: dict[str, Any], context: Expansion) -> dict[str, TargetResult]:
    here = context.for_panel(
        int(panel_model.get("maxDataPoints", 1000)), panel_model.get("interval"), panel_model.get("timeFrom")
    )
    out = {}
    for target in panel_model["targets"]:
        text = expand(target["query"], here)
        out[target["refId"]] = TargetResult(target["refId"], text, influx.query(text))
    return out


def rows(series: Series) -> list[dict[str, Any]]:
    """Every row of every series as a dict of its columns and its series' tags."""
    return [
        {**s.get("tags", {}), "_measurement": s["name"], **dict(zip(s["columns"], row, strict=True))}
        for s in series
        for row in s["values"]
    ]

"""Early rules for Lệ Thủy beside the forecast: thresholds chosen on the calibration years only.

    .venv/bin/python -m rules.forecast.early_selection      # a few minutes, one core

The candidates are rules of the existing kinds, every one aimed at Lệ Thủy (`station:
le_thuy`), so the honest scoring credits and blames it:

- `own`: Lệ Thủy's own level held above BĐk − d (`duration`, severity k, held `clear_after`);
- `upstream`: Kiến Giang's level above a threshold (`duration`, severity k, held);
- `rise`: Kiến Giang rising (`rate_of_rise` over 3 h, severity k, on while it rises);
- `rain`: the catchment's rain (`escalation` on two `rainfall` rules, which are not aimed
  themselves): the Kiến Giang gauge's sum over 12 or 24 h in category 1 or 2 while the
  Lệ Thủy gauge's sum over the same window is above its own threshold warns BĐ2 or BĐ3
  (severity = category + 1). No existing kind warns BĐ1 from rain, and a rain sum
  cannot look further back than 24 h.

Two splits, as `rules.forecast.selection`: thresholds judged on 2010+2012 and scored on
2020, and judged on 2020 and scored on 2010 and 2012. The forecast rule of each split is
the one `rules.forecast.selection` chose (options and model files in rules/examples);
on the judged years it is judged as there, with a model fitted on the other judged year
(2010 <-> 2012; 2020 on itself). On the judged years, from the level rule (and the
forecast, or not), rules are added one at a time, greedily, each time the candidate that
adds the most crossings warned 6-72 h ahead (any BĐk), then BĐ2/BĐ3 ones, then the fewest
false alarms, while the false alarms of the whole set stay within today's rules' over
those years (`quang_binh.yaml`: 3 in 2010, 1 in 2012, 2 in 2020). Scores are additive:
a crossing's lead is the best of the rules active at it, false alarms are per spell of
each rule (`rules.scoring`). Only then is the chosen set scored on the held-out years.
Last, for the record and NOT a result, the same greedy run looking at the held-out year
itself: the ceiling of these kinds on that year.
"""

import itertools
from dataclasses import dataclass

import yaml

from rules.backtest import replay
from rules.forecast.calibrate import calibrate
from rules.forecast.model import ForecastModel, load_forecast_model
from rules.forecast.selection import (
    GAUGE,
    HOUR_MS,
    LEVELS,
    NETWORK,
    STATION,
    TODAY_FALSE_ALARMS,
    Outcome,
    outcome,
    record,
    year_ms,
)  # fmt: skip
from rules.levels import PACKAGE_DIR
from rules.rulebook import RuleBook
from rules.runner import Transition
from rules.scoring import score
from rules.series import Series

EXAMPLES = PACKAGE_DIR / "examples"
BD_M = (1.20, 2.20, 2.70)  # Lệ Thủy's BĐ1..3, the backtest levels
OWN_BELOW_M = (0.1, 0.2, 0.3, 0.4, 0.6)
UPSTREAM_M = (7.5, 8.0, 8.5, 9.0, 9.5, 10.0, 10.5, 11.0)
HOLDS = ("0s", "6h", "12h", "24h")
RISE_CM_PER_H = (20.0, 40.0, 60.0)
RAIN_WINDOWS = ("12h", "24h")
RAIN_KG_MM = ((50.0, 100.0), (75.0, 125.0), (100.0, 150.0), (50.0, 150.0), (75.0, 200.0), (100.0, 200.0))
RAIN_LT_MM = (0.0, 25.0, 50.0)


@dataclass(frozen=True)
class Split:
    name: str
    judged: tuple[int, ...]
    scored: tuple[int, ...]
    model_file: str  # the forecast of rules/examples for the scored years
    options: tuple[float, int, int]  # margin_sigmas, confirm_h, hold_h (rules.forecast.selection's choice)
    folds: tuple[tuple[int, int], ...]  # (fit on, judge on) for the forecast on the judged years


SPLITS = (
    Split("2010+2012 -> 2020", (2010, 2012), (2020,), "forecast_le_thuy_2010_2012.yaml", (0.5, 1, 24),
          ((2010, 2012), (2012, 2010))),
    Split("2020 -> 2010, 2012", (2020,), (2010, 2012), "forecast_le_thuy_2020.yaml", (0.0, 1, 48), ((2020, 2020),)),
)  # fmt: skip


def candidates() -> dict[str, list[dict[str, object]]]:
    """Candidate name -> the rules it ships (an escalation ships with its two rainfall rules)."""
    out: dict[str, list[dict[str, object]]] = {}
    aimed = {"station": STATION}
    for k, below, hold in itertools.product((1, 2, 3), OWN_BELOW_M, HOLDS):
        above = round(BD_M[k - 1] - below, 2)
        out[f"own_bd{k}_{above}m_{hold}"] = [
            {"kind": "duration", "sensor": GAUGE, "above_m": above, "clear_below_m": round(above - 0.05, 2),
             "fire_after": "0s", "clear_after": hold, "severity": k, **aimed}
        ]  # fmt: skip
    for k, above, hold in itertools.product((1, 2, 3), UPSTREAM_M, HOLDS):
        out[f"upstream_bd{k}_{above}m_{hold}"] = [
            {"kind": "duration", "sensor": "kien_giang.level", "above_m": above, "clear_below_m": above - 0.5,
             "fire_after": "0s", "clear_after": hold, "severity": k, **aimed}
        ]  # fmt: skip
    for k, rise in itertools.product((1, 2, 3), RISE_CM_PER_H):
        out[f"rise_bd{k}_{rise:g}cm"] = [
            {"kind": "rate_of_rise", "sensor": "kien_giang.level", "window": "3h", "rise_cm_per_h": rise,
             "clear_cm_per_h": 0.0, "min_span": "1h", "severity": k, **aimed}
        ]  # fmt: skip
    for window, (bd2, bd3), lt in itertools.product(RAIN_WINDOWS, RAIN_KG_MM, RAIN_LT_MM):
        name = f"rain_{window}_{bd2:g}_{bd3:g}mm_lt{lt:g}mm"
        out[name] = [
            {"name": f"{name}_kg", "kind": "rainfall", "sensor": "kien_giang.rain", "window": window,
             "categories": [{"name": "bd2", "over_mm": bd2}, {"name": "bd3", "over_mm": bd3}], **aimed},
            {"name": f"{name}_lt", "kind": "rainfall", "sensor": "le_thuy.rain", "window": window,
             "categories": [{"name": "wet", "over_mm": lt}], **aimed},
            {"kind": "escalation", "base": f"{name}_kg", "min_base": 1, "raise_by": 1,
             "when": [{"rule": f"{name}_lt", "at_least": 1}], **aimed},
        ]  # fmt: skip
    out = {name.replace(".", "p"): rules for name, rules in out.items()}  # rule names take no dots
    for name, rules in out.items():
        rules[-1].setdefault("name", name)
    return out


def judge_candidates(series: Series, year: int, pool: dict[str, list[dict[str, object]]]) -> dict[str, Outcome]:
    """Every candidate scored alone on one year (its aimed rule's transitions only)."""
    book = RuleBook.model_validate({"rules": [r for rules in pool.values() for r in rules]})
    start, end = year_ms(year), year_ms(year + 1)
    by_rule: dict[str, list[Transition]] = {}
    for t in replay(book, LEVELS, series, start, end, network=NETWORK):
        by_rule.setdefault(t.rule, []).append(t)
    return {name: _outcome(series, by_rule.get(name, []), start, end) for name in pool}


def _outcome(series: Series, transitions: list[Transition], start: int, end: int) -> Outcome:
    card = score(LEVELS, {GAUGE: series[GAUGE]}, {STATION: GAUGE}, transitions, start, end)
    leads: dict[int, list[float | None]] = {1: [], 2: [], 3: []}
    for crossing in card.crossings:
        lead = crossing.lead_ms
        leads[crossing.episode.level].append(None if lead is None else lead / HOUR_MS)
    return Outcome(leads, len(card.false_alarms))


def combined(outcomes: list[Outcome]) -> Outcome:
    """Rules together: each crossing's best lead, the false alarms added."""
    leads: dict[int, list[float | None]] = {}
    for k in (1, 2, 3):
        per_crossing = zip(*(o.leads_h[k] for o in outcomes), strict=True)
        leads[k] = [max((x for x in xs if x is not None), default=None) for xs in per_crossing]
    return Outcome(leads, sum(o.false_alarms for o in outcomes))


def _key(results: dict[int, Outcome]) -> tuple[int, int, int]:
    return (sum(o.ahead() for o in results.values()), sum(o.ahead((2, 3)) for o in results.values()),
            -sum(o.false_alarms for o in results.values()))  # fmt: skip


def greedy(base: dict[int, list[Outcome]], judged: dict[int, dict[str, Outcome]], budget: int) -> list[str]:
    """The candidates added one at a time while each adds a crossing warned 6-72 h ahead within the budget."""
    chosen: list[str] = []
    current = {y: combined(os) for y, os in base.items()}
    if sum(o.false_alarms for o in current.values()) > budget:
        return []
    while True:
        now, best, best_key = _key(current), None, None
        for name in judged[next(iter(judged))]:
            if name in chosen:
                continue
            key = _key({y: combined([current[y], judged[y][name]]) for y in current})
            if -key[2] <= budget and key[:2] > now[:2] and (best_key is None or key > best_key):
                best, best_key = name, key
        if best is None:
            return chosen
        chosen.append(best)
        current = {y: combined([current[y], judged[y][best]]) for y in current}


def describe(year: int, o: Outcome) -> str:
    leads = "; ".join(
        f"BĐ{k} " + ", ".join("miss" if x is None else f"{x:+.0f} h" for x in o.leads_h[k]) for k in (1, 2, 3)
    )
    total = sum(len(o.leads_h[k]) for k in (1, 2, 3))
    return (f"{year}: {leads}; ≥ 6 h {o.ahead()}/{total} (BĐ2/3 {o.ahead((2, 3))}/"
            f"{len(o.leads_h[2]) + len(o.leads_h[3])}); false alarms {o.false_alarms} "
            f"({o.false_alarms / 12:.2f} per station-month, today {TODAY_FALSE_ALARMS[year] / 12:.2f})")  # fmt: skip


def forecast_outcome(model: ForecastModel, year: int, series: Series, options: tuple[float, int, int]) -> Outcome:
    return outcome(model, year, series, *options)


def fold_model(fit_year: int, series: Series, like: ForecastModel) -> ForecastModel:
    return calibrate(
        series, NETWORK, STATION, STATION, year_ms(fit_year), year_ms(fit_year + 1), str((fit_year,)),
        horizons=tuple(f.horizon_h for f in like.horizons), train_above_m=like.train_above_m,
    )  # fmt: skip


def main() -> None:
    series = {y: record((y,)) for y in (2010, 2012, 2020)}
    pool = candidates()
    judged = {y: judge_candidates(series[y], y, pool) for y in series}
    select(series, judged, pool)


def select(
    series: dict[int, Series], judged: dict[int, dict[str, Outcome]], pool: dict[str, list[dict[str, object]]] | None
) -> None:
    """Each split: chosen on its judged years, scored on the others, printed; the rule files
    written when the candidates are all rules of the pool (`pool`; None: some are not)."""
    level_only = {y: _level_rule(series[y], y) for y in series}
    for split in SPLITS:
        shipped = load_forecast_model(EXAMPLES / split.model_file)
        folds = {judge: forecast_outcome(fold_model(fit, series[fit], shipped), judge, series[judge], split.options)
                 for fit, judge in split.folds}  # fmt: skip
        scored_fc = {y: forecast_outcome(shipped, y, series[y], split.options) for y in split.scored}
        budget = sum(TODAY_FALSE_ALARMS[y] for y in split.judged)
        print(
            f"{split.name}: {len(judged[split.judged[0]])} candidates; judged on {split.judged}, "
            f"false alarms allowed {budget}"
        )
        runs = {}
        for with_forecast in (True, False):
            base = {y: [level_only[y], *([folds[y]] if with_forecast else [])] for y in split.judged}
            chosen = greedy(base, {y: judged[y] for y in split.judged}, budget)
            final = {y: combined([*base[y], *(judged[y][c] for c in chosen)]) for y in split.judged}
            runs[with_forecast] = (_key(final), chosen)
        with_forecast = max(runs, key=lambda w: runs[w][0])
        chosen = runs[with_forecast][1]
        print(
            f"  chosen: {'forecast + ' if with_forecast else ''}{chosen or 'nothing'} "
            f"(judged: {runs[with_forecast][0]})"
        )
        for y in split.scored:
            parts = [level_only[y], *([scored_fc[y]] if with_forecast else []), *(judged[y][c] for c in chosen)]
            print(f"  {describe(y, combined(parts))}")
            for c in chosen:
                print(f"    {c}: {describe(y, judged[y][c])}")
        if pool is not None:
            write_rule_file(split, with_forecast, chosen, pool)
        for y in split.scored:  # the ceiling: looking at the scored year, which the protocol forbids
            peeks = []
            for base in ({y: [level_only[y], scored_fc[y]]}, {y: [level_only[y]]}):
                peek = greedy(base, {y: judged[y]}, TODAY_FALSE_ALARMS[y])
                peeks.append((_key({y: combined([*base[y], *(judged[y][c] for c in peek)])}), len(base[y]) > 1, peek))
            _, forecast, peek = max(peeks)
            print(f"  NOT a result, chosen on {y} itself: {'forecast + ' if forecast else ''}{peek}")
            parts = [level_only[y], *([scored_fc[y]] if forecast else []), *(judged[y][c] for c in peek)]
            print(f"    {describe(y, combined(parts))}")


def write_rule_file(
    split: Split, with_forecast: bool, chosen: list[str], pool: dict[str, list[dict[str, object]]]
) -> None:
    years = "_".join(str(y) for y in split.judged)
    path = EXAMPLES / f"le_thuy_early_chosen_{years}.yaml"
    margin, confirm, hold = split.options
    rules: list[dict[str, object]] = [
        {"name": "le_thuy_level", "kind": "level", "station": STATION, "sensor": GAUGE, "levels": STATION}
    ]
    if with_forecast:
        rules.append({"name": "le_thuy_forecast", "kind": "forecast", "station": STATION, "model": split.model_file,
                      "margin_sigmas": margin, "confirm_h": confirm, "hold_h": hold})  # fmt: skip
    rules += [r for c in chosen for r in pool[c]]
    header = (
        f"# Written by `python -m rules.forecast.early_selection`: the rules it chose on {split.judged} only\n"
        f"# (its text gives the protocol), to be scored on {split.scored}. rules/README.md gives the figures.\n"
    )
    path.write_text(header + yaml.safe_dump({"rules": rules}, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _level_rule(series: Series, year: int) -> Outcome:
    book = RuleBook.model_validate(
        {"rules": [{"name": "le_thuy_level", "kind": "level", "station": STATION, "sensor": GAUGE, "levels": STATION}]}
    )
    start, end = year_ms(year), year_ms(year + 1)
    return _outcome(series, replay(book, LEVELS, series, start, end, network=NETWORK), start, end)


if __name__ == "__main__":
    main()

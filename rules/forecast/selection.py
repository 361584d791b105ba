"""How the options of the forecast rules in rules/examples were chosen: on their calibration years only.

    .venv/bin/python -m rules.forecast.selection      # a few minutes, one core

Two splits: a model fitted on 2010+2012 and scored on 2020, and one fitted on 2020 and
scored on 2010 and 2012. Every setting (the fit's training threshold and horizons, the
rule's margin, confirmation and hold) is judged on the model's own years: for 2010+2012,
fitted on 2010 and scored on 2012 and the reverse; for 2020, fitted and scored on 2020
(the only year it may look at). Among the settings that hit every crossing there with no
more false alarms than today's rules over those years together
(`rules/examples/quang_binh.yaml`: 3 in 2010, 1 in 2012, 2 in 2020), the chosen one
warns the most BĐ2/BĐ3 crossings 6-72 h ahead, then the most crossings of any level,
then has the fewest false alarms. Only then is it scored on the held-out years, which
nothing above looked at. Lệ Thủy, the 2020 levels for every
year (`rules/examples/alarm_levels_backtest.yaml`, an assumption before 2020).

The rule runs through `rules.forecast.rule.decide` on the whole year at once, which the
tests hold equal to the evaluator's batch-by-batch run (the backtest's and the service's).
"""

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from rules.forecast.calibrate import calibrate
from rules.forecast.model import ForecastModel
from rules.forecast.rule import decide, forecast_rule
from rules.history_csv import read_history
from rules.levels import PACKAGE_DIR, load_alarm_levels
from rules.network import load_network
from rules.scoring import score
from rules.series import Series

DATA = PACKAGE_DIR.parent / "data"
LEVELS = load_alarm_levels(PACKAGE_DIR / "examples" / "alarm_levels_backtest.yaml")
NETWORK = load_network()
STATION, GAUGE = "le_thuy", "le_thuy.level"
TODAY_FALSE_ALARMS = {2010: 3, 2012: 1, 2020: 2}  # quang_binh.yaml, whole years
ZONE = timezone(timedelta(hours=7))
HOUR_MS = 3_600_000
TRAIN_ABOVE_M = (1.0, 0.5)
HORIZONS_H = (12, 18, 24)
MARGINS = (0.0, 0.5, 1.0)
CONFIRM_H = (1, 2, 3)
HOLD_H = (0, 12, 24, 36, 48)


def year_ms(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=ZONE).timestamp() * 1000)


def record(years: tuple[int, ...]) -> Series:
    paths = [DATA / f"quangbinh_{y}_{what}.csv" for y in years for what in ("level_observed", "rain_hourly")]
    return read_history(paths, year_ms(min(years)), year_ms(max(years) + 1), NETWORK).series


@dataclass(frozen=True)
class Outcome:
    """One year scored: per BĐk the leads (h) of the crossings, None for a miss; the false alarms."""

    leads_h: dict[int, list[float | None]]
    false_alarms: int

    def ahead(self, levels: tuple[int, ...] = (1, 2, 3)) -> int:
        return sum(1 for k in levels for lead in self.leads_h[k] if lead is not None and 6 <= lead <= 72)

    @property
    def all_hit(self) -> bool:
        return all(lead is not None for leads in self.leads_h.values() for lead in leads)


def outcome(model: ForecastModel, year: int, series: Series, margin: float, confirm_h: int, hold_h: int) -> Outcome:
    rule = forecast_rule(model, NETWORK).model_copy(
        update={"margin_sigmas": margin, "confirm_h": confirm_h, "hold_h": hold_h}
    )
    start, end = year_ms(year), year_ms(year + 1)
    decided = decide(rule, LEVELS, NETWORK, series, start, end - 1, np.array([-1.0, 0.0]))
    card = score(LEVELS, {GAUGE: series[GAUGE]}, {STATION: GAUGE}, [t for t, _ in decided], start, end)
    leads: dict[int, list[float | None]] = {1: [], 2: [], 3: []}
    for crossing in card.crossings:
        lead = crossing.lead_ms
        leads[crossing.episode.level].append(None if lead is None else lead / HOUR_MS)
    return Outcome(leads, len(card.false_alarms))


@dataclass(frozen=True)
class Setting:
    train_above_m: float
    horizons_h: int
    margin_sigmas: float
    confirm_h: int
    hold_h: int


def settings() -> list[Setting]:
    grid = itertools.product(TRAIN_ABOVE_M, HORIZONS_H, MARGINS, CONFIRM_H, HOLD_H)
    return [Setting(*values) for values in grid]


def choose(judged: dict[Setting, list[tuple[int, Outcome]]]) -> Setting | None:
    """The module's rule, on (year, outcome) pairs of the model's own years."""
    allowed = [s for s, results in judged.items() if all(o.all_hit for _, o in results) and _pooled_ok(results)]
    if not allowed:
        return None
    return max(
        allowed,
        key=lambda s: (
            sum(o.ahead((2, 3)) for _, o in judged[s]),
            sum(o.ahead() for _, o in judged[s]),
            -sum(o.false_alarms for _, o in judged[s]),
        ),
    )


def _pooled_ok(results: list[tuple[int, Outcome]]) -> bool:
    """No more false alarms than today's rules over the years together."""
    return sum(o.false_alarms for _, o in results) <= sum(TODAY_FALSE_ALARMS[y] for y, _ in results)


def main() -> None:
    series = {y: record((y,)) for y in (2010, 2012, 2020)}
    both = record((2010, 2012))
    splits = {  # name: (model years, [(fit on, judge on)], scored years)
        "2010+2012 -> 2020": ((2010, 2012), [((2010,), 2012), ((2012,), 2010)], (2020,)),
        "2020 -> 2010, 2012": ((2020,), [((2020,), 2020)], (2010, 2012)),
    }
    for name, (model_years, folds, scored) in splits.items():
        judged: dict[Setting, list[tuple[int, Outcome]]] = {}
        models: dict[tuple[tuple[int, ...], float, int], ForecastModel] = {}
        for setting in settings():
            results = []
            for fit_years, judge_year in folds:
                key = (fit_years, setting.train_above_m, setting.horizons_h)
                if key not in models:
                    fit_series = series[fit_years[0]] if len(fit_years) == 1 else both
                    models[key] = calibrate(
                        fit_series, NETWORK, STATION, STATION, year_ms(min(fit_years)), year_ms(max(fit_years) + 1),
                        str(fit_years), horizons=tuple(range(1, setting.horizons_h + 1)),
                        train_above_m=setting.train_above_m,
                    )  # fmt: skip
                options = (setting.margin_sigmas, setting.confirm_h, setting.hold_h)
                results.append((judge_year, outcome(models[key], judge_year, series[judge_year], *options)))
            judged[setting] = results
        chosen = choose(judged)
        print(f"{name}: {len(judged)} settings judged on {[f'{f} -> {j}' for f, j in folds]}")
        if chosen is None:
            print("  none hits every crossing with no more false alarms than today's rules")
            continue
        print(f"  chosen: {chosen}")
        final = calibrate(
            both if len(model_years) > 1 else series[model_years[0]], NETWORK, STATION, STATION,
            year_ms(min(model_years)), year_ms(max(model_years) + 1), str(model_years),
            horizons=tuple(range(1, chosen.horizons_h + 1)), train_above_m=chosen.train_above_m,
        )  # fmt: skip
        for year in scored:
            o = outcome(final, year, series[year], chosen.margin_sigmas, chosen.confirm_h, chosen.hold_h)
            leads = "; ".join(
                f"BĐ{k} " + ", ".join("miss" if x is None else f"{x:+g} h" for x in o.leads_h[k]) for k in (1, 2, 3)
            )
            print(f"  {year}: {leads}; ≥ 6 h (BĐ2/3) {o.ahead((2, 3))}, all {o.ahead()}; "
                  f"false alarms {o.false_alarms} ({o.false_alarms / 12:.2f} per station-month)")  # fmt: skip


if __name__ == "__main__":
    main()

"""Honest scoring and input that cannot fool the backtest (rules/scoring.py, rules/history_csv.py, the CLI)."""

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rules.backtest import official_episodes
from rules.cli import app
from rules.history_csv import FOOT_M, HistoryError, read_history
from rules.levels import SHIPPED_ALARM_LEVELS, load_alarm_levels
from rules.network import load_network
from rules.runner import Transition
from rules.scoring import score, spells

H = 3_600_000
T0 = 1_602_000_000_000 - 1_602_000_000_000 % H  # 2020-10-06, after the levels took effect
LEVELS = load_alarm_levels(SHIPPED_ALARM_LEVELS)
EXAMPLES = Path(__file__).resolve().parents[2] / "rules" / "examples"
DATA = Path(__file__).resolve().parents[2] / "data"
runner = CliRunner()


def t(rule: str, kind: str, hour: float, previous: int, state: int, station: str = "le_thuy") -> Transition:
    return Transition(rule, kind, station, "x.level", T0 + int(hour * H), previous, state, 0.0)


def river(*levels_m: float) -> dict[str, tuple[list[int], list[float]]]:
    """Hourly readings of Lệ Thủy from T0."""
    return {"le_thuy.level": ([T0 + i * H for i in range(len(levels_m))], list(levels_m))}


def test_a_warning_that_cleared_before_the_crossing_does_not_count() -> None:
    # Lệ Thủy crosses BĐ1 (1.20 m) at hour 10.
    series = river(*[0.5] * 10, 1.3, 1.3)
    transitions = [
        t("upstream", "duration", 1, 0, 1), t("upstream", "duration", 5, 1, 0),  # on at 1, cleared at 5
        t("forecast", "forecast", 4, 0, 1),  # on from hour 4 through the crossing: lead 6 h
        t("le_thuy_level", "level", 10, 0, 1),
        t("rain", "rainfall", 2, 0, 3),  # a rain category is not aimed at a level
    ]  # fmt: skip
    card = score(LEVELS, series, {"le_thuy": "le_thuy.level"}, transitions, T0, T0 + 12 * H)
    (crossing,) = card.crossings
    assert crossing.leads_ms == {"forecast": 6 * H, "le_thuy_level": 0}
    assert (crossing.best_rule, crossing.lead_ms) == ("forecast", 6 * H)
    assert [(s.rule, s.level) for s in card.false_alarms] == [("upstream", 1)]
    assert card.leads_by_kind() == {"forecast": [(1, 6 * H)], "level": [(1, 0)]}
    assert card.not_scored == ["rule rain: a rain or data warning, not aimed at an alarm level"]


def test_an_upstream_rule_counts_for_the_station_it_warns_and_only_at_its_level() -> None:
    series = river(*[0.5] * 5, 2.3)  # 0 -> BĐ2 at hour 5: crossings of BĐ1 and BĐ2 at once
    transitions = [t("kien_giang_high", "duration", 0, 0, 1), t("kien_giang_rise", "rate_of_rise", 2, 0, 1,
                                                                 station="kien_giang")]  # fmt: skip
    card = score(LEVELS, series, {"le_thuy": "le_thuy.level"}, transitions, T0, T0 + 6 * H)
    by_level = {c.episode.level: c for c in card.crossings}
    assert by_level[1].leads_ms == {"kien_giang_high": 5 * H}  # the rule aimed at kien_giang does not count
    assert not by_level[2].hit  # a severity-1 warning does not warn of BĐ2
    assert "rule kien_giang_rise: warns kien_giang, which has no alarm levels or no level readings" in card.not_scored


def test_a_warning_still_on_from_the_last_flood_counts_from_when_the_river_left_it() -> None:
    series = river(1.3, 1.3, 1.0, 1.0, 1.0, 1.3)  # above BĐ1, below at hours 2-4, above again at 5
    transitions = [t("forecast", "forecast", 0, 0, 1)]
    card = score(LEVELS, series, {"le_thuy": "le_thuy.level"}, transitions, T0, T0 + 6 * H)
    assert [c.lead_ms for c in card.crossings] == [0, 4 * H]  # from the last reading above (hour 1), not hour 0
    assert card.false_alarms == []
    assert card.station_months == pytest.approx(6 / (30.44 * 24))


def test_a_station_without_alarm_levels_is_named() -> None:
    card = score(LEVELS, {"dong_hoi.level": ([T0], [0.3])}, {"dong_hoi": "dong_hoi.level"}, [], T0, T0 + H)
    assert card.not_scored == ["station dong_hoi: no alarm levels, so its crossings are unknown"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0, 3.5, allow_nan=False), min_size=1, max_size=30),
    st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 29), st.integers(0, 3)), max_size=12),
)
def test_scoring_invariants(levels_m: list[float], changes: list[tuple[str, int, int]]) -> None:
    """Whatever the river and the warnings: a hit has a spell at its level on at the crossing, leads are
    never negative, and a false alarm's spell saw no reading at or above its level."""
    series = river(*levels_m)
    state = {"a": 0, "b": 0}
    transitions = []
    for rule, hour, new in sorted(changes, key=lambda c: c[1]):
        if new != state[rule]:
            transitions.append(t(rule, "forecast", hour, state[rule], new))
            state[rule] = new
    end = T0 + len(levels_m) * H
    card = score(LEVELS, series, {"le_thuy": "le_thuy.level"}, transitions, T0, end)
    assert len(card.crossings) == len(official_episodes(LEVELS, "le_thuy", *series["le_thuy.level"]))
    all_spells = spells(transitions)
    for crossing in card.crossings:
        on = [s for s in all_spells if s.level == crossing.episode.level and s.active_at(crossing.episode.start_ms)]
        assert crossing.hit == bool(on)
        assert all(lead >= 0 for lead in crossing.leads_ms.values())
    bd = LEVELS.station("le_thuy", T0).thresholds_m
    ts, vals = series["le_thuy.level"]
    for spell in card.false_alarms:
        until = spell.cleared_ms if spell.cleared_ms is not None else end
        assert not any(
            spell.raised_ms <= x <= until and v >= bd[spell.level - 1] for x, v in zip(ts, vals, strict=True)
        )


# -- input ------------------------------------------------------------------------------


def csv_file(tmp_path: Path, text: str, name: str = "levels.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


NETWORK = load_network()


@pytest.mark.parametrize(
    ("text", "row", "column", "expected"),
    [
        ("time,level_m\n2020-10-07T22:00+07:00,1.2\n", 1, "station", "missing"),
        ("time,station\n2020-10-07T22:00+07:00,Le Thuy\n", 1, "level_m|rain_mm", "need exactly one of"),
        ("time,station,level_m\n2020-10-07T22:00+07:00,Le Thuy,1.2*\n", 2, "level_m", "not a number: '1.2*'"),
        ("time,station,level_m\n2020-10-07T22:00+07:00,Le Thuy,1.2\n2020-10-07T23:00+07:00,Le Thuy,M\n", 3,
         "level_m", "not a number: 'M'"),
        ("time,station,level_m,unit\n2020-10-07T22:00+07:00,Le Thuy,120,cm\n", 2, "unit", "unknown unit 'cm'"),
        ("time,station,level_m\n2020-10-07T22:00,Nowhere,1.2\n", 2, "time", "no declared time zone"),
        ("time,station,level_m\n07/10/2020 22:00,Le Thuy,1.2\n", 2, "time", "not an ISO time"),
    ],
)  # fmt: skip
def test_bad_csv_is_one_line_naming_row_and_column(
    tmp_path: Path, text: str, row: int, column: str, expected: str
) -> None:
    path = csv_file(tmp_path, text)
    with pytest.raises(HistoryError) as raised:
        read_history([path], 0, 2**62, NETWORK)
    assert (raised.value.row, raised.value.column) == (row, column)
    assert str(raised.value).startswith(f"{path}:{row} column {column!r}: ") and expected in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_csv_that_is_not_utf8_is_one_line_naming_its_row(tmp_path: Path) -> None:
    path = tmp_path / "levels.csv"  # found by the CLI fuzz: a traceback before
    path.write_bytes("time,station,level_m\n2020-10-07T22:00+07:00,Lệ Thủy,1.2\n".encode("utf-16"))
    with pytest.raises(HistoryError) as raised:
        read_history([path], 0, 2**62, NETWORK)
    assert str(raised.value) == f"{path}:1 column '-': not UTF-8 text (invalid start byte)"


def test_zone_less_times_duplicates_feet_and_jumps(tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        "time,station,level_m,unit\n"
        "2020-10-07T22:00,Le Thuy,4.0,ft\n"  # no offset: Lệ Thủy's zone, Asia/Ho_Chi_Minh (+07:00)
        "2020-10-07T15:00+00:00,Le Thuy,9.9,m\n"  # the same instant again: dropped, counted
        "2020-10-07T23:00+07:00,Le Thuy,4.5,m\n"  # 1.22 -> 4.5 m in an hour: reported
        "2020-10-08T00:00+07:00,Le Thuy,,m\n",  # a missing reading
    )
    history = read_history([path], 0, 2**62, NETWORK)
    ts, vals = history.series["le_thuy.level"]
    assert ts[0] == 1_602_082_800_000  # 2020-10-07T15:00Z
    assert vals[0] == pytest.approx(4.0 * FOOT_M) and vals[1] == 4.5 and math.isnan(vals[2])
    assert history.duplicates == {"le_thuy.level": 1}
    assert (history.zoned_rows, history.converted_ft) == (1, 1)
    assert history.jumps == ["le_thuy.level: 1.22 -> 4.50 m at 2020-10-07T16:00+00:00 (3.3 m/h)"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["2020-10-07T22:00+07:00", "2020-10-07T22:00", "x", ""]),
                          st.sampled_from(["Le Thuy", "Kien Giang", "Mars", ""]),
                          st.text(max_size=6)), max_size=6))  # fmt: skip
def test_any_csv_reads_or_fails_with_one_line(tmp_path_factory: pytest.TempPathFactory, rows: list) -> None:
    lines = ["time,station,level_m"] + [",".join(f'"{c}"' for c in (a, b, c.replace('"', ""))) for a, b, c in rows]
    path = tmp_path_factory.mktemp("csv") / "levels.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        history = read_history([path], 0, 2**62, NETWORK)
    except HistoryError as error:
        assert "\n" not in str(error) and str(error).startswith(str(path))
        return
    for ts, vals in history.series.values():
        assert ts == sorted(set(ts)) and len(ts) == len(vals)


# -- the commands -----------------------------------------------------------------------


def test_backtest_with_a_forecast_and_upstream_rules(tmp_path: Path) -> None:
    """Calibrate on 2010 and 2012, score October 2020: zone-less --from/--to in Lệ Thủy's zone."""
    model = tmp_path / "le_thuy.yaml"
    years = [str(DATA / f"quangbinh_{y}_{k}.csv") for y in (2010, 2012) for k in ("level_observed", "rain_hourly")]
    levels = str(EXAMPLES / "alarm_levels_backtest.yaml")
    result = runner.invoke(app, ["calibrate", "le_thuy", "--from", "2010-01-01", "--to", "2013-01-01", "--out",
                                 str(model), "--levels", levels, "--train-above-m", "1.0", "--max-lag-h", "12",
                                 *[arg for f in years for arg in ("--csv", f)]])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "12 horizons fitted" in result.output
    out = tmp_path / "bt"
    result = runner.invoke(app, ["backtest", str(EXAMPLES / "le_thuy_early.yaml"), "--from", "2020-10-01", "--to",
                                 "2020-11-01", "--out", str(out), "--forecast", str(model)])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| forecast |" in report and "| duration |" in report
    assert "expected to reach BĐ" in report and "water expected at Lệ Thủy about" in report
    first = next(line for line in report.splitlines() if line.startswith("| le_thuy | 1 | 2020-10-07 22:00"))
    assert "MISSED" not in first
    assert "station kien_giang: no alarm levels, so its crossings are unknown" in report
    png = (out / "hydrograph.png").read_bytes()
    assert png.startswith(b"\x89PNG")


def test_commands_refuse_without_a_traceback(tmp_path: Path) -> None:
    bad = csv_file(tmp_path, "time,station,level_m\n2020-10-07T22:00+07:00,Le Thuy,1.2*\n")
    result = runner.invoke(app, ["backtest", str(EXAMPLES / "quang_binh.yaml"), "--from", "2020-10-01", "--to",
                                 "2020-11-01", "--csv", str(bad), "--out", str(tmp_path / "bt")])  # fmt: skip
    assert result.exit_code == 2 and "column 'level_m': not a number: '1.2*'" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    result = runner.invoke(app, ["backtest", str(EXAMPLES / "quang_binh.yaml"), "--from", "1 Oct", "--to", "x"])
    assert result.exit_code == 2 and "--from '1 Oct': not an ISO date" in result.output
    result = runner.invoke(app, ["test", str(EXAMPLES / "quang_binh.test.yaml"), "--levels", str(tmp_path / "no.yaml")])
    assert result.exit_code == 2 and "no.yaml: cannot read" in result.output
    result = runner.invoke(app, ["calibrate", "dong_hoi", "--from", "2020-01-01", "--to", "2021-01-01", "--out",
                                 str(tmp_path / "m.yaml")])  # fmt: skip
    assert result.exit_code == 2 and "station 'dong_hoi' has no alarm levels" in result.output


def test_a_live_warning_from_upstream_says_when_the_water_arrives() -> None:
    from rules.evaluator import RuleBookEvaluator
    from rules.rulebook import load_rulebook

    book = load_rulebook(EXAMPLES / "le_thuy_early.yaml", LEVELS)
    evaluator = RuleBookEvaluator(book, LEVELS, network=NETWORK)
    raised = evaluator.feed({"kien_giang.level": ([T0, T0 + H], [7.0, 9.2])}, -1)
    assert {t.rule for t in raised} == {"le_thuy_upstream_bd1", "le_thuy_upstream_bd2"}
    warning = evaluator.to_warning(next(t for t in raised if t.rule == "le_thuy_upstream_bd2"))
    # T0 + 1 h is 2020-10-07 00:00 at Lệ Thủy (+07:00); the water takes 3 h.
    assert warning.station == "le_thuy" and warning.level == 2
    assert warning.detail.endswith(
        "upstream at Kiến Giang: water expected at Lệ Thủy about 2020-10-07 03:00 (travel 3 h)"
    )

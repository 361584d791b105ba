"""Rule files and the meaning of each kind, on hand-written series (times in hours)."""

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import kernels, reference_kinds
from rules.levels import SHIPPED_ALARM_LEVELS, SHIPPED_RULES, RuleConfigError, load_alarm_levels
from rules.rulebook import RuleBook, load_rulebook
from rules.runner import RuleRunner

EXAMPLES = Path(__file__).resolve().parents[2] / "rules" / "examples"
LEVELS = load_alarm_levels(SHIPPED_ALARM_LEVELS)
T0 = 1_602_086_400_000  # 2020-10-07T23:00+07:00 = 16:00 UTC
H = 3_600_000
NAN = math.nan
IMPLS = pytest.mark.parametrize("impl", [reference_kinds, kernels], ids=["reference", "kernel"])


def states(rule: dict[str, Any], hours: list[float], vals: list[float], impl: Any) -> list[tuple[float, int]]:
    runner = RuleRunner(RuleBook.model_validate({"rules": [rule]}).rules[0], LEVELS, impl=impl)
    return [((t.ts_ms - T0) / H, t.state) for t in runner.feed([T0 + int(h * H) for h in hours], vals)]


@pytest.mark.parametrize("path", [EXAMPLES / "hue.yaml", EXAMPLES / "quang_binh.yaml", SHIPPED_RULES], ids=str)
def test_shipped_rule_files_load(path: Path) -> None:
    assert load_rulebook(path).rules


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "rules:\n  - name: a\n    kind: levle\n",
            r"x.yaml:2 rules.0: unknown kind; use one of level, duration, rate_of_rise",
        ),
        (
            "rules:\n  - name: a\n    kind: duration\n    station: s\n    sensor: s.level\n    above_m: 2\n"
            "    clear_below_m: 1.9\n    fire_after: 30\n    clear_after: 1h\n    severity: 2\n",
            r"x.yaml:8 rules.0.fire_after: Value error, write a duration as a number and a unit",
        ),
        (
            "rules:\n  - name: a\n    kind: rainfall\n    station: s\n    sensor: s.rain\n    window: 2h\n"
            "    categories: [{name: x, over_mm: 5}]\n",
            r"x.yaml:6 rules.0.window: Input should be '1h', '3h', '6h', '12h', '24h' or 'bulletin_day'",
        ),
        (
            "rules:\n  - name: a\n    station: s\n    sensor: s.level\n    levels: nowhere\n",
            r"x.yaml:5 rules.0.levels: unknown station 'nowhere'; use one with alarm levels",
        ),
        (
            "rules:\n  - {name: a, station: s, sensor: s.level, levels: le_thuy}\n"
            "  - {name: e, kind: escalation, station: s, base: a, min_base: 2, when: [{rule: rain, at_least: 3}]}\n",
            r"x.yaml:2 rules: Value error, escalation 'e' uses unknown rule 'rain'",
        ),
    ],
)
def test_rule_file_errors_name_file_line_and_fix(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(RuleConfigError, match=message.replace("x.yaml", str(path).replace(".", r"\."))):
        load_rulebook(path)


DURATION = {
    "name": "d",
    "kind": "duration",
    "station": "x",
    "sensor": "x.level",
    "above_m": 2.2,
    "clear_below_m": 2.15,
    "fire_after": "1h",
    "clear_after": "2h",
    "severity": 2,
}


@IMPLS
def test_duration_fires_after_the_condition_held_and_clears_after_it_held_again(impl: Any) -> None:
    hours = [0, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 6]
    vals = [2.3, 2.1, 2.3, NAN, 2.25, 2.0, 2.18, 2.1, 2.0, 2.1]
    # 0.5 h breaks the first run; the run from 1 h fires at 2 h; 2.18 breaks the clearing
    # run that started at 2.5 h; the run from 4 h clears at 6 h.
    assert states(DURATION, hours, vals, impl) == [(2, 2), (6, 0)]


@IMPLS
def test_rate_of_rise_over_the_window(impl: Any) -> None:
    rule = {
        "name": "r",
        "kind": "rate_of_rise",
        "station": "x",
        "sensor": "x.level",
        "window": "3h",
        "min_span": "1h",
        "rise_cm_per_h": 10,
        "clear_cm_per_h": 0,
        "severity": 1,
    }
    # 0.5 h after the first reading: span too short; at 2 h: 25 cm in 2 h (12.5 cm/h) fires;
    # at 6 h the oldest reading in the window is from 3 h: -10 cm in 3 h clears.
    assert states(rule, [0, 0.5, 2, 3, 6], [1.0, 1.2, 1.25, 1.3, 1.2], impl) == [(2, 1), (6, 0)]


@IMPLS
def test_rainfall_24h_categories_and_bulletin_day(impl: Any) -> None:
    cats = [{"name": "moderate", "over_mm": 15}, {"name": "heavy", "over_mm": 50}, {"name": "very", "over_mm": 100}]
    base = {"kind": "rainfall", "station": "x", "sensor": "x.rain", "categories": cats}
    # at 26 h the 24 h window (2 h, 26 h] holds 50 + 0 + 1 mm: heavy.
    hours = [1, 2, 3, 4, 26]
    vals = [16.0, 35.0, 50.0, 0.0, 1.0]
    assert states({**base, "name": "r24", "window": "24h"}, hours, vals, impl) == [(1, 1), (2, 2), (3, 3), (26, 2)]
    # T0 is 23:00 local: the bulletin day opens at 20:00 local (T0 - 3 h) and the next one at
    # 20:00 the day after (T0 + 21 h), so at 26 h only the 1 mm counts.
    assert states({**base, "name": "rd", "window": "bulletin_day"}, hours, vals, impl) == [
        (1, 1),
        (2, 2),
        (3, 3),
        (26, 0),
    ]


def test_bulletin_day_runs_20_to_20_local() -> None:
    day = 86_400_000
    opens = T0 - 3 * H  # 2020-10-07T20:00+07:00
    assert reference_kinds.bulletin_day_start(opens) == opens - day  # 20:00 itself closes the day before
    assert reference_kinds.bulletin_day_start(opens + 1) == opens
    assert kernels.bulletin_day_start(opens + day) == opens


@IMPLS
def test_staleness_is_a_data_warning_on_silence_and_bad_readings(impl: Any) -> None:
    rule = {"name": "s", "kind": "staleness", "station": "x", "sensor": "x.level", "max_silence": "2h"}
    runner = RuleRunner(RuleBook.model_validate({"rules": [rule]}).rules[0], LEVELS, impl=impl, watch_from_ms=T0)
    out = runner.feed([T0 + H, T0 + 2 * H, T0 + 5 * H], [1.0, NAN, 1.0], T0 + 5 * H)
    out += runner.feed([], [], T0 + 8 * H)
    # silent (a read failure does not count) from 1 h + 2 h; fresh at 5 h; silent again at 7 h.
    assert [((t.ts_ms - T0) / H, t.state) for t in out] == [(3, 1), (5, 0), (7, 1)]


@IMPLS
def test_k_of_n_bad_or_stale_sensors_abstain(impl: Any) -> None:
    rule = {
        "name": "k",
        "kind": "k_of_n",
        "station": "x",
        "sensors": ["a.level", "b.level", "c.level"],
        "k": 2,
        "above_m": 2.0,
        "clear_below_m": 1.95,
        "stale_after": "1h",
        "severity": 2,
    }
    runner = RuleRunner(RuleBook.model_validate({"rules": [rule]}).rules[0], LEVELS, impl=impl)
    hours = [0, 0.1, 0.2, 0.3, 2.0, 2.1, 2.2]
    who = [0, 1, 1, 2, 0, 0, 1]
    vals = [2.1, 2.2, NAN, 2.3, 1.0, 2.1, 1.0]
    # 0.1 h: a and b agree -> fires. 0.2 h: b bad, abstains; 0.3 h c agrees. 2.0 h: a says no
    # but b and c are stale (last good > 1 h ago): one no vote of the two needed, holds.
    # 2.2 h: a yes again, b no: still one no vote. Nothing clears.
    out = runner.feed_merged([T0 + int(h * H) for h in hours], who, vals)
    assert [((t.ts_ms - T0) / H, t.state, t.sensor) for t in out] == [(0.1, 2, "b.level")]
    out = runner.feed_merged([T0 + int(2.3 * H)], [2], [1.0])
    assert [(t.previous, t.state, t.sensor) for t in out] == [(2, 0, "c.level")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.floats(2.151, 2.35), st.just(NAN)), min_size=1, max_size=40))
def test_hovering_at_bd2_raises_once_and_never_flaps(values: list[float]) -> None:
    """Lệ Thủy BĐ2 is 2.20 m, cleared below 2.15 m: a river hovering between never clears it."""
    rule = {"name": "l", "station": "le_thuy", "sensor": "le_thuy.level", "levels": "le_thuy"}
    good = [v for v in values if not math.isnan(v)]
    final = 2 if any(v >= 2.20 for v in good) else 1 if good else 0
    for impl in (reference_kinds, kernels):
        raised = [state for _, state in states(rule, list(range(len(values))), values, impl)]
        assert raised == sorted(set(raised))  # only ever up: nothing clears, nothing repeats
        assert (raised[-1] if raised else 0) == final

"""grafana.macros: Grafana's expansion rules, pinned by examples and properties."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grafana.macros import (
    Expansion,
    MacroError,
    Variable,
    calculate_interval_ms,
    expand,
    interval_text,
    many,
    parse_interval_ms,
    round_interval_ms,
    single,
)

DAY_MS = 86_400_000


@pytest.mark.parametrize(
    ("raw_ms", "rounded_ms"),
    [
        (1, 10),
        (14.9, 10),
        (15, 20),
        (449_999, 300_000),
        (450_000, 600_000),
        (2_678_400, 1_800_000),
        (5_399_999, 3_600_000),
        (31_536_000, 21_600_000),
        (32_400_000, 43_200_000),
        (86_400_000, 86_400_000),
        (10**12, 31_536_000_000),
    ],
)
def test_round_interval_follows_grafanas_table(raw_ms: float, rounded_ms: int) -> None:
    assert round_interval_ms(raw_ms) == rounded_ms


@pytest.mark.parametrize(
    ("interval_ms", "text"),
    [
        (500, "500ms"),
        (10_000, "10s"),
        (600_000, "10m"),
        (5_400_000, "1h"),
        (3_600_000, "1h"),
        (86_400_000, "1d"),
        (604_800_000, "7d"),
        (2_592_000_000, "30d"),
        (31_536_000_000, "1y"),
    ],
)
def test_interval_text_is_seconds_to_hms(interval_ms: int, text: str) -> None:
    assert interval_text(interval_ms) == text


def test_a_month_at_1000_points_is_30_minutes_and_the_min_interval_wins() -> None:
    month = 31 * DAY_MS
    assert calculate_interval_ms(0, month, 1000) == 1_800_000
    assert calculate_interval_ms(0, month, 1000, "1h") == 3_600_000
    assert calculate_interval_ms(0, 365 * DAY_MS, 1000) == 21_600_000  # a year: 6h
    by_variable = Expansion(0, month, min_interval="$rp_interval", variables={"rp_interval": single("1d")})
    assert by_variable.builtins()["__interval"] == "1d"
    with pytest.raises(MacroError, match="ends"):
        calculate_interval_ms(10, 10, 1000)
    with pytest.raises(MacroError, match="'10 minutes'"):
        parse_interval_ms("10 minutes")


def test_expand_builtins_as_the_influxql_datasource_writes_them() -> None:
    context = Expansion(1_601_485_200_000, 1_604_163_600_000)
    query = "SELECT mean(v) FROM m WHERE $timeFilter AND time <= ${__to}ms GROUP BY time($__interval) -- $__interval_ms"
    assert expand(query, context) == (
        "SELECT mean(v) FROM m WHERE time >= 1601485200000ms and time <= 1604163600000ms "
        "AND time <= 1604163600000ms GROUP BY time(30m) -- 1800000"
    )


def test_expand_variables_single_multi_raw_and_unknown() -> None:
    context = Expansion(0, DAY_MS, variables={"station": many(["le_thuy", "kim_long"]), "rp": single("rollup_1h")})
    assert expand('"$rp"."x" /^$station$/ ${station:raw} [[rp]] $other', context) == (
        '"rollup_1h"."x" /^(le_thuy|kim_long)$/ le_thuy,kim_long rollup_1h $other'
    )
    with pytest.raises(MacroError, match="csv"):
        expand("${rp:csv}", context)


_values = st.lists(
    st.text(alphabet="abc_./()|+*?[]{}^$\\-", min_size=1, max_size=8), min_size=1, max_size=5, unique=True
)


@given(_values, st.text(alphabet="abc_./()|", min_size=1, max_size=8))
def test_a_multi_value_regex_matches_exactly_its_values(values: list[str], other: str) -> None:
    pattern = expand("^$station$", Expansion(0, DAY_MS, variables={"station": Variable(tuple(values), multi=True)}))
    assert "/" not in pattern.replace("\\/", "")  # an InfluxQL /regex/ literal cannot end early
    compiled = re.compile(pattern.replace("\\/", "/"))
    assert all(compiled.fullmatch(v) for v in values)
    assert (compiled.fullmatch(other) is not None) == (other in values)


@given(st.integers(1, 10**12), st.integers(1, 10**12), st.integers(1, 5000))
def test_a_longer_span_never_gets_a_shorter_interval(span_a: int, span_b: int, points: int) -> None:
    short, long = sorted((span_a, span_b))
    assert calculate_interval_ms(0, short, points) <= calculate_interval_ms(0, long, points)
    interval = calculate_interval_ms(0, long, points)
    assert parse_interval_ms(interval_text(interval)) == interval or interval_text(interval).endswith("ms")

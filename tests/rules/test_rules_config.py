"""alarm_levels.yaml and rules.yaml: the shipped files load, bad ones are refused by name."""

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from rules import (
    SHIPPED_ALARM_LEVELS,
    SHIPPED_RULES,
    AlarmLevelTable,
    RuleConfigError,
    load_alarm_levels,
)
from rules.cli import app
from rules.rulebook import LevelKind, load_rulebook
from typed_config import ConfigError


def station(**changes: Any) -> dict[str, Any]:
    entry = {
        "station": "le_thuy",
        "river": "Kiến Giang",
        "display_name": "Lệ Thủy",
        "bd1_m": 1.20,
        "bd2_m": 2.20,
        "bd3_m": 2.70,
        "hysteresis_m": 0.05,
        "source": "Decision 05/2020/QĐ-TTg; test",
        "effective_from": date(2020, 3, 31),
    }
    entry.update(changes)
    return entry


def rule(**changes: Any) -> dict[str, Any]:
    return {"name": "le_thuy_level", "station": "le_thuy", "sensor": "le_thuy.level", "levels": "le_thuy"} | changes


def write(tmp_path: Path, data: Any, name: str = "alarm_levels.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def refused(path: Path, key: str, expected: str) -> str:
    """A `match` pattern: the file, the key path and what is expected, in that order."""
    return f"{re.escape(str(path))}.*{re.escape(key)}: .*{re.escape(expected)}"


@pytest.fixture
def levels() -> AlarmLevelTable:
    return load_alarm_levels(SHIPPED_ALARM_LEVELS)


def test_shipped_alarm_levels(levels: AlarmLevelTable) -> None:
    by_id = {entry.station: entry for entry in levels.stations}
    assert set(by_id) == {"le_thuy", "kim_long", "phu_oc"}
    assert by_id["le_thuy"].thresholds_m == (1.20, 2.20, 2.70)
    assert by_id["kim_long"].thresholds_m == (1.00, 2.00, 3.50)
    assert by_id["phu_oc"].thresholds_m == (1.50, 3.00, 4.50)
    assert (by_id["le_thuy"].river, by_id["le_thuy"].display_name) == ("Kiến Giang", "Lệ Thủy")
    assert (by_id["phu_oc"].river, by_id["phu_oc"].display_name) == ("Bồ", "Phú Ốc")
    for entry in levels.stations:
        assert entry.source.startswith("Decision 05/2020/QĐ-TTg")
        assert entry.effective_from == date(2020, 3, 31)
        assert entry.hysteresis_m == 0.05
    # The values shared/README.md does not confirm say so in their source.
    assert "BĐ3 as commonly reported, UNVERIFIED" in by_id["le_thuy"].source
    assert "BĐ1 UNVERIFIED" in by_id["phu_oc"].source
    assert "UNVERIFIED" not in by_id["kim_long"].source


def test_shipped_rules(levels: AlarmLevelTable) -> None:
    book = load_rulebook(SHIPPED_RULES, levels)
    bindings = {(r.sensor, r.levels) for r in book.rules if isinstance(r, LevelKind)}
    assert len(bindings) == len(book.rules)
    # Kiến Giang has no rule: no alarm levels are known for it.
    assert bindings == {("le_thuy.level", "le_thuy"), ("kim_long.level", "kim_long"), ("phu_oc.level", "phu_oc")}


def test_clear_below_is_level_minus_hysteresis(levels: AlarmLevelTable) -> None:
    kim_long = levels.station("kim_long")
    assert kim_long.clear_below_m == pytest.approx((0.95, 1.95, 3.45))


@pytest.mark.parametrize(
    ("changes", "key", "expected"),
    [
        ({"bd2_m": 1.00}, "stations.0.bd2_m", "must be greater than bd1_m (1.2 m) (got 1.0)"),
        ({"bd3_m": 2.20}, "stations.0.bd3_m", "must be greater than bd2_m (2.2 m)"),
        ({"hysteresis_m": 0.5}, "stations.0.hysteresis_m", "smaller than the smallest gap between levels (0.5 m)"),
        ({"hysteresis_m": -0.01}, "stations.0.hysteresis_m", "greater than or equal to 0"),
        ({"bd4_m": 3.2}, "stations.0.bd4_m", "Extra inputs are not permitted"),
        ({"station": "Lệ Thủy"}, "stations.0.station", "should match pattern"),
        ({"effective_from": "31/03/2020"}, "stations.0.effective_from", "valid date"),
    ],
    ids=[
        "bd2 below bd1",
        "bd3 equal to bd2",
        "hysteresis too large",
        "negative hysteresis",
        "unknown key",
        "station id not ascii",
        "date not ISO",
    ],
)
def test_bad_alarm_levels_are_refused(tmp_path: Path, changes: dict[str, Any], key: str, expected: str) -> None:
    path = write(tmp_path, {"stations": [station(**changes)]})
    with pytest.raises(RuleConfigError, match=refused(path, key, expected)):
        load_alarm_levels(path)


def test_missing_key_is_named(tmp_path: Path) -> None:
    entry = station()
    del entry["source"]
    path = write(tmp_path, {"stations": [station(station="kim_long"), entry]})
    with pytest.raises(RuleConfigError, match=refused(path, "stations.1.source", "Field required")):
        load_alarm_levels(path)


def test_repeated_station_and_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, {"stations": [station(), station()]})
    repeated = "'le_thuy' appears at positions 0 and 1 with the same effective_from"
    with pytest.raises(RuleConfigError, match=refused(path, "stations", repeated)):
        load_alarm_levels(path)
    path = write(tmp_path, {"stations": [station()], "version": 2})
    with pytest.raises(RuleConfigError, match=refused(path, "version", "Extra inputs are not permitted")):
        load_alarm_levels(path)


def test_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(RuleConfigError, match="cannot read"):
        load_alarm_levels(tmp_path / "missing.yaml")
    path = tmp_path / "broken.yaml"
    path.write_text("stations: [\n", encoding="utf-8")
    # Callers that handle every config the same way catch the shared ConfigError.
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_alarm_levels(path)


def test_rule_naming_unknown_station_is_refused(tmp_path: Path, levels: AlarmLevelTable) -> None:
    path = write(
        tmp_path, {"rules": [rule(), rule(name="kg", sensor="kien_giang.level", levels="kien_giang")]}, "rules.yaml"
    )
    with pytest.raises(RuleConfigError, match=refused(path, "rules.1.levels", "unknown station 'kien_giang'")):
        load_rulebook(path, levels)


@pytest.mark.parametrize(
    ("rules", "key", "expected"),
    [
        ([rule(), rule(name="again")], "rules", "sensor 'le_thuy.level' appears at positions 0 and 1"),
        ([rule(sensor="Le Thuy")], "rules.0.sensor", "should match pattern"),
        ([rule(threshold=1.2)], "rules.0.threshold", "Extra inputs are not permitted"),
        ([], "rules", "must not be empty"),
    ],
    ids=["two rules on one sensor", "bad sensor id", "unknown key", "no rules"],
)
def test_bad_rules_are_refused(
    tmp_path: Path, levels: AlarmLevelTable, rules: list[dict[str, Any]], key: str, expected: str
) -> None:
    path = write(tmp_path, {"rules": rules}, "rules.yaml")
    with pytest.raises(RuleConfigError, match=refused(path, key, expected)):
        load_rulebook(path, levels)


def test_check_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "le_thuy.level -> Lệ Thủy (Kiến Giang), BĐ1/2/3\n    1.20/2.20/2.70 m from 2020-03-31" in result.output
    bad = write(tmp_path, {"stations": [station(bd2_m=1.0)]})
    result = CliRunner().invoke(app, ["check", "--levels", str(bad)])
    assert result.exit_code == 2
    assert "stations.0.bd2_m" in result.output

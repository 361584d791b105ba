"""The public-alert policy: the sample loads, mistakes are refused with file:line."""

from pathlib import Path

import pytest
import yaml

from public_alerts.policy import SAMPLE_POLICY, load_policy
from typed_config import ConfigError


def _edited(tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(SAMPLE_POLICY.read_text())
    edit(data)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return path


def test_the_sample_routes_bd2_to_citizens_after_approval_and_bd3_to_sirens_at_once() -> None:
    policy = load_policy()
    assert not policy.goes_public("le_thuy", "level", 1)
    routes = policy.routes_for("le_thuy", "level", 2)
    assert [(r.channel, r.approval) for r in routes] == [("cap_feed", "operator"), ("sms_gateway", "operator")]
    routes = policy.routes_for("le_thuy", "level", 3)
    assert [(r.channel, r.approval) for r in routes][-1] == ("le_thuy_sirens", "automatic")
    assert "le_thuy_sirens" not in [r.channel for r in policy.routes_for("kim_long", "level", 3)]
    # a data warning (a silent sensor) never goes public, nor a station the policy does not cover
    assert not policy.goes_public("le_thuy", "level", 3, data_warning=True)
    assert not policy.goes_public("nowhere", "level", 3)
    assert len(policy.areas("le_thuy", 3)) == 2 and len(policy.areas("le_thuy", 2)) == 1


def test_automatic_approval_for_sms_is_refused_with_its_line(tmp_path: Path) -> None:
    def edit(data: dict) -> None:  # type: ignore[type-arg]
        data["routes"][1]["approval"] = "automatic"

    with pytest.raises(ConfigError, match=r"policy\.yaml:\d+ routes: .*automatic approval is only for siren"):
        load_policy(_edited(tmp_path, edit))


def test_a_siren_route_below_bd3_may_not_be_automatic(tmp_path: Path) -> None:
    def edit(data: dict) -> None:  # type: ignore[type-arg]
        data["routes"][2]["min_level"] = 2

    with pytest.raises(ConfigError, match=r"siren channel at min_level 2"):
        load_policy(_edited(tmp_path, edit))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["routes"][0].update(channel="pager"), r"channel 'pager' is not defined"),
        (lambda d: d["stations"][1]["areas_by_level"].pop(3), r"no areas for level\(s\) \[3\]"),
        (
            lambda d: d["stations"][0]["areas_by_level"][1][0]["polygon"].pop(),
            r"areas_by_level\.1\.0: .*polygon is not closed",
        ),
        (lambda d: d["channels"]["sms_gateway"].update(secret_env="lower"), r"channels\.sms_gateway.*secret_env"),
        (lambda d: d["routes"][0].update(kinds=["staleness"]), r"routes\.0\.kinds\.0"),
    ],
)
def test_mistakes_are_refused_with_file_line_and_key(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=message) as caught:
        load_policy(_edited(tmp_path, edit))
    assert "policy.yaml:" in str(caught.value)

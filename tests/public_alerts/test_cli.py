"""`floodwatch-ioc cap --example` and `floodwatch-ioc public-policy`: what a user sees, never a traceback."""

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ioc.cli import app
from public_alerts import validate_cap

runner = CliRunner()


def test_cap_example_prints_a_valid_bd3_alert_at_le_thuy() -> None:
    result = runner.invoke(app, ["cap", "--example"])
    assert result.exit_code == 0, result.output
    validate_cap(result.stdout.encode())
    assert "Lệ Thủy" in result.stdout and "<severity>Severe</severity>" in result.stdout


def test_cap_without_example_says_what_to_ask() -> None:
    result = runner.invoke(app, ["cap"])
    assert result.exit_code == 2 and "--example" in result.output


def test_public_policy_lists_routes_and_refuses_a_bad_file(tmp_path: Path) -> None:
    assert (
        "le_thuy_sirens (siren): level from BĐ3, le_thuy, approval automatic"
        in runner.invoke(app, ["public-policy"]).stdout
    )
    bad = tmp_path / "policy.yaml"
    bad.write_text("sender: x\nchannels: {}\n")
    result = runner.invoke(app, ["public-policy", str(bad)])
    assert result.exit_code == 2 and "policy.yaml" in result.output and "Traceback" not in result.output


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=300))
def test_any_policy_file_is_accepted_or_refused_in_words(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "policy.yaml"
        path.write_bytes(data)
        result = runner.invoke(app, ["public-policy", str(path)])
        assert result.exit_code == 2, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)

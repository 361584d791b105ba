"""`floodwatch-ioc`: config check, migrate, and accounts, as a user runs them."""

import re
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ioc import SAMPLE_CONFIG
from ioc.accounts import USERNAME_PATTERN
from ioc.cli import app

runner = CliRunner()


def config_with_database(tmp_path: Path) -> Path:
    path = tmp_path / "ioc.yaml"
    path.write_text(SAMPLE_CONFIG.read_text().replace("sqlite:///ioc.sqlite", f"sqlite:///{tmp_path / 'ioc.sqlite'}"))
    return path


def test_the_sample_config_is_valid() -> None:
    done = subprocess.run(
        [Path(sys.executable).parent / "floodwatch-ioc", "check", str(SAMPLE_CONFIG)], capture_output=True, text=True
    )
    assert done.returncode == 0 and "valid" in done.stdout


def test_a_wrong_config_names_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "ioc.yaml"
    path.write_text("http:\n  port: 8470\nauth:\n  session_ttl_h: -1\n")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert f"{path}:4 auth.session_ttl_h: Input should be greater than 0" in result.output
    assert "Traceback" not in result.output


def test_user_add_stores_an_argon2_hash_and_refuses_what_it_cannot_use(tmp_path: Path) -> None:
    config = config_with_database(tmp_path)
    added = runner.invoke(
        app,
        ["user", "add", "lan", "--role", "operator", "--config", str(config), "--password-stdin"],
        input="correct horse battery\n",
    )
    assert added.exit_code == 0, added.output
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ioc.sqlite'}")
    with engine.connect() as connection:
        [(role, hashed)] = connection.execute(sa.text("SELECT role, password_hash FROM users")).all()
    assert role == "operator" and hashed.startswith("$argon2id$") and "correct horse" not in hashed
    again = runner.invoke(app, ["user", "add", "lan", "--config", str(config), "--password-stdin"], input="x" * 12)
    assert again.exit_code == 1 and "user 'lan' exists" in again.output
    short = runner.invoke(app, ["user", "add", "minh", "--config", str(config), "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "at least 8 characters" in short.output


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(username=st.text(min_size=0, max_size=70))
def test_any_user_name_is_added_or_refused_with_a_reason(tmp_path: Path, username: str) -> None:
    config = config_with_database(tmp_path)
    result = runner.invoke(
        app, ["user", "add", "--config", str(config), "--password-stdin", "--", username], input="long enough pw\n"
    )
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if re.fullmatch(USERNAME_PATTERN, username):
        assert result.exit_code in (0, 1)  # 1: added by an earlier example
    else:
        assert result.exit_code != 0 and result.output.strip()

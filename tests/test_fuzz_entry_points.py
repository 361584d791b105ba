"""Fuzzing the remaining command lines (the pattern of test_fuzz_config_and_cli.py):
`floodwatch-ioc` (every subcommand, its config file missing, garbage, a directory),
`floodwatch-grafana`, `floodwatch-demo`'s arguments (the stack is never started) and
`floodwatch-rules backtest|calibrate` (bad dates, zones, stations, missing files). Whatever
the arguments, a command exits 0, 1 or 2 with a reason and never a traceback; bad input is 2."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from devstack import demo
from edge_agent.cli import app as edge_app
from grafana.cli import app as grafana_app
from ingest.cli import app as ingest_app
from ioc.cli import app as ioc_app
from rules.cli import app as rules_app
from rules.levels import SHIPPED_ALARM_LEVELS, SHIPPED_RULES
from rules.network import SHIPPED_NETWORK

ROOT = Path(__file__).resolve().parents[1]
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ODD = ["", "-1", "0", "nan", "inf", "1e309", "x", "--", "-x", "--help-me", "é", "9" * 30, "\x00"]
DATES = [
    "2020-10-06",
    "2020-10-07T00:00+07:00",
    "2020-13-01",
    "2020-10-06T25:00",
    "yesterday",
    "",
    "0001-01-01",
    "2020-10-06T00:00+25:00",
    "9999-12-31T23:59:59-23:59",
]


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Files a user might name by mistake: missing, garbage, empty, a directory, a CSV of nonsense.
    The working directory is `tmp_path`: an IOC config of defaults keeps its database there."""
    monkeypatch.chdir(tmp_path)
    garbage = tmp_path / "garbage.yaml"
    garbage.write_bytes(b"\xff\xfe{[: \x00 &a *b\n  - : :\n")
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "nonsense.csv").write_text("time,station,level_m\nnot a time,Le Thuy,x\n2020-10-06,,1\n")
    (tmp_path / "dir").mkdir()
    yield [str(tmp_path / name) for name in ("missing.yaml", "garbage.yaml", "empty.yaml", "nonsense.csv", "dir")]


def _invoke(app: object, args: list[str], env: dict[str, str] | None = None) -> None:
    result = CliRunner().invoke(app, args, env=env)  # type: ignore[arg-type]
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))
    assert result.exit_code in (0, 1, 2), (args, result.output)
    if result.exit_code:
        assert result.output.strip(), f"{args}: a refusal without a reason"


_token = st.one_of(st.sampled_from(ODD), st.text(max_size=8))


@FUZZ
@given(
    command=st.sampled_from(
        [
            ["check"],
            ["migrate"],
            ["run"],
            ["sirens"],
            ["user", "add", "op", "--password-stdin"],
            ["cap", "--example", "--policy"],
            ["public-policy"],
        ]
    ),
    which=st.integers(0, 4),
    extra=st.lists(st.one_of(st.sampled_from(["--log-level", "--role", "--config"]), _token), max_size=3),
)
def test_ioc_commands_refuse_a_bad_config_with_a_reason(
    paths: list[str], command: list[str], which: int, extra: list[str]
) -> None:
    # The bad file comes last, so a command that would serve (run, sirens) is always refused first;
    # an empty file is a valid config (every default), so they never get that one.
    if command[0] in ("run", "sirens") and paths[which].endswith("empty.yaml"):
        which = 0
    config = ["--config", paths[which]] if command[0] in ("migrate", "run", "sirens", "user") else [paths[which]]
    if command[0] == "cap":
        config = [paths[which]]
    _invoke(ioc_app, [*command, *extra, *config])


@FUZZ
@given(
    command=st.sampled_from(["generate", "reference", "push"]),
    options=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "--check",
                    "--out",
                    "--influx-url",
                    "--database",
                    "--network",
                    "--levels",
                    "--url",
                    "--token-env",
                    "--source",
                ]
            ),
            st.one_of(st.sampled_from(["http://127.0.0.1:1", "not a url", "ftp://x", "UNSET_FUZZ_TOKEN"]), _token),
        ),
        max_size=3,
    ),
    which=st.integers(0, 4),
)
@example(command="reference", options=[("--influx-url", "\x00")], which=4)  # found: httpx's InvalidURL traceback
@example(command="push", options=[("--url", "http://\x00")], which=4)
def test_grafana_commands_refuse_with_a_reason(
    paths: list[str], command: str, options: list[tuple[str, str]], which: int
) -> None:
    args = [command] + [part for option, value in options for part in (option, value)]
    if command == "generate":
        args += ["--check", "--out", paths[which]]  # never rewrite grafana/dashboards/
    if command == "reference" and which < 3:
        args += ["--network", paths[which]]
    _invoke(grafana_app, args, env={"FUZZ_TOKEN": "t"})


@FUZZ
@given(
    options=st.lists(
        st.tuples(
            st.sampled_from(["--from", "--to", "--speedup", "--poll-s", "--duration-s", "--data-dir", "--nope"]),
            st.one_of(st.sampled_from([*DATES, "-5", "0", "nan", "inf", "7200"]), _token),
        ),
        max_size=4,
    )
)
@example(options=[("--from", "--"), ("--to", "2020-10-07T00:00+07:00")])  # found: argparse reads "--from=--" as []
@example(options=[("--data-dir", "--")])
def test_demo_arguments_parse_or_exit_2_with_a_reason(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, options: list[tuple[str, str]]
) -> None:
    argv = ["floodwatch-demo", *(f"{option}={value}" for option, value in options)]
    monkeypatch.setattr(sys, "argv", argv)
    try:
        args = demo._parse_args()
    except SystemExit as stop:
        assert stop.code == 2, argv
        assert "error:" in capsys.readouterr().err, argv
        return
    assert args.start < args.end and args.speedup > 0 and args.poll_s > 0, argv
    assert args.duration_s is None or args.duration_s > 0, argv


@FUZZ
@given(
    rule_file=st.sampled_from([str(SHIPPED_RULES), "missing", "garbage"]),
    dates=st.tuples(st.sampled_from(DATES), st.sampled_from(DATES)),
    options=st.lists(
        st.tuples(
            st.sampled_from(["--csv", "--levels", "--network", "--sensors", "--forecast", "--influx-url"]),
            st.integers(0, 4),
        ),
        max_size=2,
    ),
)
def test_backtest_refuses_bad_dates_and_files_with_a_reason(
    paths: list[str], rule_file: str, dates: tuple[str, str], options: list[tuple[str, int]], tmp_path: Path
) -> None:
    rules = {"missing": paths[0], "garbage": paths[1]}.get(rule_file, rule_file)
    args = ["backtest", rules, "--from", dates[0], "--to", dates[1], "--out", str(tmp_path / "out")]
    for option, which in options:
        value = "http://127.0.0.1:1" if option == "--influx-url" else paths[which]
        args += [option, value]
    if not options:
        args += ["--csv", paths[3]]  # the shipped CSVs would replay for real: slow, and not the point here
    _invoke(rules_app, args)


@FUZZ
@given(
    station=st.sampled_from(["le_thuy", "kien_giang", "nowhere", "", "LE_THUY"]),
    dates=st.tuples(st.sampled_from(DATES), st.sampled_from(DATES)),
    out=st.sampled_from(["missing/dir/model.yaml", "dir"]),
    options=st.lists(
        st.tuples(
            st.sampled_from(["--csv", "--levels", "--network", "--max-lag-h", "--train-above-m"]),
            st.integers(0, 4),
            st.sampled_from(["-1", "0", "nan", "100000", "x"]),
        ),
        max_size=2,
    ),
)
def test_calibrate_refuses_bad_stations_dates_and_files_with_a_reason(
    paths: list[str], station: str, dates: tuple[str, str], out: str, options: list[tuple[str, int, str]]
) -> None:
    base = Path(paths[0]).parent
    args = ["calibrate", station, "--from", dates[0], "--to", dates[1], "--out", str(base / out), "--csv", paths[3]]
    for option, which, number in options:
        args += [option, number if option in ("--max-lag-h", "--train-above-m") else paths[which]]
    _invoke(rules_app, args)


def test_calibrate_into_a_missing_directory_says_so(paths: list[str]) -> None:
    csv = ROOT / "data" / "quangbinh_2020_level_observed.csv"
    out = Path(paths[0]).parent / "missing" / "model.yaml"
    args = ["calibrate", "le_thuy", "--from", "2020-10-01", "--to", "2020-11-01", "--out", str(out), "--csv", str(csv)]
    args += ["--levels", str(SHIPPED_ALARM_LEVELS), "--network", str(SHIPPED_NETWORK)]
    result = CliRunner().invoke(rules_app, args)
    assert result.exit_code == 2 and "cannot write" in result.output, (result.output, repr(result.exception))


@settings(max_examples=15, deadline=None)
@given(
    command=st.sampled_from(["rules", "ingest", "edge"]),
    level=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8).filter(
        lambda text: text.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
    ),
)
def test_a_service_refuses_an_unknown_log_level_without_a_traceback(command: str, level: str) -> None:
    # Before, `floodwatch-rules run --log-level nope` ended in logging's ValueError traceback.
    apps = {"rules": (rules_app, ["run"]), "ingest": (ingest_app, ["run"]), "edge": (edge_app, ["run", "x.yaml"])}
    app, args = apps[command]
    result = CliRunner().invoke(app, [*args, "--log-level", level])  # type: ignore[arg-type]
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "--log-level" in result.output

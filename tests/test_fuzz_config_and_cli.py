"""Fuzzing the files people write and the commands they type: the gateway config, the ingest
and rule-service configs, the rule file, and `floodwatch-ingest check`, `floodwatch-rules
check|validate`. Each sample is mutated (a line dropped, duplicated or cut, a value replaced by
another type, bytes thrown in); whatever comes out, the loader either accepts it or raises
`ConfigError` with file:line, and a command exits 0, 1 or 2 with a reason, never a traceback."""

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from edge_agent.config import load_site
from ingest.cli import app as ingest_app
from ingest.config import load_ingest_config
from rules.cli import app as rules_app
from rules.levels import SHIPPED_ALARM_LEVELS, SHIPPED_RULES, load_alarm_levels
from rules.rulebook import load_rulebook
from rules.service_config import load_rules_service_config
from typed_config import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = {
    "gateway": ROOT / "edge_agent" / "gateway.sample.yaml",
    "ingest": ROOT / "ingest" / "ingest.sample.yaml",
    "rules_service": ROOT / "rules" / "rules-service.sample.yaml",
    "rule_file": SHIPPED_RULES,
}
LEVELS = load_alarm_levels(SHIPPED_ALARM_LEVELS)
LOADERS: dict[str, Callable[[Path], object]] = {
    "gateway": lambda path: load_site(path),
    "ingest": load_ingest_config,
    "rules_service": load_rules_service_config,
    "rule_file": lambda path: load_rulebook(path, LEVELS),
}
ODD_VALUES = [
    "",
    "-1",
    "0",
    "1e309",
    "nan",
    "yes",
    "null",
    "[]",
    "{}",
    "'x'",
    "{file: /etc/shadow}",
    "9" * 30,
    "&a",
    "*a",
]

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_mutation = st.one_of(
    st.tuples(st.just("drop"), st.integers(0, 400)),
    st.tuples(st.just("double"), st.integers(0, 400)),
    st.tuples(st.just("cut"), st.integers(0, 400), st.integers(0, 80)),
    st.tuples(st.just("value"), st.integers(0, 400), st.sampled_from(ODD_VALUES)),
    st.tuples(st.just("insert"), st.integers(0, 400), _text),
)


def mutate(text: str, mutations: list[tuple[object, ...]]) -> str:
    lines = text.splitlines()
    for kind, where, *rest in mutations:
        if not lines:
            break
        i = int(where) % len(lines)  # type: ignore[call-overload]
        if kind == "drop":
            del lines[i]
        elif kind == "double":
            lines.insert(i, lines[i])
        elif kind == "cut":
            lines[i] = lines[i][: int(rest[0])]  # type: ignore[call-overload]
        elif kind == "value" and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {rest[0]}"
        elif kind == "insert":
            lines.insert(i, str(rest[0]))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("kind", sorted(SAMPLES))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(_mutation, min_size=1, max_size=4))
def test_a_mutated_config_loads_or_is_refused_with_its_line(
    tmp_path: Path, kind: str, mutations: list[tuple[object, ...]]
) -> None:
    path = tmp_path / SAMPLES[kind].name
    path.write_text(mutate(SAMPLES[kind].read_text(), mutations))
    try:
        LOADERS[kind](path)
    except ConfigError as error:
        assert str(path) in str(error) and str(error).strip() != str(path)  # names the file and says why


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    command=st.sampled_from(["ingest check", "rules check", "rules validate"]),
    mutations=st.lists(_mutation, max_size=3),
    extra=st.lists(
        st.sampled_from(["--levels", "--sensors", "--network", "--config", "-x", "/nonexistent", ""]), max_size=2
    ),
)
def test_commands_refuse_with_a_reason_and_no_traceback(
    tmp_path: Path, command: str, mutations: list[tuple[object, ...]], extra: list[str]
) -> None:
    program, sub = command.split()
    sample = {"ingest": SAMPLES["ingest"], "rules": SAMPLES["rule_file"]}[program]
    path = tmp_path / sample.name
    path.write_text(mutate(sample.read_text(), mutations or [("insert", 0, "# fuzz")]))
    args = [sub, str(path), *extra]
    result = CliRunner().invoke(ingest_app if program == "ingest" else rules_app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code:
        assert result.output.strip(), "a refusal without a reason"


@pytest.mark.parametrize("program", ["ingest", "rules"])
@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        ("missing_password", "cannot read it"),
        ("open_password", "mode 0644 lets others read it"),
        ("missing_ca", "cannot load the CA certificate"),
        ("empty_env", "environment variable is not set"),
    ],
)
def test_run_refuses_unusable_credentials_before_connecting(
    tmp_path: Path, program: str, broken: str, reason: str
) -> None:
    secret, ca = tmp_path / "password", tmp_path / "ca.pem"
    secret.write_text("s3cret\n")
    secret.chmod(0o644 if broken == "open_password" else 0o600)
    ca.write_text("not a certificate\n" if broken == "missing_ca" else "")
    password = "{env: FLOODWATCH_FUZZ_UNSET}" if broken == "empty_env" else f"{{file: {secret}}}"
    if broken == "missing_password":
        secret.unlink()
    config = tmp_path / "service.yaml"
    ca_line = f"tls_ca_file: {ca}, " if broken == "missing_ca" else ""
    config.write_text(f"broker: {{port: 1, {ca_line}username: u, password: {password}}}\n")
    result = CliRunner().invoke(ingest_app if program == "ingest" else rules_app, ["run", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert reason in result.output, result.output

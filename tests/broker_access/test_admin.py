"""`floodwatch-admin` against a broker of the test's own: add, rotate and revoke take effect at
the SIGHUP reload, and the other clients stay connected."""

import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from broker_access.admin import app
from broker_access.directory import AccessDirectory
from centre.broker_login import BrokerLogin
from devstack.services import Mosquitto
from typed_config.secrets import read_secret_file

runner = CliRunner()


def _admin(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _connack(broker: Mosquitto, login: BrokerLogin) -> int:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="admin-check")
    login.apply(client)
    answer: list[int] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: answer.append(reason.value)
    client.connect("127.0.0.1", broker.port, keepalive=5)
    while not answer and client.loop(0.1) == 0:
        pass
    client.disconnect()
    assert answer, "no CONNACK"
    return answer[0]


def test_add_rotate_revoke_through_a_reload(tmp_path: Path) -> None:
    access = tmp_path / "access"
    _admin("init", str(access), "--host", "127.0.0.1", "--gateway", "hue-1")
    directory = AccessDirectory(access)
    assert oct(directory.secret_path("hue-1").stat().st_mode & 0o777) == "0o600"
    assert oct(directory.password_path.stat().st_mode & 0o777) == "0o600"
    broker = Mosquitto(tmp_path, access=directory).start()
    try:
        pid = str(broker.pid_path)
        staying = broker.client("hue-1", "hue-1-staying")
        dropped = threading.Event()
        staying.on_disconnect = lambda *_: dropped.set()
        staying.connect("127.0.0.1", broker.port, keepalive=5)
        staying.loop_start()

        assert "added hue-2" in _admin("add-gateway", str(access), "hue-2", "--reload", pid)
        broker.wait_for_login("hue-2")

        old = broker.login("hue-2")
        assert "rotated hue-2" in _admin("rotate", str(access), "hue-2", "--reload", pid)
        broker.wait_for_login("hue-2")
        assert _connack(broker, old) == 135  # not authorised

        login = broker.login("hue-2")
        assert "revoked hue-2" in _admin("revoke", str(access), "hue-2", "--reload", pid)
        assert not directory.secret_path("hue-2").exists()
        broker.wait_for_login("hue-1")  # the reload is done once it answers again
        assert _connack(broker, login) == 135
        assert "hue-2" not in _admin("show", str(access))
        assert not dropped.is_set() and staying.is_connected()  # three reloads, hue-1 never dropped
        staying.loop_stop()
        staying.disconnect()
    finally:
        broker.stop()


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["add-gateway", "{access}", "Bad Id"], "must match"),
        (["add-gateway", "{access}", "ingest"], "exists already"),
        (["rotate", "{access}", "nobody"], "no account 'nobody'"),
        (["revoke", "{access}", "ingest"], "no gateway 'ingest'"),
        (["add-gateway", "{access}", "hue-3", "--reload", "{access}/no.pid"], "cannot read the broker's pid"),
        (["show", "{missing}"], "registry.yaml"),
        (["init", "{access}", "--host", "127.0.0.1"], "already initialised"),
    ],
)
def test_refusals_say_why(tmp_path: Path, args: list[str], reason: str) -> None:
    access = tmp_path / "access"
    AccessDirectory(access).init(["127.0.0.1"])
    filled = [a.format(access=access, missing=tmp_path / "missing") for a in args]
    result = runner.invoke(app, filled)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert reason in result.output, result.output


@settings(max_examples=60, deadline=None)
@given(
    command=st.sampled_from(["init", "add-gateway", "rotate", "revoke", "show", "nonsense"]),
    words=st.lists(
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12), max_size=3
    ),
)
def test_fuzzed_arguments_never_end_in_a_traceback(
    tmp_path_factory: pytest.TempPathFactory, command: str, words: list[str]
) -> None:
    access = tmp_path_factory.mktemp("fuzz") / "access"
    AccessDirectory(access).init(["127.0.0.1"])
    result = runner.invoke(app, [command, str(access), *words])
    assert result.exit_code in (0, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code:
        assert result.output.strip()  # a refusal says why
    assert read_secret_file(access / "passwords")  # whatever happened, the broker's files are whole

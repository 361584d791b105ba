"""`floodwatch-grafana push` against a real HTTP server on loopback that checks each API call
the way Grafana's HTTP API answers it (paths, bearer token, bodies, 404 for a missing folder)."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from typer.testing import CliRunner

from devstack.services import free_port
from grafana.cli import app
from grafana.generate import load_dashboards
from grafana.push import PushError, push_dashboards

TOKEN = "glsa_test_token"


class GrafanaDouble:
    """Folders and dashboards kept in memory; every request is recorded as (method, path, body)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.folders: dict[str, str] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, int] = {}

    def answer(self, method: str, path: str, auth: str | None, body: Any) -> tuple[int, Any]:
        self.calls.append((method, path, body))
        if auth != f"Bearer {TOKEN}":
            return 401, {"message": "Unauthorized"}
        if method == "GET" and path.startswith("/api/folders/"):
            uid = path.rsplit("/", 1)[1]
            if uid not in self.folders:
                return 404, {"message": "folder not found", "status": "not-found"}
            return 200, {"uid": uid, "title": self.folders[uid]}
        if method == "POST" and path == "/api/folders":
            if set(body) != {"title", "uid"}:
                return 400, {"message": f"bad folder body {body}"}
            self.folders[body["uid"]] = body["title"]
            return 200, {"uid": body["uid"], "title": body["title"]}
        if method == "POST" and path == "/api/dashboards/db":
            dashboard = body["dashboard"]
            if body.get("folderUid") not in self.folders:
                return 400, {"message": "folder does not exist"}
            if dashboard.get("id") is not None or not dashboard.get("uid"):
                return 400, {"message": "new dashboards need id null and a uid"}
            uid = dashboard["uid"]
            if uid in self.dashboards and not body.get("overwrite"):
                return 412, {"message": "version-mismatch", "status": "version-mismatch"}
            self.dashboards[uid] = dashboard
            self.versions[uid] = self.versions.get(uid, 0) + 1
            return 200, {"uid": uid, "version": self.versions[uid], "url": f"/d/{uid}/x", "status": "success"}
        return 404, {"message": f"no route {method} {path}"}


@pytest.fixture
def grafana_double() -> Iterator[tuple[str, GrafanaDouble]]:
    double = GrafanaDouble()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, answer = double.answer(self.command, self.path, self.headers.get("Authorization"), body)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, name="grafana-double", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", double
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_push_creates_the_folder_then_every_dashboard_and_overwrites_on_rerun(
    grafana_double: tuple[str, GrafanaDouble],
) -> None:
    url, double = grafana_double
    boards = load_dashboards()
    first = push_dashboards(url, TOKEN, boards)
    assert [(m, p) for m, p, _ in double.calls[:2]] == [("GET", "/api/folders/floodwatch"), ("POST", "/api/folders")]
    assert double.folders == {"floodwatch": "Floodwatch"}
    assert sorted(double.dashboards) == sorted(b["uid"] for b in boards.values())
    for uid, stored in double.dashboards.items():
        original = next(b for b in boards.values() if b["uid"] == uid)
        assert stored == {**original, "id": None}
    assert {p.version for p in first} == {1}
    double.calls.clear()
    second = push_dashboards(url, TOKEN, boards)
    assert [(m, p) for m, p, _ in double.calls] == [("GET", "/api/folders/floodwatch")] + [
        ("POST", "/api/dashboards/db")
    ] * len(boards)
    assert all(body["overwrite"] is True and body["folderUid"] == "floodwatch" for _, _, body in double.calls[1:])
    assert {p.version for p in second} == {2}


def test_push_cli_reads_the_token_from_the_environment_and_reports_refusals(
    grafana_double: tuple[str, GrafanaDouble],
) -> None:
    url, double = grafana_double
    runner = CliRunner()
    missing = runner.invoke(app, ["push", "--url", url], env={"GRAFANA_TOKEN": ""})
    assert missing.exit_code == 2 and "GRAFANA_TOKEN" in missing.output
    refused = runner.invoke(app, ["push", "--url", url], env={"GRAFANA_TOKEN": "wrong"})
    assert refused.exit_code == 1
    assert "Unauthorized" in refused.output and "Traceback" not in refused.output
    assert double.dashboards == {}
    done = runner.invoke(app, ["push", "--url", url], env={"GRAFANA_TOKEN": TOKEN})
    assert done.exit_code == 0, done.output
    assert "floodwatch-overview: version 1" in done.output


def test_push_to_nothing_listening_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PushError, match=url):
        push_dashboards(url, TOKEN, load_dashboards(), timeout_s=2)

"""Push the generated dashboards to a live Grafana over its HTTP API (grafana-client).

    GET  /api/folders/<uid>           the Floodwatch folder; 404 -> POST /api/folders
    POST /api/dashboards/db           each dashboard, {"dashboard", "folderUid", "overwrite": true}

The datasource is not pushed: Grafana's provisioning file (provisioning/datasources/)
creates it with uid `floodwatch-influxdb`, which every panel names.
"""

from dataclasses import dataclass
from typing import Any

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from grafana.boards import FOLDER_TITLE, FOLDER_UID


@dataclass
class PushError(RuntimeError):
    url: str
    step: str
    reason: str

    def __str__(self) -> str:
        return f"push to {self.url} failed at {self.step}: {self.reason}"


@dataclass(frozen=True)
class Pushed:
    uid: str
    version: int
    url: str


def push_dashboards(
    url: str, token: str, dashboards: dict[str, dict[str, Any]], timeout_s: float = 10.0
) -> list[Pushed]:
    """Create the folder if missing, then create or overwrite each dashboard in it."""
    api = GrafanaApi.from_url(url, credential=token, timeout=timeout_s)
    try:
        try:
            api.folder.get_folder(FOLDER_UID)
        except GrafanaClientError as error:
            if error.status_code != 404:
                raise
            api.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID)
        pushed = []
        for model in dashboards.values():
            body = {
                "dashboard": {**model, "id": None},
                "folderUid": FOLDER_UID,
                "overwrite": True,
                "message": "floodwatch-grafana push",
            }
            answer = api.dashboard.update_dashboard(body)
            pushed.append(Pushed(str(answer["uid"]), int(answer["version"]), str(answer.get("url", ""))))
        return pushed
    except GrafanaException as error:
        raise PushError(url, "the Grafana API", str(error)) from error
    except OSError as error:
        raise PushError(url, "connecting", f"{type(error).__name__}: {error}") from error

"""The dashboards as JSON files in grafana/dashboards/, which Grafana's provisioning loads."""

import json
from pathlib import Path
from typing import Any

from grafana.boards import DASHBOARDS, dashboard_json

DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboards"


def all_dashboards() -> dict[str, dict[str, Any]]:
    return {name: dashboard_json(name) for name in DASHBOARDS}


def dashboard_text(model: dict[str, Any]) -> str:
    return json.dumps(model, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_dashboards(directory: Path = DASHBOARD_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in all_dashboards().items():
        path = directory / f"{name}.json"
        path.write_text(dashboard_text(model), encoding="utf-8")
        written.append(path)
    return written


def stale_dashboards(directory: Path = DASHBOARD_DIR) -> list[str]:
    """Names of the files that differ from what the code builds (missing files included)."""
    stale = []
    for name, model in all_dashboards().items():
        path = directory / f"{name}.json"
        if not path.exists() or path.read_text(encoding="utf-8") != dashboard_text(model):
            stale.append(path.name)
    return stale


def load_dashboards(directory: Path = DASHBOARD_DIR) -> dict[str, dict[str, Any]]:
    """The committed JSON files, as Grafana would read them."""
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.json"))}

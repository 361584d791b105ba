"""The gateway must install and run on a Pi without the centre's dependencies."""

import subprocess
import sys

CENTRE_ONLY = ("numba", "numpy", "httpx", "ingest", "rules", "devstack")


def test_edge_agent_imports_nothing_from_the_centre() -> None:
    code = f"import sys, edge_agent.cli; print(','.join(m for m in {CENTRE_ONLY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""


def test_edge_extra_declares_no_centre_dependency() -> None:
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    edge = " ".join(project["dependencies"] + project["optional-dependencies"]["edge"]).lower()
    assert not any(name in edge for name in ("numba", "numpy", "httpx", "influx", "fastapi"))

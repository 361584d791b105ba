"""`floodwatch-ioc run` in a process of its own, for the benchmarks: the server does not share
the load generator's interpreter (and its GIL). Started and stopped like the other services."""

import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from devstack.services import Service


class IocProcess(Service):
    def __init__(self, root: Path, name: str, config: dict[str, Any]) -> None:
        """`config`: the IOC config's keys (written to `root/<name>.yaml`); it must set http.port."""
        super().__init__(name, root, int(config["http"]["port"]))
        self.config = config

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "IocProcess":
        config_path = self.root / f"{self.name}.yaml"
        config_path.write_text(yaml.safe_dump(self.config))
        script = Path(sys.executable).parent / "floodwatch-ioc"
        self._launch([str(script), "run", "--config", str(config_path), "--log-level", "WARNING"])
        self._wait_until(self._answers, timeout_s=60)
        return self

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/openapi.json", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

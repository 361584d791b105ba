"""`python -m devstack.grafana_previews`: the dashboards drawn from the October 2020 replay.

Starts its own InfluxDB (temporary directory, free port), loads the demo's replay
(devstack.replay_influx) and renders each dashboard to grafana/previews/<name>.png
with grafana.preview, at what an IOC operator would have on screen on 19 October 2020
at noon, a few hours after Lệ Thủy's peak (4.88 m); the fleet at 15:00 on 8 October,
three hours after the (made-up) 4G outage of the Kiến Giang gateway.
"""

import argparse
import tempfile
from datetime import datetime
from pathlib import Path

from centre.influx import InfluxV1
from devstack.replay_influx import load_replay
from devstack.services import InfluxDB
from grafana.generate import load_dashboards
from grafana.macros import Expansion
from grafana.preview import render_dashboard

PREVIEW_DIR = Path(__file__).resolve().parent.parent / "grafana" / "previews"
NOW = datetime.fromisoformat("2020-10-19T12:00:00+07:00")
FLEET_NOW = datetime.fromisoformat("2020-10-08T15:00:00+07:00")
# dashboard -> (now, days shown before it, variables chosen; the others take all their values)
VIEWS: dict[str, tuple[datetime, int, dict[str, str]]] = {
    "province_overview": (NOW, 7, {}),
    "river_hydrographs": (NOW, 14, {"river": "Kiến Giang"}),
    "rainfall": (NOW, 14, {}),
    "gateway_fleet": (FLEET_NOW, 1, {}),
    "camera_cabinets": (NOW, 14, {"station": "le_thuy"}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=PREVIEW_DIR)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="floodwatch-previews-") as tmp:
        server = InfluxDB(Path(tmp), auth=False).start()
        try:
            influx = InfluxV1(server.url, "floodwatch")
            influx.create_database()
            load_replay(
                influx,
                datetime.fromisoformat("2020-10-01T00:00:00+07:00"),
                datetime.fromisoformat("2020-11-01T00:00:00+07:00"),
            )
            for name, model in load_dashboards().items():
                now, days, chosen = VIEWS[name]
                to_ms = int(now.timestamp() * 1000)
                context = Expansion(to_ms - days * 86_400_000, to_ms)
                print(render_dashboard(influx, model, context, args.out / f"{name}.png", chosen))
            influx.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()

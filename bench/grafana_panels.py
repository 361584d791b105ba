"""Each dashboard panel's query on a year of 10-minute data for 50 stations: raw against rollup.

    .venv/bin/python bench/grafana_panels.py [--stations 50] [--days 365] [--repeat 5]

Starts its own InfluxDB 1.x and writes, in ingest's layout, `--days` of readings every
10 minutes for `--stations` stations: water_level and rain for each, and the six
camera-cabinet quantities for one station in ten (52,560 readings per series a year);
rollup_1h and rollup_1d are filled by the CQs' own query, the reference data by
grafana.reference; each station's gateway sends a heartbeat a minute for the last 8 days
(`gateway_status`: the fleet panels read at most 7 days). Then every panel of the five
dashboards is expanded by grafana.macros for a range of `--days` ending at the last
reading (all stations, and one station), and run `--repeat` times:

- rollup: the variables as Grafana sets them for that span ($rp = rollup_1d for a year);
- raw: the same panels with $rp = autogen, the fields = value and $rp_interval = 10s, what
  a dashboard without rollups would read.

A panel repeated per station (the hydrograph) runs one query per copy: it is timed for
one station. Printed: the median time per panel in ms, raw and rollup side by side, and
their ratio.
Queries that never read $rp (last value, 24 h sums, reference data) are the same in both.
Aim: <= 200 ms per panel on the rollups.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from centre.influx import InfluxV1
from centre.line_protocol import encode_points
from devstack.replay_influx import fill_rollups
from devstack.services import InfluxDB
from grafana.generate import load_dashboards
from grafana.macros import Expansion, Variable, expand, many, single
from grafana.panel_run import resolve_variables
from grafana.reference import RP_CHOICES, reference_points
from ingest.config import StorageConfig
from ingest.storage import apply_storage_layout
from rules.levels import SHIPPED_ALARM_LEVELS, load_alarm_levels
from rules.network import RiverNetwork

STEP_MS = 600_000
HEARTBEAT_DAYS = 8
END_MS = 1_609_459_200_000  # 2021-01-01T00:00:00Z
CABINET = ("supply_voltage", "temperature", "door_open", "poe_on", "link_up", "stream_alive")


def _lines(station: str, quantity: str, sensor: str, start_ms: int, count: int, seed: int) -> bytes:
    series_key = f"{quantity},gateway=gw-{station},sensor={station}.{sensor},station={station}"
    prefix = f'{series_key} clock_synced=true,quality="good",value='
    out = []
    for i in range(count):
        t = start_ms + i * STEP_MS
        value = (seed * 7 + i * 13) % 97 / 10.0
        out.append(f"{prefix}{value} {t}")
    return ("\n".join(out) + "\n").encode()


def _heartbeats(influx: InfluxV1, gateways: int) -> int:
    """The last HEARTBEAT_DAYS of heartbeats, one a minute per gateway (the fleet panels read 7 days)."""
    count = HEARTBEAT_DAYS * 1440
    for n in range(gateways):
        lines = [
            f"gateway_status,gateway=gw-s{n:02d} online=true,buffer_depth={i % 7}i,oldest_unsent_age_s={i % 7 * 60}.0,"
            f"device_errors={i // 1000}i,clock_synced=true {END_MS - (count - i) * 60_000}"
            for i in range(count)
        ]
        influx.write_lines(("\n".join(lines) + "\n").encode())
    return gateways * count


def load(influx: InfluxV1, stations: int, days: int) -> int:
    count = days * 86_400_000 // STEP_MS
    start_ms = END_MS - count * STEP_MS
    storage = StorageConfig()
    apply_storage_layout(influx, storage)
    written = 0
    for n in range(stations):
        station = f"s{n:02d}"
        series = [("water_level", "level"), ("rain", "rain")]
        if n % 10 == 0:
            series += [(q, f"cabinet.{q}") for q in CABINET]
        for quantity, sensor in series:
            for chunk in range(0, count, 50_000):
                size = min(50_000, count - chunk)
                influx.write_lines(_lines(station, quantity, sensor, start_ms + chunk * STEP_MS, size, n))
                written += size
        info = f"station_info,display_name=S{n:02d},river=R{n % 5},station={station}"
        influx.write_lines(f"{info} lat={16 + n / 100},lon=107.0 0\n".encode())
    fill_rollups(influx, storage, start_ms, END_MS)
    written += _heartbeats(influx, stations)
    influx.write_lines(
        encode_points(reference_points(RiverNetwork(stations=()), load_alarm_levels(SHIPPED_ALARM_LEVELS)))
    )
    return written


def median_ms(influx: InfluxV1, queries: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        for query in queries:
            influx.query(query)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="floodwatch-bench-grafana-") as tmp:
        server = InfluxDB(Path(tmp), auth=False).start()
        try:
            influx = InfluxV1(server.url, "floodwatch", timeout_s=300)
            influx.create_database()
            began = time.perf_counter()
            written = load(influx, args.stations, args.days)
            print(f"loaded {written:,} readings and their rollups in {time.perf_counter() - began:.0f} s")
            span = Expansion(END_MS - args.days * 86_400_000, END_MS)
            raw = RP_CHOICES[0]
            all_stations = many([f"s{n:02d}" for n in range(args.stations)])
            all_gateways = many([f"gw-s{n:02d}" for n in range(args.stations)])
            print(f"{'dashboard / panel':<62} {'stations':>8} {'raw ms':>9} {'rollup ms':>10} {'ratio':>7}")
            for name, model in load_dashboards().items():
                for label, station in (("all", all_stations), ("one", single("s00"))):
                    gateway = all_gateways if label == "all" else single("gw-s00")
                    chosen = {"station": station, "river": many([f"R{i}" for i in range(5)]), "gateway": gateway}
                    context = resolve_variables(influx, model, span, chosen)
                    raw_context = context.with_variables(
                        rp=single(raw.rp),
                        rp_interval=single(raw.min_interval),
                        **{k: Variable((v,)) for k, v in raw.fields.items()},
                    )
                    for panel in model["panels"]:
                        if panel.get("repeat") and label == "all":
                            continue  # Grafana repeats the panel: one query per station, timed as "one"
                        here = (int(panel.get("maxDataPoints", 1000)), panel.get("interval"), panel.get("timeFrom"))
                        rolled = [expand(t["query"], context.for_panel(*here)) for t in panel["targets"]]
                        plain = [expand(t["query"], raw_context.for_panel(*here)) for t in panel["targets"]]
                        rolled_ms = median_ms(influx, rolled, args.repeat)
                        raw_ms = median_ms(influx, plain, args.repeat) if plain != rolled else rolled_ms
                        title = f"{name} / {expand(panel['title'], context.with_variables(station=single('s00')))}"
                        print(
                            f"{title[:62]:<62} {label:>8} {raw_ms:>9.1f} {rolled_ms:>10.1f} {raw_ms / rolled_ms:>6.1f}x"
                        )
            influx.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()

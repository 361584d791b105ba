"""`scripts/query 'InfluxQL'`: query the data a stopped demo left in .demo/.

Starts InfluxDB on the kept data directory (a free port, authentication on as the
demo ran it), runs the query with the reader account, prints a table, and stops it again.
"""

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from centre.influx import InfluxError, InfluxV1
from devstack.services import InfluxDB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("influxql", help="for example: SELECT * FROM warning")
    parser.add_argument("--data-dir", type=Path, default=Path(".demo"))
    parser.add_argument("--database", default="floodwatch")
    args = parser.parse_args()
    if not (args.data_dir / "influxdb").is_dir():
        sys.exit(f"{args.data_dir}/influxdb does not exist: run scripts/demo first")
    server = InfluxDB(args.data_dir.resolve(), auth=True).start()
    server.grant(args.database)  # idempotent; a .demo/ from before authentication gets its accounts' rights
    client = InfluxV1(server.url, args.database, auth=server.credentials("reader"))
    try:
        for series in client.query(args.influxql, epoch=None):
            table = Table(*series["columns"], title=series["name"])
            for row in series["values"]:
                table.add_row(*("" if v is None else str(v) for v in row))
            Console().print(table)
    except InfluxError as error:
        sys.exit(str(error))
    finally:
        client.close()
        server.stop()


if __name__ == "__main__":
    main()

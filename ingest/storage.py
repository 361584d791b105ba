"""Retention policies and downsampled rollups (InfluxDB 1.x continuous queries).

    <db>.autogen.<quantity>          raw readings, kept `raw_retention` (INF: the flood record stays)
    <db>.rollup_<interval>.<quantity>  mean, min, max, sum, count of `value` per interval and series

Each rollup is one CQ over every quantity of the contract, keeping all tags
(`GROUP BY time(<interval>), *`), so a chart of years reads a few thousand
points per series instead of millions. `RESAMPLE EVERY e FOR f` recomputes the
last `f` every `e`: readings that arrive late (a gateway's backlog) are rolled
up as long as they are younger than `f`; older backlogs can be rolled up by
running the CQ's SELECT ... INTO by hand with a time range (see README).
"""

import logging

from centre.influx import InfluxV1
from ingest.config import RollupConfig, StorageConfig
from wire_contract import QUANTITY_UNITS

log = logging.getLogger(__name__)
RAW_RP = "autogen"


def rollup_rp(rollup: RollupConfig) -> str:
    return f"rollup_{rollup.interval}" + (f"_{rollup.offset}" if rollup.offset else "")


def cq_name(rollup: RollupConfig) -> str:
    return f"cq_{rollup_rp(rollup)}"


def rollup_select(database: str, rollup: RollupConfig) -> str:
    quantities = "|".join(sorted(QUANTITY_UNITS))
    return (
        'SELECT mean("value") AS "mean", min("value") AS "min", max("value") AS "max", '
        'sum("value") AS "sum", count("value") AS "count" '
        f'INTO "{database}"."{rollup_rp(rollup)}".:MEASUREMENT '
        f'FROM "{database}"."{RAW_RP}"./^({quantities})$/ '
        f"GROUP BY time({rollup.interval}{', ' + rollup.offset if rollup.offset else ''}), *"
    )


def continuous_query(database: str, rollup: RollupConfig) -> str:
    return (
        f'CREATE CONTINUOUS QUERY "{cq_name(rollup)}" ON "{database}" '
        f"RESAMPLE EVERY {rollup.resample_every} FOR {rollup.resample_for} "
        f"BEGIN {rollup_select(database, rollup)} END"
    )


def apply_storage_layout(influx: InfluxV1, storage: StorageConfig) -> None:
    """Create or update the retention policies and CQs; safe to run at every start."""
    db = influx.database
    influx.execute(f'ALTER RETENTION POLICY "{RAW_RP}" ON "{db}" DURATION {storage.raw_retention}')
    existing_rps = {row[0] for series in influx.query("SHOW RETENTION POLICIES") for row in series["values"]}
    existing_cqs = {
        row[0]: row[1]
        for series in influx.query("SHOW CONTINUOUS QUERIES")
        if series.get("name") == db
        for row in series.get("values", [])
    }
    for rollup in storage.rollups:
        rp = rollup_rp(rollup)
        verb = "ALTER" if rp in existing_rps else "CREATE"
        influx.execute(f'{verb} RETENTION POLICY "{rp}" ON "{db}" DURATION {rollup.retention} REPLICATION 1')
        wanted = continuous_query(db, rollup)
        current = existing_cqs.get(cq_name(rollup))
        if current is not None and _same_cq(current, wanted):
            continue
        if current is not None:
            influx.execute(f'DROP CONTINUOUS QUERY "{cq_name(rollup)}" ON "{db}"')
        influx.execute(wanted)
        log.info("continuous_query_created", extra={"event": "continuous_query_created", "cq": cq_name(rollup)})


def _same_cq(current: str, wanted: str) -> bool:
    # InfluxDB prints the CQ back normalised (quotes, spacing); compare what matters.
    def canon(text: str) -> str:
        return "".join(ch for ch in text.lower() if ch not in '" ')

    return canon(current) == canon(wanted)

"""An InfluxQL panel target for grafana-foundation-sdk, which ships no InfluxDB query type.

Written as Grafana's InfluxDB datasource saves a raw InfluxQL query (`rawQuery: true`,
`query`, `resultFormat`), so the editor opens it in raw mode.
"""

import typing

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

DATASOURCE_UID = "floodwatch-influxdb"
DATASOURCE = DataSourceRef(type_val="influxdb", uid=DATASOURCE_UID)
ResultFormat = typing.Literal["time_series", "table"]


class InfluxQLQuery(cogvariants.Dataquery):
    def __init__(self, ref_id: str, query: str, result_format: ResultFormat, alias: str | None = None) -> None:
        self.ref_id = ref_id
        self.query = query
        self.result_format = result_format
        self.alias = alias

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "datasource": DATASOURCE.to_json(),
            "rawQuery": True,
            "query": self.query,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            payload["alias"] = self.alias
        return payload


class InfluxQL(cogbuilder.Builder[cogvariants.Dataquery]):
    """`InfluxQL("A", "SELECT ... WHERE $timeFilter ...")`, a raw query in table or time-series form."""

    def __init__(self, ref_id: str, query: str, result_format: ResultFormat = "time_series") -> None:
        self._query = InfluxQLQuery(ref_id, query, result_format)

    def alias(self, alias: str) -> typing.Self:
        self._query.alias = alias
        return self

    def build(self) -> InfluxQLQuery:
        return self._query

"""A small client for InfluxDB's v1 HTTP API: /write (line protocol), /query (InfluxQL).

InfluxDB 1.x serves these natively; 2.x and 3 serve them as compatibility
endpoints, with a token passed as `Authorization: Token <token>`.

Faults are sorted by kind, so callers know what to do with a batch:
InfluxUnavailable (connection error, timeout, 5xx, 429, 404 database not found:
the server is not yet set up) -> keep it and retry; InfluxRejected (other 4xx:
bad line, type conflict) -> it will never be accepted.
"""

from dataclasses import dataclass
from typing import Any

import httpx

from centre.line_protocol import Point, encode_points


class InfluxError(RuntimeError):
    pass


class InfluxUnavailable(InfluxError):
    pass


class InfluxUnauthorised(InfluxUnavailable):
    """401/403: the account is wrong or may not do this. The data is fine, so a batch is kept
    and retried (a password fixed and the service restarted loses nothing), never dropped."""


@dataclass
class InfluxRejected(InfluxError):
    status: int
    body: str

    def __str__(self) -> str:
        return f"InfluxDB refused the write ({self.status}): {self.body[:300]}"


class InfluxV1:
    def __init__(
        self,
        url: str,
        database: str,
        token: str | None = None,
        timeout_s: float = 10.0,
        *,
        auth: tuple[str, str] | None = None,
    ) -> None:
        """`auth`: an InfluxDB 1.x user and password (HTTP basic), with `auth-enabled = true`."""
        headers = {"Authorization": f"Token {token}"} if token else {}
        self.url = url.rstrip("/")
        self.database = database
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s, auth=auth)

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.post(path, **kwargs)
        except httpx.HTTPError as error:
            raise InfluxUnavailable(f"{self.url}{path}: {type(error).__name__}: {error}") from error
        if response.status_code in (401, 403):
            raise InfluxUnauthorised(f"{self.url}{path}: HTTP {response.status_code}: {response.text[:300]}")
        if response.status_code >= 500 or response.status_code in (404, 429):
            raise InfluxUnavailable(f"{self.url}{path}: HTTP {response.status_code}: {response.text[:300]}")
        if response.status_code >= 400:
            raise InfluxRejected(response.status_code, response.text)
        return response

    def write(self, points: list[Point]) -> None:
        if points:
            self.write_lines(encode_points(points))

    def write_lines(self, lines: bytes) -> None:
        """Line protocol as it is, timestamps in milliseconds."""
        self._post("/write", params={"db": self.database, "precision": "ms"}, content=lines)

    def query(self, influxql: str, epoch: str | None = "ms") -> list[dict[str, Any]]:
        """Run InfluxQL; the series of the first statement (name, tags, columns, values).

        Times come as integers in `epoch` units, or as RFC 3339 strings with epoch=None.
        """
        params = {"db": self.database, "q": influxql} | ({"epoch": epoch} if epoch else {})
        response = self._post("/query", params=params)
        result = response.json()["results"][0]
        if "error" in result:
            raise InfluxRejected(400, result["error"])
        return list(result.get("series", []))

    def execute(self, statement: str) -> None:
        """An InfluxQL statement that returns no rows (CREATE, ALTER, DROP); raises if InfluxDB refuses it."""
        result = self._post("/query", params={"db": self.database, "q": statement}).json()["results"][0]
        if "error" in result:
            raise InfluxRejected(400, f"{result['error']} (in: {statement})")

    def create_database(self) -> None:
        """InfluxDB 1.x only; on 2.x/3 map the database to a bucket instead (see README)."""
        self._post("/query", params={"q": f'CREATE DATABASE "{self.database}"'})

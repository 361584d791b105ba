"""The packed form of a `TelemetryBatch`: what crosses a paid 4G link.

The JSON form repeats sensor, station, quantity, unit, quality and the clock flag in
every reading (about 150 bytes each). The packed form says each series once per batch
and each reading as a row of numbers, then compresses the whole with zlib:

    zlib( {"v":1, "gateway":G, "seq":N, "t0":MS,
           "series":[[sensor, station, quantity, unit], ...],
           "rows":[[series index, ts_ms - previous ts_ms, value, flags(, reason)], ...]} )

    flags = quality index in QUALITIES + 4 if the clock was not synchronised
    the first row's time difference is from t0; value is null on a read failure,
    and the row has a sixth element, the reason, when the failure gave one

It carries exactly what the JSON form carries: `unpack(pack(b)) == b`, and a packed
batch is checked by the same model (units, limits, version) after unpacking.

An MQTT 5 publisher announces the form in the content type (`CONTENT_TYPES`). A
message without one (an MQTT 3.1.1 hop) is told by its first byte: `{` is JSON,
0x78 a zlib stream. How a packed payload breaks, and what the decoder says: not a
zlib stream ("not zlib: ..."), inflating past MAX_UNPACKED_BYTES (a zip bomb), a row
naming a series that is not there or of the wrong shape ("invalid rows.N: ..."),
then anything the JSON form refuses. The decoder never raises anything but
ContractError.
"""

import json
import zlib
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from wire_contract.errors import ContractError, validation_reason
from wire_contract.payload import CONTRACT_VERSION, MAX_READINGS_PER_BATCH, Quality, TelemetryBatch
from wire_contract.reasons import FailureReason

MAX_UNPACKED_BYTES = 4 * 1_048_576
QUALITIES = tuple(Quality)
_CLOCK_NOT_SYNCED = 4


class PayloadForm(StrEnum):
    json = "json"
    packed = "packed"


CONTENT_TYPES = {
    PayloadForm.json: "application/json",
    PayloadForm.packed: "application/vnd.floodwatch.telemetry-packed.v1+zlib",
}
_FORMS = {content_type: form for form, content_type in CONTENT_TYPES.items()}


def pack_telemetry(batch: TelemetryBatch) -> bytes:
    series: dict[tuple[str, str, str, str], int] = {}
    rows: list[list[Any]] = []
    t0 = batch.readings[0].ts_ms
    previous = t0
    for r in batch.readings:
        index = series.setdefault((r.sensor, r.station, r.quantity, r.unit), len(series))
        flags = QUALITIES.index(r.quality) + (0 if r.clock_synced else _CLOCK_NOT_SYNCED)
        row: list[Any] = [index, r.ts_ms - previous, r.value, flags]
        if r.reason is not None:
            row.append(r.reason.value)
        rows.append(row)
        previous = r.ts_ms
    document = {
        "v": batch.v,
        "gateway": batch.gateway,
        "seq": batch.seq,
        "t0": t0,
        "series": [list(key) for key in series],
        "rows": rows,
    }
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 9)


def form_of(data: bytes, content_type: str | None = None) -> PayloadForm:
    """Which form `data` is in: the MQTT 5 content type says, else its first byte."""
    if content_type:
        form = _FORMS.get(content_type.split(";")[0].strip())
        if form is not None:
            return form
    return PayloadForm.packed if data[:1] == b"\x78" else PayloadForm.json


def unpack_telemetry(data: bytes) -> TelemetryBatch:
    inflate = zlib.decompressobj()
    try:
        text = inflate.decompress(data, MAX_UNPACKED_BYTES)
    except zlib.error as error:
        raise ContractError(f"not zlib: {error}") from None
    if inflate.unconsumed_tail:
        raise ContractError(f"packed payload inflates past {MAX_UNPACKED_BYTES} bytes")
    try:
        document = json.loads(text)
    except (UnicodeDecodeError, ValueError) as error:
        raise ContractError(f"not json: {error}") from None
    if not isinstance(document, dict):
        raise ContractError("invalid <root>: a packed batch is a JSON object")
    readings = _readings(document)
    try:
        return TelemetryBatch.model_validate(
            {"v": document.get("v"), "gateway": document.get("gateway"), "seq": document.get("seq"),
             "readings": tuple(readings)},
            strict=True,
        )  # fmt: skip
    except ValidationError as error:
        raise ContractError(validation_reason(error)) from None


def _readings(document: dict[str, Any]) -> list[dict[str, Any]]:
    if document.get("v") != CONTRACT_VERSION:
        raise ContractError(f"invalid v: contract version {document.get('v')!r} is not {CONTRACT_VERSION}")
    series, rows, t0 = document.get("series"), document.get("rows"), document.get("t0")
    if not isinstance(series, list) or not all(
        isinstance(s, list) and len(s) == 4 and all(isinstance(p, str) for p in s) for s in series
    ):
        raise ContractError("invalid series: a list of [sensor, station, quantity, unit]")
    if not isinstance(rows, list) or len(rows) > MAX_READINGS_PER_BATCH:
        raise ContractError(f"invalid rows: a list of at most {MAX_READINGS_PER_BATCH} rows")
    if type(t0) is not int:
        raise ContractError("invalid t0: an integer of milliseconds")
    readings = []
    ts = t0
    for n, row in enumerate(rows):
        if (
            not isinstance(row, list)
            or len(row) not in (4, 5)
            or type(row[0]) is not int
            or not 0 <= row[0] < len(series)
            or type(row[1]) is not int
            or type(row[3]) is not int
            or not 0 <= row[3] < 2 * _CLOCK_NOT_SYNCED
            or row[3] % _CLOCK_NOT_SYNCED >= len(QUALITIES)
        ):
            raise ContractError(f"invalid rows.{n}: [series index, ts difference, value, flags(, reason)]")
        ts += row[1]
        sensor, station, quantity, unit = series[row[0]]
        reading = {
            "sensor": sensor,
            "station": station,
            "quantity": quantity,
            "value": row[2],
            "unit": unit,
            "ts_ms": ts,
            "quality": QUALITIES[row[3] % _CLOCK_NOT_SYNCED],
            "clock_synced": row[3] < _CLOCK_NOT_SYNCED,
        }
        if len(row) == 5:
            try:
                reading["reason"] = FailureReason(row[4])
            except ValueError:
                raise ContractError(f"invalid rows.{n}.reason: {row[4]!r} is not a failure reason") from None
        readings.append(reading)
    return readings

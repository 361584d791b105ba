"""Typed messages of contract version 1.

Timestamps are integer milliseconds since the Unix epoch, UTC (`ts_ms`), so a
reading's time survives the round trip exactly and doubles as InfluxDB's point
time (a resend overwrites instead of duplicating). A reading's `ts_ms` is when the
device's response arrived at the gateway (for a failure: when the gateway gave up),
not when the request was queued.
"""

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from wire_contract.reasons import FailureReason
from wire_contract.topics import GATEWAY_ID_PATTERN

CONTRACT_VERSION: Literal[1] = 1
MAX_READINGS_PER_BATCH = 5000

# Each quantity travels in one unit only; the centre refuses any other.
# Rain comes in four forms, and only `rain` may be summed over time:
#   rain              mm fallen since the sensor's previous reading (an increment: hourly
#                     rain, or the gateway's tip-counter difference); rainfall rules,
#                     rollup sums and Grafana's SUM(...) GROUP BY time read this one
#   rain_total        mm accumulated since installation, only ever growing (a counter)
#   rain_this_hour    mm so far in the current clock hour, back to 0 at each hour
#   rain_per_tip      a gauge's calibration (mm per bucket tip), not rain at all
QUANTITY_UNITS: dict[str, str] = {
    "water_level": "m",
    "rain": "mm",
    "rain_total": "mm",
    "rain_this_hour": "mm",
    "rain_per_tip": "mm",
    "rain_tips": "count",
    "supply_voltage": "V",
    "temperature": "degC",
    "door_open": "bool",
    "link_up": "bool",
    "poe_on": "bool",
    "stream_alive": "bool",
    # a relay's coil as read back (1 energised: a siren's contactor pulled in), a digital input's state (1 active)
    "relay_on": "bool",
    "input_active": "bool",
    "distance": "m",
    # a device's state as its numeric code; the device profile names each code
    "device_state": "code",
}

SENSOR_ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,95}$"
# 2000-01-01 .. 2100-01-01: anything outside is a broken clock, not a reading.
MIN_TS_MS = 946_684_800_000
MAX_TS_MS = 4_102_444_800_000

# Every integer on the wire has bounds: what a signed 64-bit column (SQLite, InfluxDB,
# Prometheus) holds. A number past them is refused by the decoder, never stored.
MAX_INT64 = 2**63 - 1
MAX_SEQS_PER_ACK = 1000
MAX_MAP_ENTRIES = 1000

SensorId = Annotated[str, Field(pattern=SENSOR_ID_PATTERN)]
TimestampMs = Annotated[int, Field(ge=MIN_TS_MS, lt=MAX_TS_MS)]
Seq = Annotated[int, Field(ge=0, le=MAX_INT64)]
Count = Annotated[int, Field(ge=0, le=MAX_INT64)]
GatewayId = Annotated[str, Field(pattern=GATEWAY_ID_PATTERN)]


class Quality(StrEnum):
    good = "good"
    out_of_range = "out_of_range"
    read_failure = "read_failure"
    stale = "stale"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Reading(_Strict):
    sensor: SensorId
    station: SensorId
    quantity: str
    value: float | None
    unit: str
    ts_ms: TimestampMs
    quality: Quality
    clock_synced: bool = True
    # Why a read failed (issue 10); only with quality read_failure, and left out of the JSON
    # when absent, so a good reading's bytes are what they were.
    reason: FailureReason | None = None

    @model_serializer(mode="wrap")
    def _without_absent_reason(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, object]:
        data: dict[str, object] = handler(self)
        if data.get("reason", "") is None:
            del data["reason"]
        return data

    @model_validator(mode="after")
    def _unit_and_value_agree(self) -> "Reading":
        expected = QUANTITY_UNITS.get(self.quantity)
        if expected is None:
            raise ValueError(f"unknown quantity {self.quantity!r}; known: {sorted(QUANTITY_UNITS)}")
        if self.unit != expected:
            raise ValueError(f"quantity {self.quantity!r} travels in {expected!r}, not {self.unit!r}")
        if self.value is None and self.quality is not Quality.read_failure:
            raise ValueError("value may be null only when quality is read_failure")
        if self.reason is not None and self.quality is not Quality.read_failure:
            raise ValueError("reason is given only with quality read_failure")
        return self


class TelemetryBatch(_Strict):
    v: Literal[1] = CONTRACT_VERSION
    gateway: GatewayId
    seq: Seq
    readings: Annotated[tuple[Reading, ...], Field(min_length=1, max_length=MAX_READINGS_PER_BATCH)]


class WarningMessage(_Strict):
    """A change of alarm level at one station, as the rule engine decided it.

    `warning_id` is stable for the same transition, so receivers can drop
    repeats; `level` 0 means the river fell back below BĐ1 (all clear).
    """

    v: Literal[1] = CONTRACT_VERSION
    warning_id: Annotated[str, Field(min_length=1, max_length=200)]
    rule: Annotated[str, Field(min_length=1, max_length=100)]
    station: SensorId
    sensor: SensorId
    level: Annotated[int, Field(ge=0, le=3)]
    previous_level: Annotated[int, Field(ge=0, le=3)]
    value: float
    ts_ms: TimestampMs
    thresholds_m: tuple[float, float, float]
    thresholds_source: str
    # Added with the rule kinds (issue 5); defaults keep older senders' messages valid.
    # kind: the rule kind that decided (level, duration, rate_of_rise, rainfall, staleness,
    # k_of_n, escalation); level is then that rule's severity (0 = clear).
    kind: Annotated[str, Field(min_length=1, max_length=40)] = "level"
    # True for a data warning (a sensor silent too long): not a flood warning.
    data_warning: bool = False
    # What `thresholds_m` and `value` are measured in ("m" for river levels, "mm" for
    # rain sums, "cm/h" for rates of rise).
    unit: Annotated[str, Field(max_length=20)] = "m"
    detail: Annotated[str, Field(max_length=300)] = ""


DeviceState = Literal["polling", "failing", "quarantined", "not_attempted"]


class DeviceStatus(_Strict):
    """One device in the heartbeat.

    `state`: polling (its last read worked), failing (its last read failed), quarantined
    (set aside after repeated failures, probed once per backoff), not_attempted (not asked
    for three poll periods: its poll loop or bus is stuck or restarting).
    """

    state: DeviceState
    last_good_age_s: Annotated[float, Field(ge=0)] | None = None  # None: no good reading since start
    errors: Count = 0
    last_error: FailureReason | None = None
    last_error_detail: Annotated[str, Field(max_length=300)] | None = None


class TaskStatus(_Strict):
    """A supervised task of the gateway (poll loop, bus worker, publisher): restarts and why."""

    running: bool
    restarts: Count = 0
    last_error: Annotated[str, Field(max_length=300)] | None = None


class GatewayStatus(_Strict):
    """Retained on `status_topic(gateway)`; the broker publishes `offline` as the last will."""

    v: Literal[1] = CONTRACT_VERSION
    gateway: GatewayId
    state: Literal["online", "offline"]
    ts_ms: TimestampMs | None = None
    # The heartbeat (issue 3), on the periodic `online` message; absent from the last
    # will and from older gateways. Drops are counted per buffer priority (0-9, as text).
    uptime_s: Annotated[float, Field(ge=0)] | None = None
    cpu_temp_c: float | None = None
    load_1m: Annotated[float, Field(ge=0)] | None = None
    disk_free_mb: Annotated[float, Field(ge=0)] | None = None
    buffer_depth: Count | None = None
    oldest_unsent_age_s: float | None = None
    # Readings published and not yet confirmed stored by the centre (a `BatchAck`), part of
    # `buffer_depth`, and how long the oldest of them has waited.
    unconfirmed_readings: Count | None = None
    oldest_unconfirmed_age_s: float | None = None
    dropped_readings: Annotated[dict[str, Count], Field(max_length=MAX_MAP_ENTRIES)] = Field(default_factory=dict)
    device_errors: Annotated[dict[str, Count], Field(max_length=MAX_MAP_ENTRIES)] = Field(default_factory=dict)
    # Issue 10: each device's state and last failure, and the supervised tasks.
    devices: Annotated[dict[str, DeviceStatus], Field(max_length=MAX_MAP_ENTRIES)] = Field(default_factory=dict)
    tasks: Annotated[dict[str, TaskStatus], Field(max_length=MAX_MAP_ENTRIES)] = Field(default_factory=dict)
    clock_synced: bool | None = None
    clock_problem: Annotated[str, Field(max_length=300)] | None = None


class BatchAck(_Strict):
    """The centre's word to one gateway that its telemetry batches are stored.

    Sent by ingest on `ack_topic(gateway)`, QoS 1, once InfluxDB has accepted the batch's
    readings (any it refused are in the centre's dead letters, with the payload). Until a
    batch's seq arrives here the gateway keeps the batch on its disk and sends it again,
    with the same seq, after a timeout: the broker's PUBACK only says the broker has it,
    in memory, until its next autosave. An ack may repeat or name a seq the gateway has
    already forgotten; both are harmless.
    """

    v: Literal[1] = CONTRACT_VERSION
    gateway: GatewayId
    seqs: Annotated[tuple[Seq, ...], Field(min_length=1, max_length=MAX_SEQS_PER_ACK)]

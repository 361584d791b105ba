"""What the API takes and gives: pydantic models, so the OpenAPI document states every field."""

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ioc.accounts import USERNAME_PATTERN, Role
from ioc.schema import AuditEntry, WarningRecord
from public_alerts.alert_book import AlertRecord
from public_alerts.delivery_log import DeliveryRecord
from public_alerts.feed import alert_url
from public_alerts.policy import PublicPolicy

Note = Annotated[str, Field(max_length=500)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(_Request):
    username: Annotated[str, Field(pattern=USERNAME_PATTERN)]
    password: Annotated[str, Field(min_length=1, max_length=200)]


class AcknowledgeRequest(_Request):
    note: Note = ""


class SilenceRequest(_Request):
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    # the app's route narrows this to the configured `lifecycle.max_silence_h`
    duration_min: Annotated[int, Field(ge=1)]


class PublicAlertView(BaseModel):
    """A public alert in the desk: a `draft` awaiting an operator, `approved` (by whom, when) awaiting
    the sending service, `sent` (when; with a `msg_type` and `url` if it is a CAP alert in the feed)."""

    identifier: str
    transition_id: str
    warning_id: int | None  # the desk's warning it is a transition of (what `POST /api/warnings/{id}/approve` takes)
    station: str
    rule: str
    level: int
    state: str
    channels: list[str]  # where the policy routes it: what an approval sends it to
    msg_type: str | None
    url: str | None
    references: list[str]
    drafted_ms: int
    approved_by: str | None
    approved_ms: int | None
    sent_ms: int | None

    @classmethod
    def of(cls, record: AlertRecord, policy: PublicPolicy, warning_id: int | None = None) -> "PublicAlertView":
        return cls(
            identifier=record.identifier,
            transition_id=record.transition_id,
            warning_id=warning_id,
            station=record.warning.station,
            rule=record.warning.rule,
            level=record.warning.level,
            state=record.state,
            channels=list(record.channels),
            msg_type=record.msg_type,
            url=alert_url(policy, record.identifier) if record.msg_type is not None else None,
            references=list(record.references),
            drafted_ms=record.drafted_ms,
            approved_by=record.approved_by,
            approved_ms=record.approved_ms,
            sent_ms=record.sent_ms,
        )


class DeliveryView(BaseModel):
    """One webhook delivery of a public alert; `dead` ones are the dead-letter list."""

    channel: str
    idempotency_key: str
    state: str
    attempts: int
    last_error: str

    @classmethod
    def of(cls, record: DeliveryRecord) -> "DeliveryView":
        return cls(
            channel=record.channel,
            idempotency_key=record.idempotency_key,
            state=record.state,
            attempts=record.attempts,
            last_error=record.last_error,
        )


class ResolveRequest(_Request):
    note: Annotated[str, Field(min_length=1, max_length=500)]


class UserRequest(_Request):
    username: Annotated[str, Field(pattern=USERNAME_PATTERN)]
    password: Annotated[str, Field(min_length=8, max_length=200)]
    role: Role


class Me(BaseModel):
    username: str
    role: Role
    expires_ms: int | None = None


class WarningView(BaseModel):
    id: int
    rule: str
    station: str
    sensor: str
    kind: str
    data_warning: bool
    unit: str
    level: int
    previous_level: int
    peak_level: int
    value: float
    thresholds_m: list[float]
    thresholds_source: str
    detail: str
    state: str
    active: bool
    raised_ms: int
    updated_ms: int
    acknowledged_by: str | None
    acknowledged_ms: int | None
    acknowledge_note: str | None
    silenced_by: str | None
    silenced_until_ms: int | None
    silence_reason: str | None
    closed_by: str | None
    closed_ms: int | None

    @classmethod
    def of(cls, row: WarningRecord) -> "WarningView":
        fields = {name: getattr(row, name) for name in cls.model_fields if name != "thresholds_m"}
        return cls(**fields, thresholds_m=json.loads(row.thresholds))


class AuditView(BaseModel):
    id: int
    at_ms: int
    actor: str
    action: str
    warning_id: int | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> "AuditView":
        return cls(
            id=entry.id,
            at_ms=entry.at_ms,
            actor=entry.actor,
            action=entry.action,
            warning_id=entry.warning_id,
            detail=json.loads(entry.detail),
        )


class WarningDetail(BaseModel):
    warning: WarningView
    audit: list[AuditView]


class WarningList(BaseModel):
    total: int
    warnings: list[WarningView]


class LevelsView(BaseModel):
    bd1_m: float
    bd2_m: float
    bd3_m: float
    source: str
    effective_from: str


class ReadingView(BaseModel):
    sensor: str
    quantity: str
    value: float | None
    quality: str
    ts_ms: int
    age_s: float


class StationView(BaseModel):
    station: str
    river: str
    display_name: str
    levels: LevelsView | None
    readings: list[ReadingView]
    alarm_level: int
    active_warnings: int


class Board(BaseModel):
    generated_ms: int
    readings_refreshed_ms: int | None
    stations: list[StationView]


class WarningMark(BaseModel):
    ts_ms: int
    level: int
    rule: str
    warning_id: int


class SeriesView(BaseModel):
    station: str
    quantity: str
    resolution: str
    from_ms: int
    to_ms: int
    # per sensor: [time ms, value, low, high] (low/high: the interval's min and max in rollups)
    sensors: dict[str, list[tuple[int, float | None, float | None, float | None]]]
    thresholds_m: list[float] | None
    marks: list[WarningMark]


class GatewayView(BaseModel):
    gateway: str
    state: str
    in_trouble: bool
    troubles: list[str]
    last_heartbeat_ms: int | None
    received_ms: int
    buffer_depth: int | None
    oldest_unsent_age_s: float | None
    device_errors: dict[str, int]
    clock_synced: bool | None
    clock_problem: str | None


class RuleFileView(BaseModel):
    path: str
    sha256: str
    rules: int
    kinds: dict[str, int]


class RuleFileText(BaseModel):
    path: str
    text: str


class LevelVersionView(BaseModel):
    station: str
    display_name: str
    effective_from: str
    bd1_m: float
    bd2_m: float
    bd3_m: float
    source: str
    in_effect: bool


class RulesView(BaseModel):
    rule_files: list[RuleFileView]
    alarm_levels_path: str
    alarm_level_versions: list[LevelVersionView]


class Refusal(BaseModel):
    detail: str

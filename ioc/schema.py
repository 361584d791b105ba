"""The IOC's tables (SQLAlchemy 2 ORM); migrations in `migrations/versions/` create them.

    users        operators' accounts: argon2 password hash, role
    sessions     login tokens (SHA-256 of the token, never the token), with their expiry
    warnings     one row per warning's life: at most one active per (rule, station)
    transitions  every transition id the feed has taken: a repeat changes nothing
    audit        append-only (a trigger refuses UPDATE and DELETE): every change and who made it

Times are integer milliseconds since the Unix epoch, UTC, as on the wire.
"""

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Session(Base):
    __tablename__ = "sessions"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger, index=True)


class WarningRecord(Base):
    __tablename__ = "warnings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule: Mapped[str] = mapped_column(String(100))
    station: Mapped[str] = mapped_column(String(96), index=True)
    sensor: Mapped[str] = mapped_column(String(96))
    kind: Mapped[str] = mapped_column(String(40))
    data_warning: Mapped[bool] = mapped_column(Boolean)
    unit: Mapped[str] = mapped_column(String(20))
    level: Mapped[int] = mapped_column(Integer)
    previous_level: Mapped[int] = mapped_column(Integer)
    peak_level: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    thresholds: Mapped[str] = mapped_column(String(100))  # JSON [bd1, bd2, bd3]
    thresholds_source: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(String(300))
    # raised, escalated, de_escalated, acknowledged, resolved, expired
    state: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean)
    raised_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)  # event time of the last transition
    news_ms: Mapped[int] = mapped_column(BigInteger)  # when the last transition was taken (wall clock): expiry
    last_transition_id: Mapped[str] = mapped_column(String(200))
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_ms: Mapped[int | None] = mapped_column(BigInteger)
    acknowledge_note: Mapped[str | None] = mapped_column(String(500))
    silenced_by: Mapped[str | None] = mapped_column(String(64))
    silenced_until_ms: Mapped[int | None] = mapped_column(BigInteger)
    silence_reason: Mapped[str | None] = mapped_column(String(500))
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_ms: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index(
            "one_active_warning_per_rule_station",
            "rule",
            "station",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
        Index("warnings_by_time", "raised_ms"),
    )


class Transition(Base):
    __tablename__ = "transitions"
    transition_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    warning_id: Mapped[int | None] = mapped_column(ForeignKey("warnings.id"))
    received_ms: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(30))


class AuditEntry(Base):
    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at_ms: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    warning_id: Mapped[int | None] = mapped_column(ForeignKey("warnings.id"), index=True)
    detail: Mapped[str] = mapped_column(Text)  # JSON object

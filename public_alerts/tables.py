"""The desk's tables for public alerts (SQLAlchemy Core): webhook deliveries and siren commands.

They live in the IOC desk's database; its Alembic chain creates them
(ioc/migrations/versions/v0002_public_alerts.py). Tests and the demo
create them on SQLite with `metadata.create_all`.
"""

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, MetaData, String, Table, UniqueConstraint

metadata = MetaData()

# One row per (channel, transition id): a transition reaches a channel once.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(64), nullable=False),
    Column("idempotency_key", String(200), nullable=False),
    Column("state", String(16), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", String(500), nullable=False, default=""),
    Column("body", LargeBinary, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    UniqueConstraint("channel", "idempotency_key", name="uq_webhook_deliveries_channel_key"),
    Index("ix_webhook_deliveries_state", "state"),
)

# One row per command: the centre's record of what it asked a gateway and what came of it.
siren_commands = Table(
    "siren_commands",
    metadata,
    Column("command_id", String(128), primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("gateway", String(64), nullable=False),
    Column("device", String(96), nullable=False),
    Column("register_name", String(64), nullable=False),
    Column("value", Integer, nullable=False),
    Column("reason", String(200), nullable=False),
    Column("issued_ms", BigInteger, nullable=False),
    Column("deadline_ms", BigInteger, nullable=False),
    Column("sends", Integer, nullable=False, default=0),
    # pending | done | refused | failed | expired (the gateway's outcomes) | no_answer (deadline passed)
    Column("state", String(16), nullable=False),
    Column("value_read", Integer, nullable=True),
    Column("detail", String(300), nullable=False, default=""),
    Column("finished_ms", BigInteger, nullable=True),
    Index("ix_siren_commands_state", "state"),
)

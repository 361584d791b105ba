"""The desk's tables for public alerts (SQLAlchemy Core): the alerts, webhook deliveries, siren commands.

They live in the IOC desk's database; its Alembic chain creates them (ioc/migrations/versions/:
v0002_public_alerts.py, v0003_public_alert_store.py, v0004_webhook_only_alerts.py,
v0005_delivery_leases.py). Tests and the demo
create them on SQLite with `metadata.create_all`.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    true,
)

metadata = MetaData()

# One row per public transition: draft (waits for an operator) -> approved -> sent (in the feed).
# `chain` is station/rule; `chain_id` the identifier of the chain's first Alert (set when sent).
public_alert_rows = Table(
    "public_alerts",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("identifier", String(80), nullable=False),
    Column("transition_id", String(200), nullable=False),
    Column("chain", String(200), nullable=False),
    Column("chain_id", String(80), nullable=True),
    Column("state", String(16), nullable=False),  # draft | approved | sent | withdrawn
    Column("msg_type", String(8), nullable=True),  # Alert | Update | Cancel, once sent
    Column("refs", Text, nullable=False, default=""),  # CAP references, space-separated
    Column("warning", Text, nullable=False),  # the WarningMessage as JSON
    Column("sender", String(200), nullable=False),
    Column("headline_en", String(300), nullable=False, default=""),
    Column("xml", LargeBinary, nullable=True),
    Column("drafted_ms", BigInteger, nullable=False),
    Column("approved_by", String(64), nullable=True),
    Column("approved_ms", BigInteger, nullable=True),
    Column("sent_ms", BigInteger, nullable=True),
    # A sent CAP alert is in the Atom feed when its route (or its chain's) takes it there; one that
    # goes to webhooks only is not, but its XML is served at its URL (the webhook carries that URL).
    Column("in_feed", Boolean, nullable=False, server_default=true()),
    UniqueConstraint("identifier", name="uq_public_alerts_identifier"),
    UniqueConstraint("transition_id", name="uq_public_alerts_transition_id"),
    Index("ix_public_alerts_chain", "chain", "state"),
)

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
    # Who is delivering it and until when (public_alerts/delivery_log.py): a sender that died leaves
    # it pending, another (or the same one restarted) takes it over once the lease lapsed.
    Column("owner", String(200), nullable=True),
    Column("lease_until_ms", BigInteger, nullable=False, server_default="0"),
    Column("next_attempt_ms", BigInteger, nullable=False, server_default="0"),
    Column("expires_ms", BigInteger, nullable=True),  # its alert's expiry: not resumed after it
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

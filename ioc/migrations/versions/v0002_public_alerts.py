"""Public alerts in the desk's database: webhook deliveries (the dead-letter list) and siren commands.

Revision ID: 0002
Revises: 0001

The tables are those of public_alerts/tables.py (tests/public_alerts/test_migration.py
checks that `ioc.database.migrate` makes exactly them).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(500), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("channel", "idempotency_key", name="uq_webhook_deliveries_channel_key"),
    )
    op.create_index("ix_webhook_deliveries_state", "webhook_deliveries", ["state"])
    op.create_table(
        "siren_commands",
        sa.Column("command_id", sa.String(128), primary_key=True),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("gateway", sa.String(64), nullable=False),
        sa.Column("device", sa.String(96), nullable=False),
        sa.Column("register_name", sa.String(64), nullable=False),
        sa.Column("value", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("issued_ms", sa.BigInteger, nullable=False),
        sa.Column("deadline_ms", sa.BigInteger, nullable=False),
        sa.Column("sends", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value_read", sa.Integer, nullable=True),
        sa.Column("detail", sa.String(300), nullable=False),
        sa.Column("finished_ms", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_siren_commands_state", "siren_commands", ["state"])


def downgrade() -> None:
    op.drop_index("ix_siren_commands_state", "siren_commands")
    op.drop_table("siren_commands")
    op.drop_index("ix_webhook_deliveries_state", "webhook_deliveries")
    op.drop_table("webhook_deliveries")

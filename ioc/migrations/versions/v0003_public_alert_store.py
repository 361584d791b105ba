"""Public alerts stored in the desk's database: drafts, approvals and the sent CAP alerts the feed serves.

Revision ID: 0003
Revises: 0002

The table is public_alerts/tables.py's `public_alerts` (tests/public_alerts/test_migration.py
checks that `ioc.database.migrate` makes exactly it).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "public_alerts",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("identifier", sa.String(80), nullable=False),
        sa.Column("transition_id", sa.String(200), nullable=False),
        sa.Column("chain", sa.String(200), nullable=False),
        sa.Column("chain_id", sa.String(80), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("msg_type", sa.String(8), nullable=True),
        sa.Column("refs", sa.Text, nullable=False),
        sa.Column("warning", sa.Text, nullable=False),
        sa.Column("sender", sa.String(200), nullable=False),
        sa.Column("headline_en", sa.String(300), nullable=False),
        sa.Column("xml", sa.LargeBinary, nullable=True),
        sa.Column("drafted_ms", sa.BigInteger, nullable=False),
        sa.Column("approved_by", sa.String(64), nullable=True),
        sa.Column("approved_ms", sa.BigInteger, nullable=True),
        sa.Column("sent_ms", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("identifier", name="uq_public_alerts_identifier"),
        sa.UniqueConstraint("transition_id", name="uq_public_alerts_transition_id"),
    )
    op.create_index("ix_public_alerts_chain", "public_alerts", ["chain", "state"])


def downgrade() -> None:
    op.drop_index("ix_public_alerts_chain", "public_alerts")
    op.drop_table("public_alerts")

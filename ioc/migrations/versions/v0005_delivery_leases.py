"""Webhook deliveries held by a sender until a lease lapses, so a pending one outlives its process.

Revision ID: 0005
Revises: 0004

A delivery pending before this revision has no owner and a lapsed lease (0): the next start
takes it over. Its expiry is unknown (NULL): it is resumed.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as table:
        table.add_column(sa.Column("owner", sa.String(200), nullable=True))
        table.add_column(sa.Column("lease_until_ms", sa.BigInteger, nullable=False, server_default="0"))
        table.add_column(sa.Column("next_attempt_ms", sa.BigInteger, nullable=False, server_default="0"))
        table.add_column(sa.Column("expires_ms", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as table:
        for column in ("expires_ms", "next_attempt_ms", "lease_until_ms", "owner"):
            table.drop_column(column)

"""A sent CAP alert in the feed or only at its URL (a warning routed to webhooks but not the feed).

Revision ID: 0004
Revises: 0003

Every alert sent before this revision was in the feed: the column defaults to true.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("public_alerts") as table:
        table.add_column(sa.Column("in_feed", sa.Boolean, nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("public_alerts") as table:
        table.drop_column("in_feed")

"""The warning desk: users, sessions, warnings, transitions, append-only audit.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

# The audit trail is append-only in the database itself, not only by convention.
SQLITE_AUDIT_GUARDS = [
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
]
POSTGRESQL_AUDIT_GUARDS = [
    "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END $$",
    "CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "sessions",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_index("ix_sessions_expires_ms", "sessions", ["expires_ms"])
    op.create_table(
        "warnings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("station", sa.String(96), nullable=False),
        sa.Column("sensor", sa.String(96), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("data_warning", sa.Boolean, nullable=False),
        sa.Column("unit", sa.String(20), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("previous_level", sa.Integer, nullable=False),
        sa.Column("peak_level", sa.Integer, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("thresholds", sa.String(100), nullable=False),
        sa.Column("thresholds_source", sa.Text, nullable=False),
        sa.Column("detail", sa.String(300), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("raised_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.Column("news_ms", sa.BigInteger, nullable=False),
        sa.Column("last_transition_id", sa.String(200), nullable=False),
        sa.Column("acknowledged_by", sa.String(64)),
        sa.Column("acknowledged_ms", sa.BigInteger),
        sa.Column("acknowledge_note", sa.String(500)),
        sa.Column("silenced_by", sa.String(64)),
        sa.Column("silenced_until_ms", sa.BigInteger),
        sa.Column("silence_reason", sa.String(500)),
        sa.Column("closed_by", sa.String(64)),
        sa.Column("closed_ms", sa.BigInteger),
    )
    op.create_index("ix_warnings_station", "warnings", ["station"])
    op.create_index("warnings_by_time", "warnings", ["raised_ms"])
    op.create_index(
        "one_active_warning_per_rule_station",
        "warnings",
        ["rule", "station"],
        unique=True,
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "transitions",
        sa.Column("transition_id", sa.String(200), primary_key=True),
        sa.Column("warning_id", sa.Integer, sa.ForeignKey("warnings.id")),
        sa.Column("received_ms", sa.BigInteger, nullable=False),
        sa.Column("outcome", sa.String(30), nullable=False),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("warning_id", sa.Integer, sa.ForeignKey("warnings.id")),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_warning_id", "audit", ["warning_id"])
    guards = POSTGRESQL_AUDIT_GUARDS if op.get_bind().dialect.name == "postgresql" else SQLITE_AUDIT_GUARDS
    for statement in guards:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_no_change ON audit")
        op.execute("DROP FUNCTION audit_append_only()")
    for table in ("audit", "transitions", "warnings", "sessions", "users"):
        op.drop_table(table)

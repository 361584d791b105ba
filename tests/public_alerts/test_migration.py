"""The Alembic migration creates exactly the tables public_alerts/tables.py describes, and drops them."""

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

import public_alerts
from public_alerts.tables import metadata

MIGRATION = Path(public_alerts.__file__).parent / "migrations" / "v0002_public_alerts.py"


def _shape(engine: sa.Engine) -> dict[str, object]:
    inspector = sa.inspect(engine)
    return {
        table: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)),
            sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
        )
        for table in sorted(inspector.get_table_names())
    }


def test_the_migration_matches_the_tables_and_downgrades(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("v0002_public_alerts", MIGRATION)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert (migration.revision, migration.down_revision) == ("0002", "0001")

    migrated = sa.create_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    with migrated.begin() as connection, Operations.context(MigrationContext.configure(connection)):
        migration.upgrade()
    declared = sa.create_engine(f"sqlite:///{tmp_path / 'declared.db'}")
    metadata.create_all(declared)
    assert _shape(migrated) == _shape(declared)
    assert set(_shape(migrated)) == {"webhook_deliveries", "siren_commands"}

    with migrated.begin() as connection, Operations.context(MigrationContext.configure(connection)):
        migration.downgrade()
    assert sa.inspect(migrated).get_table_names() == []

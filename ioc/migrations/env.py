"""Alembic environment: run with the connection `ioc.database.migrate` passes in."""

from alembic import context

from ioc.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

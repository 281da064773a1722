"""Alembic environment: runs the migrations on the connection that ``migrate`` passes in.

There is no ``alembic.ini`` and no offline (SQL script) mode: ``lendguard.store.migrate`` builds
the configuration in code, so migrations work from an installed package in any directory.
"""

from __future__ import annotations

from alembic import context

from lendguard.store.schema import metadata


def run_migrations() -> None:
    """Migrate inside the caller's transaction; SQLite needs batch mode to alter tables."""
    if context.is_offline_mode():
        raise AssertionError("offline migrations are not supported; call lendguard.store.migrate")
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()

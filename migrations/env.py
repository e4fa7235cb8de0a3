"""Alembic environment: the URL comes from the add-on's configuration, never from an ini file."""

from alembic import context
from sqlalchemy import create_engine, pool

from addon import models  # noqa: F401  (registers the tables on Base.metadata)
from addon.access import models as access_models  # noqa: F401
from addon.atlassian.forge import tenants as forge_tenants  # noqa: F401
from addon.atlassian.forge import socket_tickets as forge_socket_tickets  # noqa: F401
from addon.chat import models as chat_models  # noqa: F401
from addon.sla import models as sla_models  # noqa: F401
from addon.workspace import models as workspace_models  # noqa: F401
from addon.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)


def _run(connection):
    # render_as_batch lets ALTER TABLE migrations run on SQLite too.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

"""The Alembic migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from addon import migrate
from addon.chat import models as chat_models  # noqa: F401  (registers the chat tables)
from addon.db import Base, Database


def test_migrations_match_models(database_url):
    database = Database(database_url)
    try:
        migrate.upgrade(database)
        with database.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        database.dispose()

    assert differences == []

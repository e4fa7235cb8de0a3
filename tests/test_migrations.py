"""The Alembic migrations build exactly the schema the models describe."""

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from addon import migrate
from addon.access import models as access_models  # noqa: F401
from addon.atlassian.forge import tenants as forge_tenants  # noqa: F401  (registers the Forge tables)
from addon.chat import models as chat_models  # noqa: F401  (registers the chat tables)
from addon.faq import models as faq_models  # noqa: F401  (registers the self-service tables)
from addon.sla import models as sla_models  # noqa: F401  (registers the SLA tables)
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


def test_db_upgrade_command(database_url, tmp_path):
    import os
    import subprocess
    import sys

    import sqlalchemy

    from addon.db import normalize_database_url

    environment = dict(os.environ, ADDON_ENV="test", ADDON_SECRET_KEY="cli-test-secret-key-0123",
                       DATABASE_URL=database_url, AUTO_MIGRATE="")
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=Path(__file__).resolve().parent.parent, env=environment,
        capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "Database migrated to head" in result.stdout
    engine = sqlalchemy.create_engine(normalize_database_url(database_url))
    try:
        tables = set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"installations", "conversations", "messages", "webhook_events"} <= tables

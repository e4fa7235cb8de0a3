"""Entry point: `flask --app app run`, `gunicorn -c gunicorn.conf.py app:app`."""

from addon import create_app
from addon.sla.cli import standalone_app

# `flask --app app sla ...` gets a bare app carrying only the sla commands, because they need no
# configuration, database or background threads. Everything else gets the full add-on.
app = standalone_app() or create_app()

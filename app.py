"""Entry point: `flask --app app run`, `gunicorn -c gunicorn.conf.py app:app`."""

from addon import create_app
from addon.cli import standalone_app

# `flask --app app sla ...` and `flask --app app faq ...` get a bare app carrying only that command
# group, because they need no configuration, database or background threads (see addon/cli.py).
# Everything else gets the full add-on.
app = standalone_app() or create_app()

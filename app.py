"""Entry point: `flask --app app run`, `gunicorn -c gunicorn.conf.py app:app`."""

from addon import create_app

app = create_app()

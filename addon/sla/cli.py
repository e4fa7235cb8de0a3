"""The `flask sla` commands: business-calendar computations from the command line.

`flask --app app sla deadline --calendar FILE --from ISO8601 --minutes N` prints the instant at
which N business minutes have passed, computed by the same BusinessCalendar the add-on uses.
"""

import json
import math
from datetime import datetime

import click

from .. import cli
from ..cli import command_name as _command_name, standalone_app  # noqa: F401 (re-exported for older imports)
from .calendar import BusinessCalendar, CalendarError


@click.group("sla")
def sla_cli():
    """SLA business-calendar commands. They need no database and no installed site."""


@sla_cli.command("deadline")
@click.option(
    "--calendar", "calendar_path", required=True, metavar="FILE",
    type=click.Path(exists=True, dir_okay=False),
    help="Business calendar as a JSON file (format: docs/sla-calendar.md).",
)
@click.option(
    "--from", "start", required=True, metavar="ISO8601",
    help="Start instant with its UTC offset or Z, e.g. 2026-12-04T17:30:00+01:00.",
)
@click.option("--minutes", required=True, metavar="N", help="Length of the window in business minutes.")
def deadline_command(calendar_path, start, minutes):
    """Print the instant at which N business minutes have passed since ISO8601.

    The result is an ISO 8601 instant in the calendar's time zone, with its offset.
    """
    start_instant = _parse_start(start)
    window_minutes = _parse_minutes(minutes)
    calendar = _load_calendar(calendar_path)

    try:
        deadline = calendar.add_business_minutes(start_instant, window_minutes)
    except CalendarError as error:
        raise click.ClickException(f"{calendar_path}: {error}") from None
    click.echo(deadline.isoformat())


def _parse_start(text):
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 date and time; write e.g. 2026-12-04T17:30:00+01:00",
            param_hint="'--from'",
        ) from None
    if instant.utcoffset() is None:
        raise click.BadParameter(
            f"{text!r} has no UTC offset, so the instant is ambiguous; add one, "
            "e.g. 2026-12-04T17:30:00+01:00, or Z for UTC",
            param_hint="'--from'",
        )
    return instant


def _parse_minutes(text):
    try:
        minutes = float(text)
    except ValueError:
        minutes = math.nan
    if not math.isfinite(minutes) or minutes < 0:
        raise click.BadParameter(
            f"{text!r} is not a number of minutes; give 0 or more, e.g. 90", param_hint="'--minutes'",
        )
    return int(minutes) if minutes.is_integer() else minutes


def _load_calendar(path):
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, UnicodeDecodeError) as error:
        raise click.ClickException(f"{path}: cannot read the calendar: {error}") from None
    except json.JSONDecodeError as error:
        raise click.ClickException(
            f"{path}: invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    try:
        return BusinessCalendar.from_json(data)
    except CalendarError as error:
        raise click.ClickException(f"{path}: {error}") from None


def create_cli_app():
    """Return a bare Flask app whose command line carries only the `sla` commands."""
    return cli.create_cli_app(sla_cli)

"""The `flask sla` commands: business-calendar computations from the command line.

`flask --app app sla deadline --calendar FILE --from ISO8601 --minutes N` prints the instant at
which N business minutes have passed, computed by the same BusinessCalendar the add-on uses.
"""

import json
import math
import sys
from datetime import datetime

import click
from flask import Flask
from flask.cli import FlaskGroup

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


def standalone_app():
    """Return `create_cli_app()` when the flask command line is about to run an `sla` command, or
    None otherwise (web servers, other commands).

    The `sla` commands compute from a file and options alone. This lets them run in a fresh
    checkout with no environment, where `create_app` stops on the missing production settings,
    and without the database migration and background threads that `create_app` starts.
    """
    context = click.get_current_context(silent=True)
    if context is None or not isinstance(context.command, FlaskGroup):
        return None
    # Click has already taken the arguments off its context when Flask loads the app to look up
    # the command, so the command name is read from sys.argv past the group's own options.
    if _command_name(context.command, sys.argv[1:]) != sla_cli.name:
        return None
    return create_cli_app()


def create_cli_app():
    """Return a bare Flask app whose command line carries only the `sla` commands."""
    app = Flask(__name__.split(".")[0])
    app.cli.add_command(sla_cli)
    return app


def _command_name(group, args):
    """Return the first argument that is not one of `group`'s options or their values."""
    options_with_value = {
        name
        for param in group.params
        if isinstance(param, click.Option) and not (param.is_flag or param.count)
        for name in param.opts + param.secondary_opts
    }
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            return args[index + 1] if index + 1 < len(args) else None
        if not arg.startswith("-"):
            return arg
        if arg in options_with_value:
            index += 1  # skip the option's value, given as the next argument
        index += 1
    return None

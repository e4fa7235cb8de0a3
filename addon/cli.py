"""Command groups that run without configuration or database, and the bare app that serves them.

`flask --app app sla ...` and `flask --app app faq ...` compute from files and options alone. The
app.py entry point asks `standalone_app` first, so that these commands run in a fresh checkout
with no environment, where `create_app` stops on the missing production settings, and without the
database migration and background threads that `create_app` starts.
"""

import importlib
import sys

import click
from flask import Flask
from flask.cli import FlaskGroup

# Command name -> "module:attribute" of its click group, imported only when that command runs.
STANDALONE_GROUPS = {
    "sla": "addon.sla.cli:sla_cli",
    "faq": "addon.faq.cli:faq_cli",
}


def standalone_app():
    """Return a bare app carrying one standalone group when the flask command line is about to run
    that group's command, or None otherwise (web servers, other commands)."""
    context = click.get_current_context(silent=True)
    if context is None or not isinstance(context.command, FlaskGroup):
        return None
    # Click has already taken the arguments off its context when Flask loads the app to look up
    # the command, so the command name is read from sys.argv past the group's own options.
    name = command_name(context.command, sys.argv[1:])
    if name not in STANDALONE_GROUPS:
        return None
    return create_cli_app(load_group(name))


def load_group(name):
    """Import and return the click group of standalone command `name`."""
    module_name, attribute = STANDALONE_GROUPS[name].split(":")
    return getattr(importlib.import_module(module_name), attribute)


def create_cli_app(group):
    """Return a bare Flask app whose command line carries only `group`."""
    app = Flask(__name__.split(".")[0])
    app.cli.add_command(group)
    return app


def command_name(group, args):
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

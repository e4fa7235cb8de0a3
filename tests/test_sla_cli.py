"""`flask sla deadline`: the deadline printed from a calendar file, the errors for bad input, and
the command run for real in a fresh environment (no configuration, no database)."""

import json
import os
import subprocess
import sys
from datetime import date, timedelta

import click
import pytest
from flask.cli import FlaskGroup, ScriptInfo

from addon import create_app
from addon.sla import cli
from addon.sla.cli import create_cli_app, sla_cli, standalone_app

from .conftest import TEST_SECRET_KEY
from .support import ROOT_DIR

CALENDARS_DIR = ROOT_DIR / "tests" / "data" / "calendars"
PARIS_FILE = str(CALENDARS_DIR / "paris.json")


def run_deadline(*args):
    runner = create_cli_app().test_cli_runner()
    return runner.invoke(args=["sla", "deadline", *args])


def write_calendar(tmp_path, data):
    path = tmp_path / "calendar.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("start, minutes, expected", [
    ("2026-12-04T17:30:00+01:00", "120", "2026-12-07T10:30:00+01:00"),  # Friday evening to Monday
    ("2026-12-07T11:00:00+01:00", "60", "2026-12-07T12:00:00+01:00"),   # lands on the lunch closing
    ("2026-03-27T16:30:00Z", "60", "2026-03-30T09:30:00+02:00"),        # UTC start, DST weekend
    ("2026-12-23T17:00:00+01:00", "120", "2026-12-28T10:00:00+01:00"),  # closed day 24, Christmas
    ("2026-12-07T10:00:00+01:00", "0", "2026-12-07T10:00:00+01:00"),
    ("2026-12-07T09:00:00Z", "0", "2026-12-07T10:00:00+01:00"),          # printed in calendar zone
    ("2026-12-07T10:00:00+01:00", "1.5", "2026-12-07T10:01:30+01:00"),
])
def test_deadline_printed(start, minutes, expected):
    result = run_deadline("--calendar", PARIS_FILE, "--from", start, "--minutes", minutes)
    assert result.exit_code == 0, result.output
    assert result.output == expected + "\n"


def test_deadline_with_extended_calendar():
    path = str(CALENDARS_DIR / "moselle-extended.json")
    result = run_deadline("--calendar", path, "--from", "2026-12-30T16:30:00Z", "--minutes", "240")
    assert result.exit_code == 0, result.output
    assert result.output == "2027-01-02T09:30:00+01:00\n"


@pytest.mark.parametrize("start, words", [
    ("2026-12-07T10:00:00", ["Invalid value for '--from'", "has no UTC offset", "Z for UTC"]),
    ("2026-12-07", ["Invalid value for '--from'", "has no UTC offset"]),
    ("next monday", ["Invalid value for '--from'", "'next monday' is not an ISO 8601 date and time"]),
])
def test_bad_start_is_usage_error(start, words):
    result = run_deadline("--calendar", PARIS_FILE, "--from", start, "--minutes", "60")
    assert result.exit_code == 2
    for word in words:
        assert word in result.output


@pytest.mark.parametrize("minutes", ["-5", "abc", "nan", "inf", ""])
def test_bad_minutes_is_usage_error(minutes):
    result = run_deadline("--calendar", PARIS_FILE, "--from", "2026-12-07T10:00:00+01:00", "--minutes", minutes)
    assert result.exit_code == 2
    assert "Invalid value for '--minutes'" in result.output
    assert "give 0 or more" in result.output


@pytest.mark.parametrize("missing", ["--calendar", "--from", "--minutes"])
def test_missing_option_is_usage_error(missing):
    args = {"--calendar": PARIS_FILE, "--from": "2026-12-07T10:00:00+01:00", "--minutes": "60"}
    del args[missing]
    result = run_deadline(*[part for pair in args.items() for part in pair])
    assert result.exit_code == 2
    assert f"Missing option '{missing}'" in result.output


def test_missing_calendar_file(tmp_path):
    result = run_deadline("--calendar", str(tmp_path / "none.json"), "--from", "2026-12-07T10:00:00Z", "--minutes", "1")
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_invalid_calendar_file():
    path = str(CALENDARS_DIR / "invalid-overlap.json")
    result = run_deadline("--calendar", path, "--from", "2026-12-07T10:00:00Z", "--minutes", "1")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {path}: hours.mon[1]: 11:00-13:00 overlaps hours.mon[0], which ends at 12:00; "
        "merge the two intervals or make one end before the other starts\n"
    )


def test_calendar_file_not_json(tmp_path):
    path = write_calendar(tmp_path, '{"timezone": "Europe/Paris",\n "hours": }')
    result = run_deadline("--calendar", path, "--from", "2026-12-07T10:00:00Z", "--minutes", "1")
    assert result.exit_code == 1
    assert f"Error: {path}: invalid JSON at line 2, column 11" in result.output


def test_calendar_file_not_utf8(tmp_path):
    path = tmp_path / "calendar.json"
    path.write_bytes(b'{"timezone": "\xe9"}')
    result = run_deadline("--calendar", str(path), "--from", "2026-12-07T10:00:00Z", "--minutes", "1")
    assert result.exit_code == 1
    assert "cannot read the calendar" in result.output


def test_calendar_without_opening_hours_ahead(tmp_path):
    data = json.loads((CALENDARS_DIR / "paris.json").read_text(encoding="utf-8"))
    data["hours"] = {"sun": [["10:00", "11:00"]]}
    data["holidays"] = None
    first_sunday = date(2026, 1, 4)
    data["closed_days"] = [(first_sunday + timedelta(weeks=week)).isoformat() for week in range(160)]
    path = write_calendar(tmp_path, data)

    result = run_deadline("--calendar", path, "--from", "2026-12-07T10:00:00Z", "--minutes", "1")

    assert result.exit_code == 1
    assert "no opening hours within 366 days after 2026-12-07T11:00:00+01:00" in result.output


def test_help_names_units():
    result = create_cli_app().test_cli_runner().invoke(args=["sla", "deadline", "--help"])
    assert result.exit_code == 0
    assert "business minutes" in result.output
    assert "UTC offset or Z" in result.output


# The command on the full add-on, and the bare app that app.py builds for it.

def test_registered_on_full_app(tmp_path):
    app = create_app({
        "ADDON_ENV": "test",
        "ADDON_BASE_URL": "http://127.0.0.1:5000",
        "ADDON_SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'addon.sqlite3'}",
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "OUTBOX_AUTOSTART": False,
        "SUBSCRIPTION_EXPIRY_JOB": False,
        "SLA_SWEEPER": False,
    })
    try:
        result = app.test_cli_runner().invoke(
            args=["sla", "deadline", "--calendar", PARIS_FILE, "--from", "2026-12-04T17:30:00+01:00", "--minutes", "120"],
        )
    finally:
        app.extensions["database"].dispose()
    assert result.exit_code == 0, result.output
    assert result.output == "2026-12-07T10:30:00+01:00\n"


@pytest.mark.parametrize("args, name", [
    (["--app", "app", "sla", "deadline"], "sla"),
    (["-A", "app", "sla"], "sla"),
    (["--app=app", "sla"], "sla"),
    (["-Aapp", "sla"], "sla"),
    (["--debug", "--app", "app", "sla"], "sla"),
    (["-e", "sla", "--app", "app", "run"], "run"),  # an env file named "sla"
    (["--env-file", "x.env", "-A", "app", "sla"], "sla"),
    (["--app", "app", "db", "upgrade"], "db"),
    (["--app", "app", "--", "sla"], "sla"),
    (["--app", "app"], None),
    ([], None),
])
def test_command_name_read_past_group_options(args, name):
    assert cli._command_name(FlaskGroup(), args) == name


def test_standalone_app_only_inside_flask_cli(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["flask", "--app", "app", "sla", "deadline"])
    assert standalone_app() is None  # no click context: e.g. gunicorn importing app.py

    group = FlaskGroup()
    with click.Context(group, obj=ScriptInfo()):
        app = standalone_app()
        assert app is not None
        assert set(app.cli.commands) == {sla_cli.name}

        monkeypatch.setattr(sys, "argv", ["flask", "--app", "app", "db", "upgrade"])
        assert standalone_app() is None


# The real command line, in a fresh environment: no configuration variables, run from the
# repository root as the README shows it.

def fresh_environment():
    kept = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    return {name: os.environ[name] for name in kept if name in os.environ}


def run_flask(*args):
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "sla", "deadline", *args],
        cwd=ROOT_DIR, env=fresh_environment(), capture_output=True, text=True, timeout=60,
    )


def test_subprocess_prints_deadline():
    completed = run_flask("--calendar", PARIS_FILE, "--from", "2026-03-27T16:30:00Z", "--minutes", "60")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "2026-03-30T09:30:00+02:00\n"
    assert completed.stderr == ""


def test_subprocess_rejects_naive_start():
    completed = run_flask("--calendar", PARIS_FILE, "--from", "2026-03-27T16:30:00", "--minutes", "60")
    assert completed.returncode == 2
    assert "has no UTC offset" in completed.stderr
    assert completed.stdout == ""

"""The command-line API for packs: what a pack's Typer commands may use to look like Conveyor's own.

A pack adds command groups through ``app.add_cli_extension(extend)`` or the ``conveyor.cli`` entry-point
group (see docs/packs.md); its commands use these helpers so that they load the ``--app`` application, print
tables and ``--json`` the same way, and turn library errors into one line and exit code 2. Everything else
under ``conveyor.cli`` is private.
"""

from __future__ import annotations

from conveyor.cli.common import JsonOption, console, err_console, fmt_age, fmt_time, get_app, handle_errors, print_json

__all__ = [
    "JsonOption",
    "console",
    "err_console",
    "fmt_age",
    "fmt_time",
    "get_app",
    "handle_errors",
    "print_json",
]

"""``conveyor locks``: see who holds the named locks, and force one free."""

from __future__ import annotations

import typer
from rich.table import Table

from conveyor.cli.common import JsonOption, console, fmt_age, fmt_time, get_app, handle_errors, print_json
from conveyor.coordination.locks import force_release, list_locks
from conveyor.engine import clock

cli = typer.Typer(help="Named locks: list holders, force release.", no_args_is_help=True)


@cli.command("list")
@handle_errors
def list_(ctx: typer.Context, json_: JsonOption = False) -> None:
    """Every lock: key, holder (host:pid, and the job inside a task), when acquired, when it expires."""
    locks = list_locks(get_app(ctx))
    if json_:
        rows = [
            {"key": x.key, "holder": x.holder, "acquired_at": x.acquired_at, "expires_at": x.expires_at} for x in locks
        ]
        print_json({"locks": rows})
        return
    if not locks:
        console.print("no locks held")
        return
    now = clock.now()
    t = Table(title="locks")
    for col in ("key", "holder", "acquired", "expires in"):
        t.add_column(col, no_wrap=col in ("key", "acquired"))
    for lock in locks:
        left = lock.expires_at - now
        # An expired row is a holder that died (or overran its ttl): the next acquirer takes it over.
        expires = fmt_age(left) if left > 0 else f"expired {fmt_age(-left)} ago"
        t.add_row(lock.key, lock.holder, fmt_time(lock.acquired_at), expires)
    console.print(t)


@cli.command("release")
@handle_errors
def release(ctx: typer.Context, key: str) -> None:
    """Force a lock free, whoever holds it (for a stuck holder).

    The holder learns it on its next extend (LockLost) or release (a warning). Exits 0 either way,
    saying if the lock was not held."""
    if force_release(get_app(ctx), key):
        console.print(f"lock {key!r} released")
    else:
        console.print(f"lock {key!r} was not held")

"""The commerce pack's command groups, added to ``conveyor`` through the ``conveyor.cli`` entry point
(pyproject.toml): the core command line knows nothing of the pack.

``conveyor shoptet ...`` manages shops, snapshots, executions and parked records; ``conveyor sim shoptet``
runs the Shoptet simulator.
"""

from __future__ import annotations

import typer


def extend(cli: typer.Typer) -> None:
    """Add ``conveyor shoptet`` and ``conveyor sim`` to the command line."""
    from conveyor.commerce import sim
    from conveyor.commerce.shoptet import cli as shoptet

    cli.add_typer(sim.cli, name="sim")
    cli.add_typer(shoptet.cli, name="shoptet")

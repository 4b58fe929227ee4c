"""The commerce pack's command groups, added to ``conveyor`` through the ``conveyor.cli`` entry point
(pyproject.toml): the core command line knows nothing of the pack.

``conveyor shoptet ...`` manages shops, snapshots, executions and parked records; ``conveyor feeds`` and
``conveyor suppliers`` manage supplier feeds, their import runs and product links; ``conveyor catalog``,
``conveyor warehouses``, ``conveyor stock`` and ``conveyor docs`` the catalogue, stock and documents;
``conveyor sim shoptet`` / ``conveyor sim feeds`` run the simulators.
"""

from __future__ import annotations

import typer


def extend(cli: typer.Typer) -> None:
    """Add the commerce pack's command groups to the command line."""
    from conveyor.commerce import sim
    from conveyor.commerce.feeds import cli as feeds
    from conveyor.commerce.shoptet import cli as shoptet
    from conveyor.commerce.warehouse import cli as warehouse

    cli.add_typer(sim.cli, name="sim")
    cli.add_typer(shoptet.cli, name="shoptet")
    feeds.extend(cli)
    warehouse.extend(cli)

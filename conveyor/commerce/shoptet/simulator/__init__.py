"""A faithful simulator of Shoptet's REST API, for demos, load tests and the Shoptet client's own tests.

    from conveyor.commerce.shoptet.simulator import SimulatorConfig, serve_in_thread

    with serve_in_thread(SimulatorConfig(orders=10_000, seed=7)) as base_url:
        ...  # point a Shoptet client at base_url with the private token "sim-private-token"

From the shell: ``conveyor sim shoptet --orders 100000 --port 8010``. See ``app.py`` for the endpoints and the
choices made where Shoptet's documentation is silent, ``limits.py`` for the rate limits, ``data.py`` for the data.
"""

from conveyor.commerce.shoptet.simulator.app import (
    DEFAULT_OAUTH_TOKEN,
    DEFAULT_PRIVATE_TOKEN,
    SimulatorConfig,
    create_app,
)
from conveyor.commerce.shoptet.simulator.server import run, serve_in_thread

__all__ = ["DEFAULT_OAUTH_TOKEN", "DEFAULT_PRIVATE_TOKEN", "SimulatorConfig", "create_app", "run", "serve_in_thread"]

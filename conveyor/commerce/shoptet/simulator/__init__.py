"""A faithful simulator of Shoptet's REST API, for demos, load tests and the Shoptet client's own tests.

    from conveyor.commerce.shoptet.simulator import SimulatorConfig, serve_in_thread

    with serve_in_thread(SimulatorConfig(orders=10_000, seed=7)) as base_url:
        ...  # point a Shoptet client at base_url with the private token "sim-private-token"

From the shell: ``conveyor sim shoptet --orders 100000 --port 8010``. Where things live: ``app.py`` assembles the
app (Shoptet's gatekeeping, and the choices made where Shoptet's documentation is silent), ``routes/`` has the
endpoints, one module per resource; ``state.py`` the shop's moving parts (jobs, webhooks, tokens),
``config.py`` the settings, ``responses.py`` Shoptet's envelope and query parameters, ``limits.py`` the rate
limits, ``data.py`` the data.
"""

from conveyor.commerce.shoptet.simulator.app import create_app
from conveyor.commerce.shoptet.simulator.config import DEFAULT_OAUTH_TOKEN, DEFAULT_PRIVATE_TOKEN, SimulatorConfig
from conveyor.commerce.shoptet.simulator.server import run, serve_in_thread

__all__ = ["DEFAULT_OAUTH_TOKEN", "DEFAULT_PRIVATE_TOKEN", "SimulatorConfig", "create_app", "run", "serve_in_thread"]

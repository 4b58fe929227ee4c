"""A simulator of suppliers' feed servers, for demos, benchmarks and the feed client's and importer's tests.

    from conveyor.commerce.feeds.simulator import SimulatorConfig, serve_in_thread

    with serve_in_thread(SimulatorConfig(items=1_000_000, seed=7)) as base_url:
        ...  # download f"{base_url}/feeds/velkoobchod/stock.csv" (cp1250, ';', decimal comma)

From the shell: ``conveyor sim feeds --items 1000000 --port 8020``. Where things live: ``data.py`` makes the
items (deterministic from the seed, streamed, never held in memory), ``formats.py`` prints them as CSV,
Heureka XML and Google Merchant RSS (and gzip), ``app.py`` serves them (validators, auth, faults),
``state.py`` tracks generations of changes and counters, ``config.py`` the settings, ``server.py`` runs it.
"""

from conveyor.commerce.feeds.simulator.app import DEFAULT_SUPPLIER, create_app, etag_for
from conveyor.commerce.feeds.simulator.config import FAULTS, SimulatorConfig
from conveyor.commerce.feeds.simulator.data import MALFORMED_KINDS, TEXT_STOCK_VALUES, FeedView, Row
from conveyor.commerce.feeds.simulator.formats import CSV_COLUMNS, FORMATS
from conveyor.commerce.feeds.simulator.server import run, serve_in_thread

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_SUPPLIER",
    "FAULTS",
    "FORMATS",
    "MALFORMED_KINDS",
    "TEXT_STOCK_VALUES",
    "FeedView",
    "Row",
    "SimulatorConfig",
    "create_app",
    "etag_for",
    "run",
    "serve_in_thread",
]

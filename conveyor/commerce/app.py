"""A ready back-office application: Conveyor with every commerce pack installed with its defaults.

For the command line without an application module of your own::

    export CONVEYOR_DATABASE_URL=postgresql://…  CONVEYOR_COMMERCE_SECRET_KEY=…
    conveyor --app conveyor.commerce.app:app db upgrade      # the queue's and the commerce tables
    conveyor --app conveyor.commerce.app:app up              # dashboard with Shops, Integrations, Catalogue…

Settings come from the environment (``CONVEYOR_*``, see ``conveyor.config``); the packs' data directory from
``CONVEYOR_COMMERCE_DATA_DIR`` (default ``./conveyor-data``). An application that needs other options calls
the installs itself (``conveyor.commerce.shoptet.pipelines.install``, ``conveyor.commerce.feeds.pipelines
.install``, ``conveyor.commerce.warehouse.install``).
"""

from __future__ import annotations

from conveyor import Conveyor
from conveyor.commerce import warehouse
from conveyor.commerce.feeds import pipelines as feeds
from conveyor.commerce.shoptet import pipelines as shoptet

app = Conveyor()
shoptet.install(app)
feeds.install(app)
warehouse.install(app)

"""Linking supplier items to catalogue items, as jobs on queue ``integrations``.

The rules live with their SQL in :mod:`conveyor.commerce.store.links` (SKU, then a unique EAN; ambiguous and
unmatched recorded, never guessed; a manual unlink is never re-linked). A linking run is a row of the pipeline
log too (pipeline ``feeds.link``, no shop), with its counts: ``created`` links made (by SKU or EAN),
``unchanged`` left unmatched, ``failed`` ambiguous. It runs after every successful import of the supplier's
feeds and on demand (``conveyor feeds link``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from conveyor.commerce import store
from conveyor.commerce.store import ImportCounts
from conveyor.commerce.store import links as link_store

if TYPE_CHECKING:
    from conveyor.commerce.feeds.pack import FeedsPack

log = logging.getLogger("conveyor.commerce.feeds")

PIPELINE = "feeds.link"


def run_linking(pack: FeedsPack, supplier_id: int | None, trigger: str) -> dict[str, Any]:
    """Auto-link the open supplier items of one supplier (or of all, with None) in one transaction."""
    with pack.app.transaction() as conn:
        execution_id = store.start_execution(conn, None, PIPELINE, trigger)
    try:
        with pack.app.read_transaction() as conn:  # nothing to change: no write lock taken (see settled())
            settled = link_store.settled(conn, supplier_id=supplier_id)
        with pack.app.transaction() as conn:
            counts = settled or link_store.auto_link(conn, supplier_id=supplier_id)
            made = counts.by_sku + counts.by_ean
            store.finish_execution(
                conn,
                execution_id,
                counts=ImportCounts(
                    read=made + counts.ambiguous + counts.unmatched,
                    created=made,
                    unchanged=counts.unmatched,
                    failed=counts.ambiguous,
                ),
            )
    except BaseException as exc:
        with pack.app.transaction() as conn:
            store.finish_execution(conn, execution_id, error=f"{type(exc).__name__}: {exc}"[:4000])
        raise
    log.info(
        "linking supplier %s: %d by SKU, %d by EAN, %d ambiguous, %d unmatched",
        supplier_id if supplier_id is not None else "(all)", counts.by_sku, counts.by_ean, counts.ambiguous,
        counts.unmatched,
    )  # fmt: skip
    return {"execution_id": execution_id, "supplier_id": supplier_id, **counts.as_dict()}

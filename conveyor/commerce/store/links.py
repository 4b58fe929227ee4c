"""Links between supplier items and catalogue items: automatic by SKU then EAN, manual, and their review.

Rules (the user guide, docs/feeds.md, says the same):

* Only supplier items whose status is ``unmatched`` or ``ambiguous`` are considered by auto-linking. A link,
  once made, stays: it is keyed by the supplier's own code and the catalogue item's id, so a later change of
  either side's SKU or EAN never silently re-links it. A manual unlink sets ``unlinked``, which auto-linking
  never touches again (only a manual link does).
* **SKU first**: the supplier item's ``sku_key`` (trimmed, lower-cased) equals a catalogue item's ``sku_key``
  (unique in the catalogue, so at most one match).
* **Then EAN**: exactly one active catalogue item has the supplier item's EAN (both normalised GTINs). Several
  → ``ambiguous``, with the candidates' ids in ``link_note`` (JSON list): nothing is guessed.
* Anything else → ``unmatched`` with the reason in ``link_note``.

Every step is one set-based statement over the candidates (``INSERT … SELECT``, ``UPDATE … WHERE``), so
100,000 supplier items link in a few statements, not 100,000 round trips; only the ambiguous pairs are
read back, to write their candidate lists.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, exists, func, insert, literal, or_, select

from conveyor.commerce.feeds.errors import FeedNotFoundError
from conveyor.commerce.store._sql import now
from conveyor.commerce.store.schema import catalog_items, item_links, supplier_items

LINKED, UNMATCHED, AMBIGUOUS, UNLINKED = "linked", "unmatched", "ambiguous", "unlinked"
LINK_STATUSES = (LINKED, UNMATCHED, AMBIGUOUS, UNLINKED)
#: Statuses auto-linking looks at again on every run (new catalogue items may resolve them).
OPEN_STATUSES = (UNMATCHED, AMBIGUOUS)

NO_CODES = "the feed gives neither a SKU nor an EAN"
NO_MATCH = "no catalogue item has this SKU or EAN"

_I = supplier_items
_C = catalog_items
_L = item_links


_LINK_COLUMNS = (_L.c.id, _L.c.item_id, _L.c.supplier_item_id, _L.c.supplier_id, _L.c.supplier_code, _L.c.method,
                 _L.c.created_at)  # fmt: skip


@dataclass
class LinkCounts:
    """What one auto-linking pass did."""

    by_sku: int = 0
    by_ean: int = 0
    ambiguous: int = 0
    unmatched: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"by_sku": self.by_sku, "by_ean": self.by_ean, "ambiguous": self.ambiguous, "unmatched": self.unmatched}


@dataclass(frozen=True)
class ItemLink:
    """A catalogue item linked to a supplier item (``method``: sku, ean or manual)."""

    id: int
    item_id: int
    supplier_item_id: int
    supplier_id: int
    supplier_code: str
    method: str
    created_at: float


def _candidates(supplier_id: int | None) -> Any:
    cond = and_(_I.c.link_status.in_(OPEN_STATUSES), ~exists().where(_L.c.supplier_item_id == _I.c.id))
    if supplier_id is not None:
        cond = and_(cond, _I.c.supplier_id == supplier_id)
    return cond


def _link_matches(conn: Connection, supplier_id: int | None, method: str, match: Any, at: float) -> int:
    """Insert a link for every open candidate with a match, then mark those candidates linked."""
    chosen = (
        select(_C.c.id, _I.c.id, _I.c.supplier_id, _I.c.supplier_code, literal(method), literal(at))
        .select_from(_I.join(_C, match))
        .where(_candidates(supplier_id), _C.c.active.is_(True))
    )
    made = conn.execute(
        insert(_L).from_select(
            ["item_id", "supplier_item_id", "supplier_id", "supplier_code", "method", "created_at"], chosen
        )
    ).rowcount
    if made:
        cond = and_(_I.c.link_status.in_(OPEN_STATUSES), exists().where(_L.c.supplier_item_id == _I.c.id))
        if supplier_id is not None:
            cond = and_(cond, _I.c.supplier_id == supplier_id)
        conn.execute(_I.update().where(cond).values(link_status=LINKED, link_note=None, updated_at=at))
    return int(made)


def auto_link(conn: Connection, *, supplier_id: int | None = None) -> LinkCounts:
    """Link the open supplier items (of one supplier, or all) to catalogue items: SKU, then a unique EAN;
    record the ambiguous and the unmatched. See the module docstring for the rules."""
    at = now()
    counts = LinkCounts()
    counts.by_sku = _link_matches(
        conn, supplier_id, "sku", and_(_I.c.sku_key.is_not(None), _C.c.sku_key == _I.c.sku_key), at
    )

    # An EAN that exactly one active catalogue item carries.
    c2 = _C.alias("c2")
    only_one = (
        select(func.count()).select_from(c2).where(c2.c.ean == _I.c.ean, c2.c.active.is_(True)).scalar_subquery() == 1
    )
    counts.by_ean = _link_matches(
        conn, supplier_id, "ean", and_(_I.c.ean.is_not(None), _C.c.ean == _I.c.ean, only_one), at
    )

    pairs = conn.execute(
        select(_I.c.id, _C.c.id)
        .select_from(_I.join(_C, and_(_I.c.ean.is_not(None), _C.c.ean == _I.c.ean)))
        .where(_candidates(supplier_id), _C.c.active.is_(True))
        .order_by(_I.c.id, _C.c.id)
    ).all()
    candidates: dict[int, list[int]] = {}
    for supplier_item_id, item_id in pairs:
        candidates.setdefault(int(supplier_item_id), []).append(int(item_id))
    ambiguous = [{"b_id": sid, "link_note": json.dumps(ids)} for sid, ids in candidates.items() if len(ids) > 1]
    if ambiguous:
        conn.execute(
            _I.update().where(_I.c.id == bindparam("b_id")).values(link_status=AMBIGUOUS, updated_at=at), ambiguous
        )
    counts.ambiguous = len(ambiguous)

    rest = _candidates(supplier_id)
    if ambiguous:
        rest = and_(rest, _I.c.link_status != AMBIGUOUS)
    no_codes = and_(_I.c.sku_key.is_(None), _I.c.ean.is_(None))
    # Only rows whose verdict changes are written: linking runs after every import, and rewriting every
    # unmatched item each time held SQLite's write lock for ~9 s on a 1M-item feed (the next run waited).
    for codes, note in ((no_codes, NO_CODES), (~no_codes, NO_MATCH)):
        differs = or_(_I.c.link_status != UNMATCHED, _I.c.link_note.is_(None), _I.c.link_note != note)
        conn.execute(_I.update().where(rest, codes, differs).values(link_status=UNMATCHED, link_note=note))
    counts.unmatched = int(
        conn.execute(select(func.count()).select_from(_I).where(rest, _I.c.link_status == UNMATCHED)).scalar_one()
    )
    return counts


def settled(conn: Connection, *, supplier_id: int | None = None) -> LinkCounts | None:
    """Read-only: what an :func:`auto_link` pass would report when it would change nothing (no open item with
    a SKU or EAN match, every open item already recorded as unmatched with the right note), else ``None``.

    Linking runs after every import; on SQLite its write transaction holds the database's write lock while
    its statements scan the supplier items (seconds on a million), and the next import waited that long even
    with nothing to link. Checked first in a read transaction, which blocks nobody."""
    open_items = _candidates(supplier_id)
    active = _C.c.active.is_(True)
    for match in (_C.c.sku_key == _I.c.sku_key, _C.c.ean == _I.c.ean):
        if conn.execute(
            select(_I.c.id).select_from(_I.join(_C, and_(match, active))).where(open_items).limit(1)
        ).first():
            return None
    no_codes = and_(_I.c.sku_key.is_(None), _I.c.ean.is_(None))
    expected = case((no_codes, NO_CODES), else_=NO_MATCH)
    differs = or_(_I.c.link_status != UNMATCHED, _I.c.link_note.is_(None), _I.c.link_note != expected)
    if conn.execute(select(_I.c.id).where(open_items, differs).limit(1)).first():
        return None
    unmatched = conn.execute(select(func.count()).select_from(_I).where(open_items)).scalar_one()
    return LinkCounts(unmatched=int(unmatched))


def link_item(conn: Connection, supplier_item_id: int, item_id: int) -> ItemLink:
    """Link a supplier item to a catalogue item by hand (replacing any link it had)."""
    row = conn.execute(select(_I.c.supplier_id, _I.c.supplier_code).where(_I.c.id == supplier_item_id)).first()
    if row is None:
        raise FeedNotFoundError(f"supplier item {supplier_item_id} not found")
    if conn.execute(select(_C.c.id).where(_C.c.id == item_id)).first() is None:
        raise FeedNotFoundError(f"catalogue item {item_id} not found")
    at = now()
    conn.execute(_L.delete().where(_L.c.supplier_item_id == supplier_item_id))
    new_id = conn.execute(
        _L.insert()
        .values(
            item_id=item_id,
            supplier_item_id=supplier_item_id,
            supplier_id=row[0],
            supplier_code=row[1],
            method="manual",
            created_at=at,
        )
        .returning(_L.c.id)
    ).scalar_one()
    conn.execute(
        _I.update().where(_I.c.id == supplier_item_id).values(link_status=LINKED, link_note=None, updated_at=at)
    )
    return ItemLink(int(new_id), item_id, supplier_item_id, int(row[0]), str(row[1]), "manual", at)


def unlink_item(conn: Connection, supplier_item_id: int) -> bool:
    """Remove a supplier item's link by hand; it becomes ``unlinked`` and auto-linking leaves it alone from
    now on. Returns whether there was a link."""
    if conn.execute(select(_I.c.id).where(_I.c.id == supplier_item_id)).first() is None:
        raise FeedNotFoundError(f"supplier item {supplier_item_id} not found")
    removed = conn.execute(_L.delete().where(_L.c.supplier_item_id == supplier_item_id)).rowcount
    conn.execute(
        _I.update()
        .where(_I.c.id == supplier_item_id)
        .values(link_status=UNLINKED, link_note="unlinked by hand: auto-linking leaves it alone", updated_at=now())
    )
    return bool(removed)


def get_link(conn: Connection, supplier_item_id: int) -> ItemLink | None:
    """The link of a supplier item, if it has one."""
    row = conn.execute(
        select(
            _L.c.id,
            _L.c.item_id,
            _L.c.supplier_item_id,
            _L.c.supplier_id,
            _L.c.supplier_code,
            _L.c.method,
            _L.c.created_at,
        ).where(_L.c.supplier_item_id == supplier_item_id)
    ).first()
    return None if row is None else ItemLink(*row)


def list_links(
    conn: Connection,
    *,
    item_id: int | None = None,
    supplier_id: int | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[ItemLink]:
    """Links by id (of one catalogue item or one supplier), a page after ``after_id``."""
    query = (
        select(
            _L.c.id,
            _L.c.item_id,
            _L.c.supplier_item_id,
            _L.c.supplier_id,
            _L.c.supplier_code,
            _L.c.method,
            _L.c.created_at,
        )
        .where(_L.c.id > after_id)
        .order_by(_L.c.id)
        .limit(limit)
    )
    if item_id is not None:
        query = query.where(_L.c.item_id == item_id)
    if supplier_id is not None:
        query = query.where(_L.c.supplier_id == supplier_id)
    return [ItemLink(*row) for row in conn.execute(query)]


def link_status_counts(conn: Connection, *, supplier_id: int | None = None) -> dict[str, int]:
    """How many supplier items are in each link status (every status present, 0 when none)."""
    query = select(_I.c.link_status, func.count()).group_by(_I.c.link_status)
    if supplier_id is not None:
        query = query.where(_I.c.supplier_id == supplier_id)
    counts = dict.fromkeys(LINK_STATUSES, 0)
    counts.update({str(status): int(n) for status, n in conn.execute(query)})
    return counts


def ambiguous_candidates(note: str | None) -> Sequence[int]:
    """The candidate catalogue item ids of an ambiguous supplier item (from its ``link_note``)."""
    if not note or not note.startswith("["):
        return []
    return [int(i) for i in json.loads(note)]

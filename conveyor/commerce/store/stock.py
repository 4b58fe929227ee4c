"""Warehouses and stock: totals per (item, warehouse), the ledger that explains them, reservations, and
``verify``. Documents (:mod:`.documents`) are the only other way stock changes, through :func:`apply_moves`.

The invariant: for every (item, warehouse), ``on_hand`` and ``reserved`` in ``commerce_stock_levels`` equal
the sums of the ledger's deltas, because both are written by :func:`apply_moves` in one transaction.
:func:`verify` recomputes the sums and lists every difference (there must never be one).

Locking (why concurrent postings never lose an update and never deadlock):

1. Missing stock rows are created first (``INSERT … ON CONFLICT DO NOTHING``), in sorted key order. Doing
   this before taking any row lock matters on PostgreSQL: a transaction that held row locks and then
   waited on another's uncommitted insert of the same key could deadlock with it.
2. The rows are then locked with ``SELECT … ORDER BY item_id, warehouse_id FOR UPDATE``: every transaction
   takes its locks in the same order, so none waits on one that waits on it. The new totals are checked
   against these locked values (a stock count reads ``on_hand`` here), and nothing is written when one
   would go below zero.
3. Updates add deltas (``on_hand = on_hand + :d``) under those locks; the ledger rows and the outbox rows
   (``commerce_stock_changes``) follow, one ``executemany`` per table.
4. A document's number counter is locked last, just before commit (see :mod:`.documents`), so the hot
   counter row is held for the shortest time.

On SQLite the application's write transaction is exclusive from its start (``BEGIN IMMEDIATE``), so the
same SQL runs one transaction at a time (``FOR UPDATE`` is simply not emitted there).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, func, literal, select, text, tuple_, union_all

from conveyor.commerce.store._sql import insert_rows, now, one_of
from conveyor.commerce.store.catalog import parse_decimal
from conveyor.commerce.store.schema import catalog_items, stock_changes, stock_ledger, stock_levels, warehouses
from conveyor.commerce.warehouse.errors import (
    InsufficientStockError,
    InvalidItemError,
    ItemNotFoundError,
    ReservationError,
    Shortage,
    WarehouseError,
    WarehouseNotFoundError,
)

ZERO = Decimal("0.000")
QUANTUM = Decimal("0.001")


# ------------------------------------------------------------------------------------------ warehouses
@dataclass(frozen=True)
class Warehouse:
    """A warehouse. ``allow_negative``: whether posting may take ``available`` below zero here."""

    id: int
    code: str
    name: str
    allow_negative: bool
    created_at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "allow_negative": self.allow_negative,
            "created_at": self.created_at,
        }


_WAREHOUSE_COLUMNS = (
    warehouses.c.id,
    warehouses.c.code,
    warehouses.c.name,
    warehouses.c.allow_negative,
    warehouses.c.created_at,
)


def create_warehouse(
    conn: Connection, code: str, name: str | None = None, *, allow_negative: bool = False
) -> Warehouse:
    """Add a warehouse; ``code`` is its short unique name (``MAIN``, ``PRAHA``). :class:`WarehouseError` when
    the code is empty, too long or taken."""
    code = (code or "").strip()
    if not code:
        raise WarehouseError("a warehouse needs a code (e.g. MAIN)")
    if len(code) > 32:
        raise WarehouseError(f"warehouse code {code[:20]!r}… is longer than 32 characters")
    if code.isdigit():
        raise WarehouseError(f"warehouse code {code!r} is a number; use letters too (numbers mean ids)")
    taken = conn.execute(select(warehouses.c.id).where(func.lower(warehouses.c.code) == code.lower())).first()
    if taken is not None:
        raise WarehouseError(f"a warehouse with code {code!r} already exists (id {taken.id})")
    warehouse_id = conn.execute(
        warehouses.insert()
        .values(code=code, name=(name or code).strip(), allow_negative=allow_negative, created_at=now())
        .returning(warehouses.c.id)
    ).scalar_one()
    return get_warehouse(conn, int(warehouse_id))


def get_warehouse(conn: Connection, ref: int | str) -> Warehouse:
    """A warehouse by id (an int, or a string of digits) or by code (case-insensitive);
    :class:`WarehouseNotFoundError` if there is none."""
    if isinstance(ref, int) or ref.strip().isdigit():
        row = conn.execute(select(*_WAREHOUSE_COLUMNS).where(warehouses.c.id == int(ref))).first()
        missing: int | str = int(ref)
    else:
        row = conn.execute(
            select(*_WAREHOUSE_COLUMNS).where(func.lower(warehouses.c.code) == ref.strip().lower())
        ).first()
        missing = ref.strip()
    if row is None:
        raise WarehouseNotFoundError(missing)
    return Warehouse(*row)


def list_warehouses(conn: Connection) -> list[Warehouse]:
    """Every warehouse, by id."""
    return [Warehouse(*row) for row in conn.execute(select(*_WAREHOUSE_COLUMNS).order_by(warehouses.c.id))]


def set_allow_negative(conn: Connection, warehouse_id: int, allow: bool) -> Warehouse:
    """Allow (or stop allowing) postings that take ``available`` below zero in this warehouse."""
    done = conn.execute(warehouses.update().where(warehouses.c.id == warehouse_id).values(allow_negative=allow))
    if done.rowcount != 1:
        raise WarehouseNotFoundError(warehouse_id)
    return get_warehouse(conn, warehouse_id)


# ------------------------------------------------------------------------------------------ stock levels
@dataclass(frozen=True)
class StockLevel:
    """Stock of one item in one warehouse. ``available`` = ``on_hand`` − ``reserved``."""

    item_id: int
    sku: str
    warehouse_id: int
    warehouse: str
    on_hand: Decimal
    reserved: Decimal

    @property
    def available(self) -> Decimal:
        return self.on_hand - self.reserved

    def as_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "sku": self.sku,
            "warehouse_id": self.warehouse_id,
            "warehouse": self.warehouse,
            "on_hand": str(self.on_hand),
            "reserved": str(self.reserved),
            "available": str(self.available),
        }


def list_stock(
    conn: Connection,
    *,
    item_ids: Iterable[int] | None = None,
    warehouse_id: int | None = None,
    after: tuple[int, int] = (0, 0),
    limit: int = 100,
) -> list[StockLevel]:
    """Stock rows by (item id, warehouse id) after ``after`` (keyset pages: pass the last row's pair),
    optionally only for some items and/or one warehouse. Rows appear once an item's stock was ever changed."""
    query = (
        select(
            stock_levels.c.item_id,
            catalog_items.c.sku,
            stock_levels.c.warehouse_id,
            warehouses.c.code,
            stock_levels.c.on_hand,
            stock_levels.c.reserved,
        )
        .join(catalog_items, catalog_items.c.id == stock_levels.c.item_id)
        .join(warehouses, warehouses.c.id == stock_levels.c.warehouse_id)
        .where(
            tuple_(stock_levels.c.item_id, stock_levels.c.warehouse_id) > tuple_(literal(after[0]), literal(after[1]))
        )
        .order_by(stock_levels.c.item_id, stock_levels.c.warehouse_id)
        .limit(max(1, min(limit, 10_000)))
    )
    if item_ids is not None:
        query = query.where(one_of(stock_levels.c.item_id, list(item_ids)))
    if warehouse_id is not None:
        query = query.where(stock_levels.c.warehouse_id == warehouse_id)
    return [
        StockLevel(int(r.item_id), r.sku, int(r.warehouse_id), r.code, _q(r.on_hand), _q(r.reserved))
        for r in conn.execute(query)
    ]


def _q(value: Any) -> Decimal:
    """A stored quantity as an exact 3-place Decimal (SQLite may hand back a float's rounding noise)."""
    return Decimal(str(value or 0)).quantize(QUANTUM)


# ------------------------------------------------------------------------------------------ moves
class Move(NamedTuple):
    """One ledger row to write: a change of ``on_hand`` and/or ``reserved`` of an item in a warehouse."""

    item_id: int
    warehouse_id: int
    on_hand_delta: Decimal
    reserved_delta: Decimal
    line_no: int | None = None


Key = tuple[int, int]


class Locked(NamedTuple):
    """A stock row as locked for a posting: its totals and whether its warehouse allows negative stock."""

    on_hand: Decimal
    reserved: Decimal
    allow_negative: bool


def lock_levels(conn: Connection, keys: Iterable[Key]) -> dict[Key, Locked]:
    """Create the missing stock rows of ``keys``, lock all of them in key order, and return them.
    See the module docstring for why in this order. Two statements, whatever the number of keys."""
    ordered = sorted(set(keys))
    if not ordered:
        return {}
    at = now()
    insert_rows(
        conn,
        stock_levels,
        [{"item_id": i, "warehouse_id": w, "on_hand": ZERO, "reserved": ZERO, "updated_at": at} for i, w in ordered],
        ignore_conflicts=("item_id", "warehouse_id"),
    )
    if conn.dialect.name == "postgresql":
        rows = conn.execute(_PG_LOCK, {"items": [i for i, _ in ordered], "whs": [w for _, w in ordered]})
    else:  # the write transaction is exclusive already: nothing to lock
        rows = conn.execute(
            select(
                stock_levels.c.item_id,
                stock_levels.c.warehouse_id,
                stock_levels.c.on_hand,
                stock_levels.c.reserved,
                warehouses.c.allow_negative,
            )
            .join(warehouses, warehouses.c.id == stock_levels.c.warehouse_id)
            .where(tuple_(stock_levels.c.item_id, stock_levels.c.warehouse_id).in_(ordered))
        )
    return {(int(r[0]), int(r[1])): Locked(_q(r[2]), _q(r[3]), bool(r[4])) for r in rows}


def apply_moves(
    conn: Connection,
    moves: Sequence[Move],
    locked: dict[Key, Locked],
    *,
    what: str,
    document_id: int | None = None,
    reservation_ref: str | None = None,
    check_reserved: bool = False,
) -> list[int]:
    """Check and write ``moves`` against rows already locked by :func:`lock_levels`: the totals, the ledger
    and the outbox, one statement per table. Returns the ids of the items changed.

    Refused before anything is written (:class:`InsufficientStockError`) when a key's net change lowers
    ``available`` below zero in a warehouse that does not allow it — every short item is listed. With
    ``check_reserved``, also when ``reserved`` would go below zero (:class:`ReservationError`)."""
    net: dict[Key, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for move in moves:
        entry = net[(move.item_id, move.warehouse_id)]
        entry[0] += move.on_hand_delta
        entry[1] += move.reserved_delta
    changed = {key: d for key, d in net.items() if d[0] or d[1]}
    shortages: list[tuple[Key, Decimal, Decimal]] = []
    for key, (d_on, d_res) in sorted(changed.items()):
        on_hand, reserved, allow_negative = locked[key]
        if check_reserved and reserved + d_res < 0:
            sku, code = _names(conn, [key])[key]
            raise ReservationError(
                f"cannot release {-d_res.normalize():f} of item {sku} in warehouse {code}: only "
                f"{reserved.normalize():f} reserved; nothing was written"
            )
        taken = d_on - d_res
        if taken < 0 and not allow_negative and on_hand - reserved + taken < 0:
            shortages.append((key, -taken, on_hand - reserved))
    if shortages:
        names = _names(conn, [key for key, _, _ in shortages])
        raise InsufficientStockError(
            [Shortage(*names[key], requested, available) for key, requested, available in shortages], what=what
        )
    if not changed:
        return []
    at = now()
    rows = [(i, w, d[0], d[1]) for (i, w), d in sorted(changed.items())]
    # The rows are locked already, so adding the deltas cannot lose a concurrent update.
    if conn.dialect.name == "postgresql":
        conn.execute(
            _PG_ADD,
            {
                "items": [r[0] for r in rows],
                "whs": [r[1] for r in rows],
                "d_on": [r[2] for r in rows],
                "d_res": [r[3] for r in rows],
                "at": at,
            },
        )
    else:
        conn.execute(
            _ADD, [{"b_item": i, "b_wh": w, "d_on": d_on, "d_res": d_res, "at": at} for i, w, d_on, d_res in rows]
        )
    insert_rows(
        conn,
        stock_ledger,
        [
            {
                "document_id": document_id,
                "line_no": m.line_no,
                "reservation_ref": reservation_ref,
                "item_id": m.item_id,
                "warehouse_id": m.warehouse_id,
                "on_hand_delta": m.on_hand_delta,
                "reserved_delta": m.reserved_delta,
                "created_at": at,
            }
            for m in moves
            if m.on_hand_delta or m.reserved_delta
        ],
    )
    items = sorted({i for i, _ in changed})
    insert_rows(conn, stock_changes, [{"item_id": i, "document_id": document_id, "created_at": at} for i in items])
    return items


# ------------------------------------------------------------------------------------------ bulk SQL
# Postings write a few rows to several tables. On PostgreSQL each table gets ONE statement that takes its rows
# as arrays (``unnest``): constant SQL text (compiled once by SQLAlchemy, prepared once by psycopg), one
# round trip, rows in the given order. ``executemany`` costs a message per row there, and multi-row VALUES
# are compiled anew for every row count (measured: both halved posting throughput). On SQLite, executemany
# runs in-process and is the cheapest.

_PG_LOCK = text(
    "SELECT s.item_id, s.warehouse_id, s.on_hand, s.reserved, w.allow_negative "
    "FROM commerce_stock_levels AS s "
    "JOIN unnest(CAST(:items AS BIGINT[]), CAST(:whs AS BIGINT[])) AS k (item_id, warehouse_id) "
    "ON s.item_id = k.item_id AND s.warehouse_id = k.warehouse_id "
    "JOIN commerce_warehouses AS w ON w.id = s.warehouse_id "
    "ORDER BY s.item_id, s.warehouse_id "
    "FOR UPDATE OF s"  # in key order: see the module docstring
)
_PG_ADD = text(
    "UPDATE commerce_stock_levels AS s "
    "SET on_hand = s.on_hand + d.d_on, reserved = s.reserved + d.d_res, updated_at = :at "
    "FROM unnest(CAST(:items AS BIGINT[]), CAST(:whs AS BIGINT[]), CAST(:d_on AS NUMERIC[]), "
    "CAST(:d_res AS NUMERIC[])) AS d (item_id, warehouse_id, d_on, d_res) "
    "WHERE s.item_id = d.item_id AND s.warehouse_id = d.warehouse_id"
)
_ADD = (
    stock_levels.update()
    .where(stock_levels.c.item_id == bindparam("b_item"), stock_levels.c.warehouse_id == bindparam("b_wh"))
    .values(
        on_hand=stock_levels.c.on_hand + bindparam("d_on", type_=stock_levels.c.on_hand.type),
        reserved=stock_levels.c.reserved + bindparam("d_res", type_=stock_levels.c.reserved.type),
        updated_at=bindparam("at", type_=stock_levels.c.updated_at.type),
    )
)


def _names(conn: Connection, keys: Sequence[Key]) -> dict[Key, tuple[str, str]]:
    """SKU and warehouse code of each key, for messages."""
    item_ids, warehouse_ids = {i for i, _ in keys}, {w for _, w in keys}
    skus = {
        int(i): str(sku)
        for i, sku in conn.execute(
            select(catalog_items.c.id, catalog_items.c.sku).where(one_of(catalog_items.c.id, item_ids))
        )
    }
    codes = {
        int(w): str(code)
        for w, code in conn.execute(
            select(warehouses.c.id, warehouses.c.code).where(one_of(warehouses.c.id, warehouse_ids))
        )
    }
    return {(i, w): (skus.get(i, f"#{i}"), codes.get(w, f"#{w}")) for i, w in keys}


# ------------------------------------------------------------------------------------------ reservations
def reserve(conn: Connection, item_id: int, warehouse_id: int, quantity: Decimal | str | int, ref: str) -> StockLevel:
    """Reserve ``quantity`` of an item in a warehouse for ``ref`` (an order code, …): ``reserved`` grows,
    ``available`` shrinks, and a ledger row with ``reservation_ref`` explains it.

    :class:`InsufficientStockError` when ``available`` would go below zero (unless the warehouse allows
    it); the orders module calls this inside the transaction that accepts the order."""
    qty = _positive(quantity, "quantity to reserve")
    return _reservation(conn, item_id, warehouse_id, qty, ref, f"reservation {ref}")


def release(conn: Connection, item_id: int, warehouse_id: int, quantity: Decimal | str | int, ref: str) -> StockLevel:
    """Release a reservation (an order shipped through a WZ, or cancelled); :class:`ReservationError` when
    more is released than is reserved."""
    qty = _positive(quantity, "quantity to release")
    return _reservation(conn, item_id, warehouse_id, -qty, ref, f"release {ref}")


def _reservation(conn: Connection, item_id: int, warehouse_id: int, qty: Decimal, ref: str, what: str) -> StockLevel:
    ref = (ref or "").strip()
    if not ref:
        raise ReservationError("a reservation needs a reference (e.g. the order code)")
    if len(ref) > 255:
        raise ReservationError("a reservation reference is at most 255 characters")
    if conn.execute(select(catalog_items.c.id).where(catalog_items.c.id == item_id)).first() is None:
        raise ItemNotFoundError(item_id)
    get_warehouse(conn, warehouse_id)
    key = (item_id, warehouse_id)
    locked = lock_levels(conn, [key])
    apply_moves(
        conn, [Move(item_id, warehouse_id, ZERO, qty)], locked, what=what, reservation_ref=ref, check_reserved=True
    )
    return list_stock(conn, item_ids=[item_id], warehouse_id=warehouse_id, limit=1)[0]


def _positive(value: Decimal | str | int, what: str) -> Decimal:
    try:
        qty = parse_decimal(value, what, places=3, minimum=None)
    except InvalidItemError as exc:
        raise ReservationError(str(exc)) from None
    if qty is None or qty <= 0:
        raise ReservationError(f"{what} must be greater than zero, got {value!r}")
    return qty


# ------------------------------------------------------------------------------------------ verify
@dataclass(frozen=True)
class Difference:
    """A stock row whose totals differ from the sums of its ledger (there must never be one)."""

    item_id: int
    sku: str
    warehouse_id: int
    warehouse: str
    on_hand: Decimal
    ledger_on_hand: Decimal
    reserved: Decimal
    ledger_reserved: Decimal

    def __str__(self) -> str:
        return (
            f"item {self.sku} in {self.warehouse}: on hand {self.on_hand} (ledger {self.ledger_on_hand}), "
            f"reserved {self.reserved} (ledger {self.ledger_reserved})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "sku": self.sku,
            "warehouse_id": self.warehouse_id,
            "warehouse": self.warehouse,
            "on_hand": str(self.on_hand),
            "ledger_on_hand": str(self.ledger_on_hand),
            "reserved": str(self.reserved),
            "ledger_reserved": str(self.ledger_reserved),
        }


def verify(conn: Connection) -> list[Difference]:
    """Recompute every total from the ledger (``GROUP BY item, warehouse``) and return each row where the
    stored ``on_hand`` or ``reserved`` differs from it, or where the ledger has rows but no total exists.

    One set-based query over both tables; run it in a read transaction (it sees one consistent snapshot)."""
    zero = literal(0, type_=stock_levels.c.on_hand.type)
    both = union_all(
        select(
            stock_levels.c.item_id.label("item_id"),
            stock_levels.c.warehouse_id.label("warehouse_id"),
            stock_levels.c.on_hand.label("on_hand"),
            stock_levels.c.reserved.label("reserved"),
            zero.label("l_on_hand"),
            zero.label("l_reserved"),
        ),
        select(
            stock_ledger.c.item_id,
            stock_ledger.c.warehouse_id,
            zero,
            zero,
            stock_ledger.c.on_hand_delta,
            stock_ledger.c.reserved_delta,
        ),
    ).subquery()
    on_hand, reserved = func.sum(both.c.on_hand), func.sum(both.c.reserved)
    l_on_hand, l_reserved = func.sum(both.c.l_on_hand), func.sum(both.c.l_reserved)
    half = Decimal("0.0005")  # SQLite sums in floating point: compare at the columns' precision
    rows = conn.execute(
        select(both.c.item_id, both.c.warehouse_id, on_hand, l_on_hand, reserved, l_reserved)
        .group_by(both.c.item_id, both.c.warehouse_id)
        .having((func.abs(on_hand - l_on_hand) >= half) | (func.abs(reserved - l_reserved) >= half))
        .order_by(both.c.item_id, both.c.warehouse_id)
    ).all()
    if not rows:
        return []
    keys = [(int(r[0]), int(r[1])) for r in rows]
    names = _names(conn, keys)
    differences = []
    for key, r in zip(keys, rows, strict=True):
        sku, code = names[key]
        differences.append(Difference(key[0], sku, key[1], code, _q(r[2]), _q(r[3]), _q(r[4]), _q(r[5])))
    return differences


# ------------------------------------------------------------------------------------------ the outbox
def take_stock_changes(conn: Connection, *, limit: int = 5000) -> list[int]:
    """Consume up to ``limit`` rows of the stock-change outbox (oldest first) and return the distinct item
    ids they name, sorted. The rows are deleted in the caller's transaction: commit it together with what
    was done about the items, so a failure leaves them for the next run (at least once, never lost).

    Deleting the exact rows read (not "every id up to the last one") matters on PostgreSQL: an id is taken
    at insert time, so a posting still in flight can commit a smaller id after this read."""
    oldest = select(stock_changes.c.id).order_by(stock_changes.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        oldest = oldest.with_for_update(skip_locked=True)  # two consumers never take the same rows
    ids = [int(i) for i in conn.execute(oldest).scalars()]
    if not ids:
        return []
    items = conn.execute(
        stock_changes.delete().where(one_of(stock_changes.c.id, ids)).returning(stock_changes.c.item_id)
    ).scalars()
    return sorted({int(i) for i in items})


def count_stock_changes(conn: Connection) -> int:
    """Rows waiting in the stock-change outbox."""
    return int(conn.execute(select(func.count()).select_from(stock_changes)).scalar_one())

"""Shops: the platforms' e-shops we sync, with their credentials encrypted at rest.

A :class:`Shop` never carries its credentials: they are decrypted only on request
(:func:`shop_credentials`), so a shop can be logged, listed or shown in the dashboard without leaking a token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, select

from conveyor import ConfigurationError
from conveyor.commerce.store._sql import now
from conveyor.commerce.store.crypto import CredentialCipher
from conveyor.commerce.store.errors import ShopNotFoundError
from conveyor.commerce.store.schema import (
    customers,
    execution_errors,
    order_items,
    orders,
    parked_records,
    pipeline_executions,
    products,
    shops,
    snapshot_files,
    sync_cursors,
    variants,
    webhook_events,
)


@dataclass(frozen=True)
class Shop:
    """A shop as stored, without its credentials."""

    id: int
    platform: str
    name: str
    base_url: str
    is_master: bool
    timezone: str
    created_at: float
    updated_at: float


_COLUMNS = (
    shops.c.id,
    shops.c.platform,
    shops.c.name,
    shops.c.base_url,
    shops.c.is_master,
    shops.c.timezone,
    shops.c.created_at,
    shops.c.updated_at,
)


def _shop(row: Sequence[Any]) -> Shop:
    return Shop(*row)


def _check_timezone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"unknown time zone {timezone!r} (use an IANA name such as 'Europe/Prague')") from None


def create_shop(
    conn: Connection,
    cipher: CredentialCipher,
    *,
    platform: str,
    name: str,
    base_url: str,
    credentials: Mapping[str, Any],
    timezone: str = "UTC",
    is_master: bool = False,
) -> Shop:
    """Add a shop; ``credentials`` (e.g. ``{"token": "…"}``) are stored encrypted with ``cipher``.

    Raises :class:`~conveyor.ConfigurationError` for an unknown time zone, a name already taken, or a second
    master shop (there is at most one: the shop whose catalogue and stock are the source of truth).
    """
    _check_timezone(timezone)
    if not platform or not name:
        raise ConfigurationError("a shop needs a platform and a name")
    if conn.execute(select(shops.c.id).where(shops.c.name == name)).first() is not None:
        raise ConfigurationError(f"a shop named {name!r} already exists")
    if is_master and (master := master_shop(conn)) is not None:
        raise ConfigurationError(f"shop {master.name!r} is already the master shop (see set_master_shop)")
    at = now()
    shop_id = conn.execute(
        shops.insert()
        .values(
            platform=platform,
            name=name,
            base_url=base_url,
            credentials=cipher.encrypt(credentials),
            is_master=is_master,
            timezone=timezone,
            created_at=at,
            updated_at=at,
        )
        .returning(shops.c.id)
    ).scalar_one()
    return get_shop(conn, shop_id)


def get_shop(conn: Connection, shop_id: int) -> Shop:
    """The shop with this id; :class:`ShopNotFoundError` if there is none."""
    row = conn.execute(select(*_COLUMNS).where(shops.c.id == shop_id)).first()
    if row is None:
        raise ShopNotFoundError(shop_id)
    return _shop(row)


def get_shop_by_name(conn: Connection, name: str) -> Shop:
    """The shop with this name; :class:`ShopNotFoundError` if there is none."""
    row = conn.execute(select(*_COLUMNS).where(shops.c.name == name)).first()
    if row is None:
        raise ShopNotFoundError(name)
    return _shop(row)


def list_shops(conn: Connection, *, platform: str | None = None) -> list[Shop]:
    """Every shop (of one platform, if given), by id."""
    query = select(*_COLUMNS).order_by(shops.c.id)
    if platform is not None:
        query = query.where(shops.c.platform == platform)
    return [_shop(row) for row in conn.execute(query)]


def master_shop(conn: Connection) -> Shop | None:
    """The master shop, if one is set."""
    row = conn.execute(select(*_COLUMNS).where(shops.c.is_master)).first()
    return None if row is None else _shop(row)


def set_master_shop(conn: Connection, shop_id: int | None) -> None:
    """Make this shop the master (the previous master stops being one); ``None`` leaves no master."""
    if shop_id is not None:
        get_shop(conn, shop_id)
    at = now()
    # Clear first: ux_commerce_shops_master allows one true row at any moment, also inside the transaction.
    conn.execute(shops.update().where(shops.c.is_master).values(is_master=False, updated_at=at))
    if shop_id is not None:
        conn.execute(shops.update().where(shops.c.id == shop_id).values(is_master=True, updated_at=at))


def shop_credentials(conn: Connection, cipher: CredentialCipher, shop_id: int) -> dict[str, Any]:
    """The shop's decrypted credentials; :class:`CredentialsKeyError` if ``cipher`` has the wrong key."""
    token = conn.execute(select(shops.c.credentials).where(shops.c.id == shop_id)).scalar_one_or_none()
    if token is None:
        raise ShopNotFoundError(shop_id)
    return cipher.decrypt(token)


def set_shop_credentials(
    conn: Connection, cipher: CredentialCipher, shop_id: int, credentials: Mapping[str, Any]
) -> None:
    """Replace the shop's credentials (e.g. after the platform issued a new token)."""
    done = conn.execute(
        shops.update().where(shops.c.id == shop_id).values(credentials=cipher.encrypt(credentials), updated_at=now())
    )
    if done.rowcount != 1:
        raise ShopNotFoundError(shop_id)


def rotate_credentials(conn: Connection, cipher: CredentialCipher) -> int:
    """Re-encrypt every shop's credentials with ``cipher``'s first key (after adding a new key in front of
    the old one in ``CONVEYOR_COMMERCE_SECRET_KEY``); returns how many shops were rewritten. All or nothing
    within the caller's transaction: a token no key opens raises :class:`CredentialsKeyError`."""
    rows = conn.execute(select(shops.c.id, shops.c.credentials)).all()
    at = now()
    for shop_id, token in rows:
        conn.execute(
            shops.update().where(shops.c.id == shop_id).values(credentials=cipher.rotate(token), updated_at=at)
        )
    return len(rows)


def delete_shop(conn: Connection, shop_id: int) -> bool:
    """Delete a shop and everything stored for it (orders, items, customers, products, executions, …).
    False if there was no such shop. On a large shop this is a long transaction: run it off-hours."""
    if conn.execute(select(shops.c.id).where(shops.c.id == shop_id)).first() is None:
        return False
    executions = select(pipeline_executions.c.id).where(pipeline_executions.c.shop_id == shop_id)
    shop_orders = select(orders.c.id).where(orders.c.shop_id == shop_id)
    # Dependants first: PostgreSQL enforces the foreign keys, and SQLite has no cascades turned on.
    conn.execute(order_items.delete().where(order_items.c.order_id.in_(shop_orders)))
    conn.execute(execution_errors.delete().where(execution_errors.c.execution_id.in_(executions)))
    for table in (orders, customers, variants, products, sync_cursors, snapshot_files, webhook_events, parked_records):
        conn.execute(table.delete().where(table.c.shop_id == shop_id))
    conn.execute(pipeline_executions.delete().where(pipeline_executions.c.shop_id == shop_id))
    conn.execute(shops.delete().where(shops.c.id == shop_id))
    return True


def set_shop_base_url(conn: Connection, shop_id: int, base_url: str) -> Shop:
    """Point the shop at another API URL, keeping everything synced from it (e.g. a simulator that moved
    ports); :class:`ShopNotFoundError` if there is no such shop."""
    done = conn.execute(shops.update().where(shops.c.id == shop_id).values(base_url=base_url, updated_at=now()))
    if done.rowcount != 1:
        raise ShopNotFoundError(shop_id)
    return get_shop(conn, shop_id)

"""Shops and their credentials: encrypted at rest, opened only with the right key."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from conveyor import ConfigurationError
from conveyor.commerce.store import (
    KEY_ENV,
    CredentialCipher,
    CredentialsKeyError,
    RecordError,
    Shop,
    ShopNotFoundError,
    create_shop,
    delete_shop,
    generate_key,
    get_shop,
    get_shop_by_name,
    import_order,
    import_product,
    list_shops,
    master_shop,
    record_errors,
    record_webhook_event,
    rotate_credentials,
    set_cursor,
    set_master_shop,
    set_shop_credentials,
    shop_credentials,
    start_execution,
)
from conveyor.commerce.store.schema import metadata, shops
from tests.commerce.store import factories


def _add(
    engine: Engine, cipher: CredentialCipher, name: str, *, timezone: str = "UTC", is_master: bool = False
) -> Shop:
    with engine.begin() as conn:
        return create_shop(
            conn,
            cipher,
            platform="shoptet",
            name=name,
            base_url=f"https://{name}.myshoptet.com",
            credentials={"token": f"token-of-{name}"},
            timezone=timezone,
            is_master=is_master,
        )


def test_credentials_are_stored_encrypted_and_decrypt_with_the_key(
    engine: Engine, cipher: CredentialCipher, shop: Shop
) -> None:
    with engine.connect() as conn:
        raw = conn.execute(select(shops.c.credentials).where(shops.c.id == shop.id)).scalar_one()
        assert "secret-token-123" not in raw
        assert shop_credentials(conn, cipher, shop.id) == {"token": "secret-token-123"}


def test_a_shop_never_carries_its_credentials(shop: Shop) -> None:
    assert "secret-token-123" not in repr(shop)
    assert not hasattr(shop, "credentials")


def test_the_wrong_key_is_a_clear_error(engine: Engine, shop: Shop) -> None:
    with (
        engine.connect() as conn,
        pytest.raises(CredentialsKeyError, match=f"{KEY_ENV}.*is not the key they were stored with"),
    ):
        shop_credentials(conn, CredentialCipher(generate_key()), shop.id)


def test_a_missing_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(CredentialsKeyError, match=f"set {KEY_ENV}.*generate_key"):
        CredentialCipher()


def test_a_malformed_key_is_a_clear_error_that_does_not_echo_it() -> None:
    with pytest.raises(CredentialsKeyError, match="malformed") as raised:
        CredentialCipher("not-a-fernet-key-but-a-secret")
    assert "not-a-fernet-key-but-a-secret" not in str(raised.value)


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_key()
    monkeypatch.setenv(KEY_ENV, key)
    token = CredentialCipher().encrypt({"token": "t"})
    assert CredentialCipher(key).decrypt(token) == {"token": "t"}


def test_rotation_reencrypts_with_the_new_key_and_the_old_key_works_meanwhile(engine: Engine) -> None:
    old, new = generate_key(), generate_key()
    shop = _add(engine, CredentialCipher(old), "rotated")
    during = CredentialCipher([new, old])  # CONVEYOR_COMMERCE_SECRET_KEY="new,old"
    with engine.begin() as conn:
        assert shop_credentials(conn, during, shop.id) == {"token": "token-of-rotated"}
        assert rotate_credentials(conn, during) == 1
    with engine.connect() as conn:
        assert shop_credentials(conn, CredentialCipher(new), shop.id) == {"token": "token-of-rotated"}
        with pytest.raises(CredentialsKeyError):
            shop_credentials(conn, CredentialCipher(old), shop.id)


def test_credentials_can_be_replaced(engine: Engine, cipher: CredentialCipher, shop: Shop) -> None:
    with engine.begin() as conn:
        set_shop_credentials(conn, cipher, shop.id, {"token": "new"})
        assert shop_credentials(conn, cipher, shop.id) == {"token": "new"}


def test_shops_are_found_by_id_and_name_and_listed(engine: Engine, cipher: CredentialCipher, shop: Shop) -> None:
    other = _add(engine, cipher, "beta", timezone="Europe/Bratislava")
    with engine.connect() as conn:
        assert get_shop(conn, shop.id) == shop
        assert get_shop_by_name(conn, "beta") == other
        assert [s.name for s in list_shops(conn)] == ["acme", "beta"]
        assert list_shops(conn, platform="prestashop") == []
        with pytest.raises(ShopNotFoundError, match="'nope' not found"):
            get_shop_by_name(conn, "nope")
        with pytest.raises(ShopNotFoundError):
            get_shop(conn, 999)


def test_shop_names_are_unique_and_time_zones_real(engine: Engine, cipher: CredentialCipher, shop: Shop) -> None:
    with pytest.raises(ConfigurationError, match="'acme' already exists"):
        _add(engine, cipher, "acme")
    with pytest.raises(ConfigurationError, match="unknown time zone 'Europe/Prag'"):
        _add(engine, cipher, "gamma", timezone="Europe/Prag")


def test_there_is_at_most_one_master_shop(engine: Engine, cipher: CredentialCipher, shop: Shop) -> None:
    master = _add(engine, cipher, "master", is_master=True)
    with pytest.raises(ConfigurationError, match="'master' is already the master"):
        _add(engine, cipher, "second", is_master=True)
    with engine.begin() as conn:
        assert master_shop(conn) == master
        set_master_shop(conn, shop.id)
        assert [s.name for s in list_shops(conn) if s.is_master] == ["acme"]
        set_master_shop(conn, None)
        assert master_shop(conn) is None


SHOP_TABLES = {
    "commerce_shops", "commerce_customers", "commerce_orders", "commerce_order_items", "commerce_products",
    "commerce_variants", "commerce_sync_cursors", "commerce_pipeline_executions", "commerce_execution_errors",
    "commerce_webhook_events", "commerce_snapshot_files", "commerce_parked_records",
}  # fmt: skip


def test_deleting_a_shop_deletes_everything_stored_for_it_and_nothing_else(
    engine: Engine, cipher: CredentialCipher, shop: Shop
) -> None:
    other = _add(engine, cipher, "beta")
    with engine.begin() as conn:
        for s in (shop, other):
            import_order(conn, s.id, factories.order())
            import_product(conn, s.id, factories.product())
            set_cursor(conn, s.id, "orders.change_time", "x")
            record_webhook_event(conn, s.id, "order:create", "2024000001", "2024-03-01T10:00:00+0100")
            record_errors(conn, start_execution(conn, s.id, "orders", "manual"), [RecordError("1", "bad")])
    with engine.begin() as conn:
        assert delete_shop(conn, shop.id)
        assert not delete_shop(conn, shop.id)
    with engine.connect() as conn:
        assert [s.name for s in list_shops(conn)] == ["beta"]
        left = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in metadata.sorted_tables}
    # Exactly what beta's imports stored: one order with 3 items, its customer, a product with 2 variants, …
    assert left == {
        "commerce_shops": 1,
        "commerce_customers": 1,
        "commerce_orders": 1,
        "commerce_order_items": 3,
        "commerce_products": 1,
        "commerce_variants": 2,
        "commerce_sync_cursors": 1,
        "commerce_pipeline_executions": 1,
        "commerce_execution_errors": 1,
        "commerce_webhook_events": 1,
        "commerce_snapshot_files": 0,
        "commerce_parked_records": 0,
        # Warehouse and supplier feeds belong to no shop.
        **{t.name: 0 for t in metadata.sorted_tables if t.name not in SHOP_TABLES},
    }

"""The driver suite for ``conveyor_locks`` (``Driver.lock_*``): the same cases against every database.

These call the driver directly with explicit instants, so expiry needs no clock and no sleeping. The
waiting, TTL and message logic above them is tested in tests/coordination/test_locks.py.

PostgreSQL cases share one migrated database and empty the lock table first (creating a database costs
about a second, longer than any case here); SQLite gets a fresh file per case.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from conveyor.store import schema
from conveyor.store.base import Driver
from conveyor.store.queries import LockInfo
from tests.conftest import app_with_empty_table

T0 = 1_700_000_000.0


@pytest.fixture(params=["sqlite", "postgres"])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Driver]:
    for app in app_with_empty_table(request, tmp_path, schema.locks):
        yield app.driver


def _owners(driver: Driver) -> dict[str, str]:
    L = schema.locks
    with driver.read() as c:
        return {k: o for k, o in c.execute(select(L.c.key, L.c.owner))}


def test_acquire_takes_a_free_lock_and_list_shows_it(driver: Driver) -> None:
    assert driver.lock_acquire("k", "owner-a", "host:1", T0, T0 + 60) is None
    assert driver.lock_list() == [LockInfo("k", "host:1", T0, T0 + 60)]
    assert _owners(driver) == {"k": "owner-a"}


def test_a_live_lock_is_refused_naming_its_holder_and_left_unchanged(driver: Driver) -> None:
    driver.lock_acquire("k", "owner-a", "host:1", T0, T0 + 60)
    assert driver.lock_acquire("k", "owner-b", "host:2", T0 + 59, T0 + 119) == ("host:1", T0)
    assert driver.lock_list() == [LockInfo("k", "host:1", T0, T0 + 60)]
    assert _owners(driver) == {"k": "owner-a"}


def test_an_expired_lock_is_taken_over_at_its_expiry_instant(driver: Driver) -> None:
    driver.lock_acquire("k", "owner-a", "host:1", T0, T0 + 60)
    assert driver.lock_acquire("k", "owner-b", "host:2", T0 + 60, T0 + 120) is None
    assert driver.lock_list() == [LockInfo("k", "host:2", T0 + 60, T0 + 120)]
    assert _owners(driver) == {"k": "owner-b"}


def test_the_previous_owner_can_neither_extend_nor_release_a_lock_taken_over(driver: Driver) -> None:
    driver.lock_acquire("k", "owner-a", "host:1", T0, T0 + 60)
    driver.lock_acquire("k", "owner-b", "host:2", T0 + 61, T0 + 121)
    assert driver.lock_extend("k", "owner-a", T0 + 500) is False
    assert driver.lock_release("k", "owner-a") is False
    assert driver.lock_list() == [LockInfo("k", "host:2", T0 + 61, T0 + 121)]


def test_extend_by_the_owner_moves_the_expiry(driver: Driver) -> None:
    driver.lock_acquire("k", "owner-a", "host:1", T0, T0 + 60)
    assert driver.lock_extend("k", "owner-a", T0 + 300) is True
    assert driver.lock_list()[0].expires_at == T0 + 300
    assert driver.lock_acquire("k", "owner-b", "host:2", T0 + 200, T0 + 260) == ("host:1", T0)


def test_extend_revives_an_expired_lock_that_nobody_took(driver: Driver) -> None:
    driver.lock_acquire("k", "owner-a", "host:1", T0, T0 + 60)
    assert driver.lock_extend("k", "owner-a", T0 + 200) is True
    assert driver.lock_acquire("k", "owner-b", "host:2", T0 + 100, T0 + 160) == ("host:1", T0)


def test_release_by_the_owner_frees_the_key(driver: Driver) -> None:
    driver.lock_acquire("k", "owner-a", "host:1", T0, T0 + 60)
    assert driver.lock_release("k", "owner-a") is True
    assert driver.lock_list() == []
    assert driver.lock_release("k", "owner-a") is False  # a second release finds nothing
    assert driver.lock_acquire("k", "owner-b", "host:2", T0 + 1, T0 + 61) is None


def test_release_with_another_token_keeps_the_lock(driver: Driver) -> None:
    driver.lock_acquire("k", "owner-a", "host:1", T0, T0 + 60)
    assert driver.lock_release("k", "owner-b") is False
    assert _owners(driver) == {"k": "owner-a"}


def test_force_release_deletes_whoever_holds_it_and_reports_a_missing_key(driver: Driver) -> None:
    driver.lock_acquire("k", "owner-a", "host:1", T0, T0 + 60)
    driver.lock_acquire("other", "owner-c", "host:3", T0, T0 + 60)
    assert driver.lock_force_release("k") is True
    assert driver.lock_force_release("k") is False
    assert [i.key for i in driver.lock_list()] == ["other"]
    assert driver.lock_extend("k", "owner-a", T0 + 90) is False  # its holder finds out


def test_list_is_ordered_by_key_and_keeps_expired_locks(driver: Driver) -> None:
    driver.lock_acquire("b", "o1", "h", T0, T0 + 1)
    driver.lock_acquire("a", "o2", "h", T0, T0 + 600)
    assert [(i.key, i.expires_at) for i in driver.lock_list()] == [("a", T0 + 600), ("b", T0 + 1)]


def _race(driver: Driver, key: str, n: int, now: float) -> list[tuple[str, object]]:
    """``n`` threads acquire ``key`` at the same instant; (owner, result) of each."""
    start = threading.Barrier(n)
    results: list[tuple[str, object]] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        start.wait()
        got = driver.lock_acquire(key, f"owner-{i}", f"host:{i}", now, now + 60)
        with lock:
            results.append((f"owner-{i}", got))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_of_concurrent_acquirers_of_a_free_lock_exactly_one_wins(driver: Driver) -> None:
    for round_ in range(10):
        results = _race(driver, f"race:{round_}", 4, T0)
        winners = [owner for owner, got in results if got is None]
        assert len(winners) == 1, results
        assert _owners(driver)[f"race:{round_}"] == winners[0]
        holder = f"host:{winners[0].removeprefix('owner-')}"
        assert all(got == (holder, T0) for _, got in results if got is not None)


def test_of_concurrent_acquirers_of_an_expired_lock_exactly_one_takes_it_over(driver: Driver) -> None:
    for round_ in range(10):
        driver.lock_acquire(f"race:{round_}", "dead", "host:dead", T0, T0 + 1)
        results = _race(driver, f"race:{round_}", 4, T0 + 10)
        winners = [owner for owner, got in results if got is None]
        assert len(winners) == 1, results
        assert _owners(driver)[f"race:{round_}"] == winners[0]

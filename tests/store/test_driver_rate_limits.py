"""The driver suite for ``conveyor_rate_limits`` (``Driver.rate_limit_*``): the same cases against every
database.

These call the driver directly with explicit instants, so refill needs no clock and no sleeping. Key
templates, waiting and deadlines above them are tested in tests/coordination/test_ratelimit.py.

PostgreSQL cases share one migrated database and empty the table first; SQLite gets a fresh file per case.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from conveyor.store import schema
from conveyor.store.base import Driver
from conveyor.store.queries.rate_limits import TOLERANCE_S
from tests.conftest import app_with_empty_table

T0 = 1_700_000_000.0


@pytest.fixture(params=["sqlite", "postgres"])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Driver]:
    for app in app_with_empty_table(request, tmp_path, schema.rate_limits):
        yield app.driver


def _rows(driver: Driver) -> dict[str, tuple[float, float]]:
    RL = schema.rate_limits
    with driver.read() as c:
        return {k: (t, u) for k, t, u in c.execute(select(RL.c.key, RL.c.tokens, RL.c.updated_at))}


def _take(
    driver: Driver, now: float, key: str = "k", *, rate: float = 2.0, per: float = 1.0, burst: float = 3
) -> float:
    return driver.rate_limit_take(key, rate=rate, per=per, burst=burst, now=now)


def test_the_first_take_creates_a_full_bucket_and_spends_one_token(driver: Driver) -> None:
    assert _take(driver, T0) == 0.0
    assert _rows(driver) == {"k": (2.0, T0)}


def test_an_empty_bucket_refuses_with_the_wait_for_one_token_and_writes_nothing(driver: Driver) -> None:
    assert [_take(driver, T0) for _ in range(3)] == [0.0, 0.0, 0.0]
    before = _rows(driver)
    assert _take(driver, T0) == pytest.approx(0.5)  # 2 tokens per second: one in half a second
    assert _take(driver, T0 + 0.4) == pytest.approx(0.1)
    assert _rows(driver) == before


def test_tokens_refill_with_time_up_to_the_burst_only(driver: Driver) -> None:
    for _ in range(3):
        _take(driver, T0)
    assert _take(driver, T0 + 0.5) == 0.0  # one token back after half a second
    granted = sum(_take(driver, T0 + 3600) == 0.0 for _ in range(10))  # an hour idle: a full bucket, no more
    assert granted == 3


def test_rate_per_period_sets_the_refill_speed(driver: Driver) -> None:
    assert _take(driver, T0, rate=3, per=60, burst=1) == 0.0
    assert _take(driver, T0, rate=3, per=60, burst=1) == pytest.approx(20.0)
    assert _take(driver, T0 + 20, rate=3, per=60, burst=1) == 0.0


def test_a_token_due_within_the_tolerance_is_given_now(driver: Driver) -> None:
    for _ in range(3):
        _take(driver, T0)
    assert _take(driver, T0 + 0.5 - TOLERANCE_S / 4) == 0.0


def test_a_clock_behind_the_last_writer_refills_nothing_and_never_moves_updated_at_back(driver: Driver) -> None:
    _take(driver, T0 + 10)  # a process whose clock is ahead created the bucket
    assert _take(driver, T0) == 0.0  # a process whose clock is behind spends a token, refills none
    assert _rows(driver) == {"k": (1.0, T0 + 10)}
    _take(driver, T0)
    assert _take(driver, T0 + 5) == pytest.approx(0.5)  # still behind: nothing refilled


def test_wait_on_an_unused_bucket_is_zero_and_creates_nothing(driver: Driver) -> None:
    assert driver.rate_limit_wait("k", rate=2, per=1, burst=3, now=T0) == 0.0
    assert _rows(driver) == {}


def test_wait_tells_the_time_to_the_next_token_and_takes_nothing(driver: Driver) -> None:
    for _ in range(3):
        _take(driver, T0)
    before = _rows(driver)
    assert driver.rate_limit_wait("k", rate=2, per=1, burst=3, now=T0 + 0.25) == pytest.approx(0.25)
    assert driver.rate_limit_wait("k", rate=2, per=1, burst=3, now=T0 + 0.5) == 0.0
    assert _rows(driver) == before


def test_keys_have_separate_buckets(driver: Driver) -> None:
    for _ in range(3):
        _take(driver, T0, "a")
    assert _take(driver, T0, "a") > 0.0
    assert _take(driver, T0, "b") == 0.0
    assert set(_rows(driver)) == {"a", "b"}


@pytest.mark.parametrize("fresh", [True, False], ids=["bucket-created-by-the-race", "existing-bucket"])
def test_concurrent_takers_never_get_more_than_the_bucket_holds(driver: Driver, fresh: bool) -> None:
    burst, threads, tries = 7, 4, 6
    if not fresh:
        assert _take(driver, T0, burst=burst) == 0.0
    start = threading.Barrier(threads)
    granted: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        start.wait()
        n = sum(_take(driver, T0, burst=burst) == 0.0 for _ in range(tries))  # one instant: no refill
        with lock:
            granted.append(n)

    workers = [threading.Thread(target=take) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert sum(granted) == (burst if fresh else burst - 1)
    assert _rows(driver) == {"k": (0.0, T0)}

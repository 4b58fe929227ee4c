"""Rate limits (``app.rate_limit``): a token bucket per key, shared through the database.

Every test runs on SQLite and PostgreSQL. Counts are asserted against a fake clock that only moves when
the limiter sleeps (its sleep functions are patched), never against how fast the machine is; the one
multi-process test checks only the bound that must hold however slow the machine is.

Like test_locks.py, PostgreSQL tests share one migrated database (creating one costs about a second)
and empty the rate limit table before each test; SQLite gets a fresh file per test.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from conveyor import Conveyor
from conveyor.coordination import ratelimit
from conveyor.coordination.ratelimit import RateLimit
from conveyor.engine import clock
from conveyor.errors import KeyTemplateError
from conveyor.store import schema
from conveyor.store.queries.rate_limits import TOLERANCE_S
from tests.conftest import app_with_empty_table
from tests.fakes import FakeTime


@pytest.fixture(params=["sqlite", "postgres"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Conveyor]:
    yield from app_with_empty_table(request, tmp_path, schema.rate_limits)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTime]:
    t = FakeTime()
    clock.set_clock(t)
    monkeypatch.setattr(ratelimit, "_sleep", t.sleep)
    monkeypatch.setattr(ratelimit, "_async_sleep", t.async_sleep)
    yield t


def _buckets(app: Conveyor) -> dict[str, float]:
    RL = schema.rate_limits
    with app.driver.begin() as c:
        return {k: t for k, t in c.execute(select(RL.c.key, RL.c.tokens))}


def _granted(limiter: RateLimit, attempts: int = 100) -> int:
    return sum(limiter.try_acquire() for _ in range(attempts))


# ---------------------------------------------------------------------- the bucket
def test_a_full_bucket_lets_the_burst_through_at_once_then_refuses(app: Conveyor, fake: FakeTime) -> None:
    limiter = app.rate_limit("shoptet:acme", rate=10, burst=5)
    assert _granted(limiter, 20) == 5
    assert fake.slept == []


def test_after_the_burst_permits_come_at_the_rate(app: Conveyor, fake: FakeTime) -> None:
    limiter = app.rate_limit("shoptet:acme", rate=10, burst=5)
    _granted(limiter)
    per_step = []
    for _ in range(20):  # two seconds in steps of 0.1 s: one permit a step, 10 per second
        fake.now += 0.1
        per_step.append(_granted(limiter, 3))
    assert per_step == [1] * 20
    fake.now += 0.35
    assert _granted(limiter) == 3  # the half permit left over carries to the next refill
    fake.now += 0.05
    assert _granted(limiter) == 1


def test_acquire_sleeps_until_permits_come_at_the_rate(app: Conveyor, fake: FakeTime) -> None:
    limiter = app.rate_limit("shoptet:acme", rate=10, burst=5)
    start = fake.now
    for _ in range(25):
        limiter.acquire()
    # 5 at once, then 20 more at 10 per second.
    assert fake.now - start == pytest.approx(2.0)
    assert len(fake.slept) == 20 and all(s == pytest.approx(0.1) for s in fake.slept)


def test_an_idle_bucket_refills_only_up_to_the_burst(app: Conveyor, fake: FakeTime) -> None:
    limiter = app.rate_limit("k", rate=10, burst=5)
    _granted(limiter)
    fake.now += 3600
    assert _granted(limiter) == 5


def test_rate_per_longer_period(app: Conveyor, fake: FakeTime) -> None:
    limiter = app.rate_limit("k", rate=3, per=60)  # burst defaults to the rate
    assert _granted(limiter) == 3
    fake.now += 20
    assert _granted(limiter) == 1


def test_burst_defaults_to_the_rate_and_at_least_one(app: Conveyor, fake: FakeTime) -> None:
    assert app.rate_limit("a", rate=4).burst == 4
    slow = app.rate_limit("b", rate=0.5)
    assert slow.burst == 1
    assert _granted(slow) == 1
    fake.now += 2
    assert _granted(slow) == 1


def test_wait_time_says_when_the_next_permit_comes_without_taking_one(app: Conveyor, fake: FakeTime) -> None:
    limiter = app.rate_limit("k", rate=10, burst=5)
    assert limiter.wait_time() == 0.0
    assert _buckets(app) == {}  # asking creates nothing
    _granted(limiter)
    assert limiter.wait_time() == pytest.approx(0.1)
    fake.now += 0.04
    assert limiter.wait_time() == pytest.approx(0.06)
    fake.now += 0.06
    assert limiter.wait_time() == 0.0
    assert limiter.wait_time() == 0.0
    assert _granted(limiter) == 1


def test_acquire_gives_up_at_once_when_no_permit_can_come_within_the_timeout(app: Conveyor, fake: FakeTime) -> None:
    limiter = app.rate_limit("k", rate=1, burst=1)
    limiter.acquire()
    with pytest.raises(TimeoutError, match=r"rate limit 'k': no permit within the timeout \(next in 1.000s"):
        limiter.acquire(timeout=0.5)
    assert fake.slept == []
    limiter.acquire(timeout=1.0)
    assert fake.slept == [pytest.approx(1.0)]


def test_limiters_with_the_same_key_share_one_bucket(app: Conveyor, fake: FakeTime) -> None:
    a = app.rate_limit("shoptet:acme", rate=10, burst=5)
    b = app.rate_limit("shoptet:acme", rate=10, burst=5)
    assert _granted(a, 3) == 3
    assert _granted(b) == 2


def test_different_keys_have_separate_buckets(app: Conveyor, fake: FakeTime) -> None:
    assert _granted(app.rate_limit("shoptet:acme", rate=1, burst=2)) == 2
    assert _granted(app.rate_limit("shoptet:other", rate=1, burst=2)) == 2
    assert set(_buckets(app)) == {"shoptet:acme", "shoptet:other"}


def test_with_block_takes_a_permit(app: Conveyor, fake: FakeTime) -> None:
    limiter = app.rate_limit("k", rate=1, burst=2)
    with limiter as entered:
        assert entered is limiter
    with limiter:
        pass
    assert fake.slept == []
    with limiter:
        pass
    assert fake.slept == [pytest.approx(1.0)]


def test_the_bucket_is_safe_when_the_clock_goes_back(app: Conveyor, fake: FakeTime) -> None:
    limiter = app.rate_limit("k", rate=10, burst=5)
    _granted(limiter)
    fake.now -= 60  # another machine's clock behind, or NTP stepping back: no refill, no error
    assert _granted(limiter) == 0
    fake.now += 60.1
    assert _granted(limiter) == 1


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("key", "rate", "per", "burst", "message"),
    [
        ("k", 0, 1.0, None, "rate limit rate must be a number > 0, got 0"),
        ("k", -3, 1.0, None, "rate limit rate must be a number > 0, got -3"),
        ("k", float("nan"), 1.0, None, "rate limit rate must be a number > 0, got nan"),
        ("k", 3, 0, None, "rate limit per must be a number > 0, got 0"),
        ("k", 3, -1.0, None, "rate limit per must be a number > 0, got -1.0"),
        ("k", 3, 1.0, 0, "rate limit burst must be a number >= 1 (permits at once), got 0"),
        ("k", 3, 1.0, 0.5, "rate limit burst must be a number >= 1 (permits at once), got 0.5"),
        ("", 3, 1.0, None, "a rate limit key must be a non-empty string, got ''"),
        ("k" * 256, 3, 1.0, None, "a rate limit key is at most 255 characters, got 256"),
    ],
)
def test_bad_rate_limit_arguments_are_refused_before_anything_is_written(
    app: Conveyor, key: str, rate: float, per: float, burst: int | None, message: str
) -> None:
    with pytest.raises(ValueError) as err:
        app.rate_limit(key, rate=rate, per=per, burst=burst)
    assert str(err.value).startswith(message)
    assert _buckets(app) == {}


# ---------------------------------------------------------------------- key templates
def test_the_decorator_fills_the_key_from_the_call_arguments(app: Conveyor, fake: FakeTime) -> None:
    calls: list[tuple[str, int]] = []

    @app.rate_limit("shoptet:{shop}:{page}", rate=1, burst=2)
    def fetch_orders(shop: str, page: int = 1) -> str:
        calls.append((shop, page))
        return f"{shop}/{page}"

    assert fetch_orders("acme") == "acme/1"
    assert fetch_orders(shop="acme", page=2) == "acme/2"
    assert fetch_orders("other") == "other/1"
    assert fake.slept == []
    assert _buckets(app) == {"shoptet:acme:1": 1.0, "shoptet:acme:2": 1.0, "shoptet:other:1": 1.0}
    assert fetch_orders.__name__ == "fetch_orders"


def test_the_decorator_waits_for_a_permit_of_its_own_key(app: Conveyor, fake: FakeTime) -> None:
    @app.rate_limit("shoptet:{shop}", rate=2, burst=1)
    def fetch(shop: str) -> None:
        pass

    fetch("acme")
    fetch("other")
    assert fake.slept == []
    fetch("acme")
    assert fake.slept == [pytest.approx(0.5)]


def test_the_decorator_reads_attributes_and_extra_keyword_arguments(app: Conveyor, fake: FakeTime) -> None:
    class Shop:
        slug = "acme"

    @app.rate_limit("shoptet:{shop.slug}:{region}", rate=1)
    def fetch(shop: Shop, **options: str) -> None:
        pass

    fetch(Shop(), region="eu")
    assert set(_buckets(app)) == {"shoptet:acme:eu"}
    with pytest.raises(KeyTemplateError, match=r"the call of .*fetch\(\) has no argument region"):
        fetch(Shop())


def test_a_placeholder_the_function_has_no_argument_for_is_refused_when_decorating(app: Conveyor) -> None:
    limiter = app.rate_limit("shoptet:{shop}", rate=1)
    with pytest.raises(KeyTemplateError) as err:

        @limiter
        def fetch(store: str) -> None:
            pass

    assert "rate limit key 'shoptet:{shop}' names shop, which" in str(err.value)
    assert "fetch() has no argument for (its arguments: store)" in str(err.value)


def test_bind_fills_the_template_for_use_as_a_context_manager(app: Conveyor, fake: FakeTime) -> None:
    limiter = app.rate_limit("shoptet:{shop}", rate=1, burst=3)
    with limiter.bind(shop="acme") as bound:
        assert bound.key == "shoptet:acme"
    assert _buckets(app) == {"shoptet:acme": 2.0}


def test_bind_without_a_placeholder_value_names_the_missing_argument(app: Conveyor) -> None:
    limiter = app.rate_limit("shoptet:{shop}:{kind}", rate=1)
    with pytest.raises(KeyTemplateError, match=r"needs a value for kind: pass kind=\.\.\. to bind\(\)"):
        limiter.bind(shop="acme")


def test_an_unbound_template_cannot_be_acquired(app: Conveyor) -> None:
    limiter = app.rate_limit("shoptet:{shop}", rate=1)
    with pytest.raises(KeyTemplateError, match=r"has placeholders \(shop\): use limiter.bind"):
        limiter.acquire()
    with pytest.raises(KeyTemplateError), limiter:
        pass
    assert _buckets(app) == {}


def test_a_positional_placeholder_is_refused(app: Conveyor) -> None:
    with pytest.raises(KeyTemplateError, match=r"placeholders must name an argument, e\.g\. \{shop\} \(got \{\}\)"):
        app.rate_limit("shoptet:{}", rate=1)


# ---------------------------------------------------------------------- async
def test_async_with_waits_without_blocking_the_event_loop(app: Conveyor, fake: FakeTime) -> None:
    limiter = app.rate_limit("k", rate=4, burst=1)

    async def main() -> None:
        async with limiter:
            pass
        async with limiter:
            pass

    asyncio.run(main())
    assert fake.slept == [pytest.approx(0.25)]


def test_the_decorator_works_on_async_functions(app: Conveyor, fake: FakeTime) -> None:
    @app.rate_limit("shoptet:{shop}", rate=10, burst=2)
    async def fetch(shop: str) -> str:
        await asyncio.sleep(0)
        return shop.upper()

    async def main() -> list[str]:
        return [await fetch("acme") for _ in range(3)]

    assert asyncio.run(main()) == ["ACME"] * 3
    assert fake.slept == [pytest.approx(0.1)]
    assert set(_buckets(app)) == {"shoptet:acme"}


# ---------------------------------------------------------------------- across processes
RATE, BURST, RUN_FOR = 20.0, 5, 1.0


def _take_for_a_while(url: str, start: multiprocessing.synchronize.Event, out: multiprocessing.Queue[int]) -> None:
    limiter = Conveyor(url).rate_limit("shared", rate=RATE, burst=BURST)
    start.wait(10)
    granted, end = 0, time.monotonic() + RUN_FOR
    while time.monotonic() < end:
        granted += limiter.try_acquire()
        time.sleep(0.002)
    out.put(granted)


def test_processes_sharing_a_bucket_never_exceed_burst_plus_rate_times_window(app: Conveyor) -> None:
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    app.close()  # no pooled connections cross the fork
    procs = [ctx.Process(target=_take_for_a_while, args=(app.settings.database_url, start, out)) for _ in range(2)]
    for p in procs:
        p.start()
    # The bucket is created (full) after this instant and every permit is taken before the joins end, so
    # whatever the machine's speed: permits <= burst + rate * window.
    began = time.time()
    start.set()
    counts = [out.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(10)
    window = time.time() - began
    assert BURST <= sum(counts) <= BURST + RATE * (window + TOLERANCE_S)

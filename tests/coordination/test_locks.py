"""Named locks (``app.lock``): exclusion, expiry, ownership, waiting, and the operator's CLI.

Every test runs on SQLite and PostgreSQL. Time is a fake clock wherever expiry or waiting matters, with
the lock module's sleep moving that clock, so no assertion depends on how fast the machine is.

Creating and dropping a PostgreSQL database costs about a second, longer than any test here, so this
module shares one migrated database and empties the lock table before each test instead; these tests
touch no other table. SQLite gets a fresh file per test as usual.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conveyor import Conveyor
from conveyor.cli.main import cli
from conveyor.coordination import locks
from conveyor.engine import clock
from conveyor.errors import LockLost, LockNotAcquired
from conveyor.store import schema
from conveyor.worker.context import JobContext, _current
from tests.conftest import app_with_empty_table
from tests.fakes import FakeTime


@pytest.fixture(params=["sqlite", "postgres"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Conveyor]:
    yield from app_with_empty_table(request, tmp_path, schema.locks)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTime]:
    t = FakeTime()
    clock.set_clock(t)
    monkeypatch.setattr(locks, "_sleep", t.sleep)
    yield t


def _rows(app: Conveyor) -> list[locks.LockInfo]:
    return locks.list_locks(app)


# ---------------------------------------------------------------------- exclusion and release
def test_a_held_lock_cannot_be_acquired_by_another(app: Conveyor) -> None:
    with app.lock("snapshot:acme:orders", ttl=60) as first:
        assert first.held
        with pytest.raises(LockNotAcquired) as err:
            app.lock("snapshot:acme:orders", ttl=60).acquire()
    assert err.value.key == "snapshot:acme:orders"
    assert err.value.holder == first.holder
    assert err.value.since is not None
    assert str(err.value).startswith(f"lock 'snapshot:acme:orders' is held by {first.holder} since 20")


def test_leaving_the_block_releases_the_lock(app: Conveyor) -> None:
    with app.lock("k", ttl=60) as lock:
        pass
    assert not lock.held
    assert _rows(app) == []
    with app.lock("k", ttl=60) as again:
        assert again.held


def test_the_lock_is_released_when_the_block_raises(app: Conveyor) -> None:
    with pytest.raises(KeyError), app.lock("k", ttl=60):
        raise KeyError("boom")
    assert _rows(app) == []


def test_different_keys_do_not_exclude_each_other(app: Conveyor) -> None:
    with app.lock("a", ttl=60), app.lock("b", ttl=60):
        assert {r.key for r in _rows(app)} == {"a", "b"}


def test_acquire_and_release_work_without_a_with_block(app: Conveyor) -> None:
    lock = app.lock("k", ttl=60)
    assert not lock.held
    assert lock.acquire() is lock and lock.held
    assert lock.release() is True
    assert not lock.held
    assert lock.release() is False  # never an error to release twice


def test_acquiring_a_lock_object_twice_is_refused(app: Conveyor) -> None:
    lock = app.lock("k", ttl=60).acquire()
    with pytest.raises(RuntimeError, match="already held by this Lock"):
        lock.acquire()


def test_async_with_acquires_and_releases(app: Conveyor) -> None:
    async def main() -> bool:
        async with app.lock("k", ttl=60) as lock:
            return lock.held and len(_rows(app)) == 1

    assert asyncio.run(main())
    assert _rows(app) == []


# ---------------------------------------------------------------------- holder
def test_the_holder_names_host_and_process(app: Conveyor) -> None:
    with app.lock("k", ttl=60) as lock:
        assert lock.holder == f"{socket.gethostname()}:{os.getpid()}"
        assert _rows(app)[0].holder == lock.holder


def test_inside_a_task_the_holder_names_the_job(app: Conveyor) -> None:
    token = _current.set(JobContext(id=42, task="sync_orders", queue="default", attempt=1, max_attempts=3))
    try:
        with app.lock("k", ttl=60) as lock:
            assert lock.holder is not None and lock.holder.endswith(":" + str(os.getpid()) + " job 42 (sync_orders)")
    finally:
        _current.reset(token)


# ---------------------------------------------------------------------- expiry (a holder that dies)
def test_an_expired_lock_is_taken_by_the_next_acquirer(app: Conveyor, fake: FakeTime) -> None:
    dead = app.lock("k", ttl=30).acquire()  # its holder "dies": never releases
    fake.now += 29
    with pytest.raises(LockNotAcquired):
        app.lock("k", ttl=30).acquire()
    fake.now += 1
    assert not dead.held
    with app.lock("k", ttl=30) as successor:
        assert successor.held
        assert _rows(app)[0].acquired_at == fake.now


def test_a_lost_lock_cannot_be_extended(app: Conveyor, fake: FakeTime) -> None:
    lost = app.lock("k", ttl=10).acquire()
    fake.now += 11
    successor = app.lock("k", ttl=10).acquire()
    with pytest.raises(LockLost, match="'k' was lost before extend: it expired and was taken by someone else"):
        lost.extend()
    assert successor.held and _rows(app)[0].expires_at == fake.now + 10


def test_releasing_a_lost_lock_leaves_the_new_holder_alone(
    app: Conveyor, fake: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    lost = app.lock("k", ttl=10).acquire()
    fake.now += 11
    app.lock("k", ttl=10).acquire()
    with caplog.at_level(logging.WARNING, logger="conveyor.locks"):
        assert lost.release() is False
    assert "lock 'k' was lost before release" in caplog.text
    assert len(_rows(app)) == 1


def test_extend_pushes_the_expiry_so_no_one_takes_over(app: Conveyor, fake: FakeTime) -> None:
    lock = app.lock("k", ttl=10).acquire()
    fake.now += 8
    lock.extend()
    assert lock.expires_at == fake.now + 10
    fake.now += 8
    with pytest.raises(LockNotAcquired):
        app.lock("k", ttl=10).acquire()
    lock.extend(100)
    assert _rows(app)[0].expires_at == fake.now + 100


def test_an_expired_lock_nobody_took_can_still_be_extended(app: Conveyor, fake: FakeTime) -> None:
    lock = app.lock("k", ttl=10).acquire()
    fake.now += 20
    lock.extend()
    assert lock.held


def test_extend_of_a_force_released_lock_raises_lock_lost(app: Conveyor) -> None:
    lock = app.lock("k", ttl=60).acquire()
    assert locks.force_release(app, "k")
    with pytest.raises(LockLost):
        lock.extend()
    assert not lock.held


# ---------------------------------------------------------------------- waiting
def test_wait_gives_up_after_about_wait_seconds(app: Conveyor, fake: FakeTime) -> None:
    app.lock("k", ttl=60).acquire()
    start = fake.now
    with pytest.raises(LockNotAcquired, match="lock 'k' is held by"):
        app.lock("k", ttl=60, wait=5).acquire()
    assert fake.now - start == pytest.approx(5)
    # Polling backs off but stays bounded, so a freed lock is noticed promptly.
    assert fake.slept[0] == locks._POLL_MIN and max(fake.slept) <= locks._POLL_MAX


def test_wait_takes_the_lock_when_its_holder_expires(app: Conveyor, fake: FakeTime) -> None:
    app.lock("k", ttl=3).acquire()
    start = fake.now
    with app.lock("k", ttl=60, wait=10) as lock:
        assert lock.held
    assert 3 <= fake.now - start < 3 + locks._POLL_MAX + 1e-9


def test_wait_with_the_real_clock_blocks_for_at_least_wait(app: Conveyor) -> None:
    app.lock("k", ttl=60).acquire()
    start = time.monotonic()
    with pytest.raises(LockNotAcquired):
        app.lock("k", ttl=60, wait=0.3).acquire()
    assert time.monotonic() - start >= 0.29


# ---------------------------------------------------------------------- bad input: nothing written
@pytest.mark.parametrize(
    ("key", "ttl", "wait", "message"),
    [
        ("k", 0, 0, "lock ttl must be a number of seconds > 0, got 0"),
        ("k", -5, 0, "lock ttl must be a number of seconds > 0, got -5"),
        ("k", float("inf"), 0, "lock ttl must be a number of seconds > 0, got inf"),
        ("", 60, 0, "a lock key must be a non-empty string, got ''"),
        ("   ", 60, 0, "a lock key must be a non-empty string, got '   '"),
        ("k" * 256, 60, 0, "a lock key is at most 255 characters, got 256"),
        ("k", 60, -1, "lock wait must be a number of seconds >= 0, got -1"),
    ],
)
def test_bad_lock_arguments_are_refused_before_anything_is_written(
    app: Conveyor, key: str, ttl: float, wait: float, message: str
) -> None:
    with pytest.raises(ValueError) as err:
        app.lock(key, ttl=ttl, wait=wait)
    assert str(err.value).startswith(message)
    assert _rows(app) == []


def test_extend_with_a_bad_ttl_is_refused_and_keeps_the_lock(app: Conveyor) -> None:
    with app.lock("k", ttl=60) as lock:
        expires = _rows(app)[0].expires_at
        with pytest.raises(ValueError, match="lock ttl must be a number of seconds > 0, got 0"):
            lock.extend(0)
        assert _rows(app)[0].expires_at == expires and lock.held


# ---------------------------------------------------------------------- across processes
def _compete(url: str, start: multiprocessing.synchronize.Event, done: multiprocessing.synchronize.Event) -> None:
    app = Conveyor(url)
    start.wait(10)
    try:
        app.lock("contested", ttl=60).acquire()
    except LockNotAcquired:
        os._exit(1)
    done.wait(10)  # hold it (and keep the process alive) until every competitor has tried
    os._exit(0)


def test_of_processes_competing_for_a_lock_exactly_one_gets_it(app: Conveyor) -> None:
    ctx = multiprocessing.get_context("fork")
    start, done = ctx.Event(), ctx.Event()
    app.close()  # no pooled connections cross the fork
    procs = [ctx.Process(target=_compete, args=(app.settings.database_url, start, done)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    deadline = time.monotonic() + 20  # the losers exit at once; the winner waits for `done`
    while sum(p.exitcode is not None for p in procs) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    done.set()
    for p in procs:
        p.join(10)
    assert sorted(-1 if p.exitcode is None else p.exitcode for p in procs) == [0, 1, 1, 1]


# ---------------------------------------------------------------------- CLI
runner = CliRunner()


def test_locks_list_shows_key_holder_and_time_left(env: Conveyor) -> None:
    lock = env.lock("snapshot:acme:orders", ttl=600).acquire()
    r = runner.invoke(cli, ["locks", "list"], terminal_width=200)
    assert r.exit_code == 0
    assert "snapshot:acme:orders" in r.output and str(lock.holder) in r.output
    assert "10m" in r.output or "9m" in r.output


def test_locks_list_marks_expired_locks(env: Conveyor, fake: FakeTime) -> None:
    env.lock("k", ttl=10).acquire()
    fake.now += 70
    r = runner.invoke(cli, ["locks", "list"], terminal_width=200)
    assert "expired 60s ago" in r.output or "expired 1m ago" in r.output


def test_locks_list_says_when_there_are_none(env: Conveyor) -> None:
    r = runner.invoke(cli, ["locks", "list"])
    assert (r.exit_code, r.output.strip()) == (0, "no locks held")


def test_locks_release_frees_a_lock_held_by_someone_else(env: Conveyor) -> None:
    env.lock("stuck", ttl=600).acquire()
    r = runner.invoke(cli, ["locks", "release", "stuck"])
    assert (r.exit_code, r.output.strip()) == (0, "lock 'stuck' released")
    assert env.lock("stuck", ttl=60).acquire().held


def test_locks_release_says_when_the_lock_was_not_held(env: Conveyor) -> None:
    r = runner.invoke(cli, ["locks", "release", "nothing"])
    assert (r.exit_code, r.output.strip()) == (0, "lock 'nothing' was not held")

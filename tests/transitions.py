"""The state table enforced: every job state change a test makes is checked against ``TRANSITIONS``.

``transitions_checked`` (tests/conftest.py) puts a trigger on ``conveyor_jobs`` in every database the test
migrates. The trigger records each change that ``conveyor.engine.states.TRANSITIONS`` does not list (and
each job inserted in a state other than ``available``/``scheduled``) in ``conveyor_test_violations``, so
it sees every change: those of driver calls, of admin SQL, of worker processes the test starts, and the
intermediate ones inside a single transaction, which a before/after snapshot would miss. Every Driver
method is wrapped as well: after each call the log is read, so a violation names the driver call after
which it was first seen (the one that made it, unless another thread or raw SQL did). The test fails at
teardown listing each illegal change.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from conveyor import Conveyor
from conveyor.engine.states import TRANSITIONS, JobState
from conveyor.store.base import Driver

ENTRY_STATES = (JobState.AVAILABLE, JobState.SCHEDULED)
#: Driver members that are not operations on jobs.
NOT_WRAPPED = {"connect", "is_disconnect", "close", "watch", "notify", "begin", "read", "q", "settle_batches"}


def _allowed() -> str:
    return ", ".join(f"'{src.value}>{dst.value}'" for src, dsts in TRANSITIONS.items() for dst in dsts)


def _entry() -> str:
    return ", ".join(f"'{s.value}'" for s in ENTRY_STATES)


def _install_sql(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [
            "CREATE TABLE conveyor_test_violations (id INTEGER PRIMARY KEY, job_id INTEGER, src TEXT, dst TEXT)",
            f"""CREATE TRIGGER conveyor_test_check_update AFTER UPDATE OF state ON conveyor_jobs
            WHEN OLD.state <> NEW.state AND (OLD.state || '>' || NEW.state) NOT IN ({_allowed()})
            BEGIN INSERT INTO conveyor_test_violations (job_id, src, dst) VALUES (NEW.id, OLD.state, NEW.state); END""",
            f"""CREATE TRIGGER conveyor_test_check_insert AFTER INSERT ON conveyor_jobs
            WHEN NEW.state NOT IN ({_entry()})
            BEGIN INSERT INTO conveyor_test_violations (job_id, src, dst) VALUES (NEW.id, NULL, NEW.state); END""",
        ]
    return [
        "CREATE TABLE conveyor_test_violations (id bigserial PRIMARY KEY, job_id bigint, src text, dst text)",
        f"""CREATE FUNCTION conveyor_test_check() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'INSERT' THEN
            IF NEW.state NOT IN ({_entry()}) THEN
              INSERT INTO conveyor_test_violations (job_id, src, dst) VALUES (NEW.id, NULL, NEW.state);
            END IF;
          ELSIF OLD.state <> NEW.state AND (OLD.state || '>' || NEW.state) NOT IN ({_allowed()}) THEN
            INSERT INTO conveyor_test_violations (job_id, src, dst) VALUES (NEW.id, OLD.state, NEW.state);
          END IF;
          RETURN NULL;
        END $$""",
        """CREATE TRIGGER conveyor_test_check AFTER INSERT OR UPDATE ON conveyor_jobs
        FOR EACH ROW EXECUTE FUNCTION conveyor_test_check()""",
    ]


class TransitionLog:
    """Installs the check in each migrated database and collects what it records."""

    def __init__(self) -> None:
        self.engines: dict[str, Engine] = {}  # database URL -> engine, for the final read
        self.seen: dict[str, int] = {}  # database URL -> last violation id attributed to a call
        self.found: list[str] = []

    def install(self, engine: Engine) -> None:
        url = str(engine.url)
        with engine.begin() as c:
            exists = c.execute(
                text(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'conveyor_test_violations'"
                    if engine.dialect.name == "sqlite"
                    else "SELECT count(*) FROM pg_tables WHERE tablename = 'conveyor_test_violations'"
                )
            ).scalar()
            if not exists:
                for sql in _install_sql(engine.dialect.name):
                    c.exec_driver_sql(sql)
        self.engines[url] = engine
        self.seen.setdefault(url, 0)

    def collect(self, engine: Engine, during: str) -> None:
        """Move violations not yet reported into ``found``, naming the call they happened in."""
        url = str(engine.url)
        if url not in self.engines:
            return
        with engine.connect().execution_options(conveyor_read_only=True) as c, c.begin():
            rows = c.execute(
                text("SELECT id, job_id, src, dst FROM conveyor_test_violations WHERE id > :seen ORDER BY id"),
                {"seen": self.seen[url]},
            ).all()
        for vid, job_id, src, dst in rows:
            change = f"inserted as {dst}" if src is None else f"{src} -> {dst}"
            self.found.append(f"job {job_id}: {change} (seen {during})")
            self.seen[url] = max(self.seen[url], vid)

    def wrap_driver(self, cls: type[Driver], setattr_: Callable[[Any, str, Any], None]) -> None:
        for name in dir(cls):
            if name.startswith("_") or name in NOT_WRAPPED:
                continue
            fn = getattr(cls, name)
            if not callable(fn) or isinstance(fn, type):
                continue
            setattr_(cls, name, self._wrapped(fn, name))

    def _wrapped(self, fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        log = self

        @functools.wraps(fn)
        def call(self: Driver, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            finally:
                with contextlib.suppress(Exception):  # a database that is gone has nothing more to say
                    log.collect(self.engine, f"after {type(self).__name__}.{name}")

        return call

    def finish(self) -> list[str]:
        for engine in self.engines.values():
            with contextlib.suppress(Exception):
                self.collect(engine, "at the end of the test: admin SQL or another process")
        return self.found


def start(monkeypatch: Any) -> TransitionLog:
    """Patch migrations to install the check and drivers to report after each call."""
    from conveyor.store.postgres import PostgresDriver
    from conveyor.store.sqlite import SQLiteDriver

    log = TransitionLog()
    migrate, close = Conveyor.migrate, Conveyor.close

    def migrate_and_check(app: Conveyor) -> None:
        migrate(app)
        log.install(app.driver.engine)

    def close_after_collecting(app: Conveyor) -> None:
        if app._driver is not None:  # collect before a test's fixtures drop the database
            with contextlib.suppress(Exception):
                log.collect(app._driver.engine, "at the end of the test: admin SQL or another process")
        close(app)

    monkeypatch.setattr(Conveyor, "migrate", migrate_and_check)
    monkeypatch.setattr(Conveyor, "close", close_after_collecting)
    for cls in (SQLiteDriver, PostgresDriver):
        log.wrap_driver(cls, monkeypatch.setattr)
    return log

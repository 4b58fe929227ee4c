"""Enqueue API: every form from the public contract, and bad input that must write nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from conveyor import Conveyor, PayloadTooLargeError, SerializationError
from conveyor.engine import clock
from conveyor.engine.states import JobState
from conveyor.store.schema import jobs


def _count(app: Conveyor) -> int:
    with app.driver.begin() as c:
        return int(c.execute(select(func.count()).select_from(jobs)).scalar() or 0)


def test_task_enqueue_uses_the_task_defaults(app: Conveyor) -> None:
    @app.task(queue="mail", priority=3, max_attempts=5, timeout=30)
    def send_email(offer_id: int) -> None: ...

    rec = app.get_job(send_email.enqueue(42))
    assert (rec.task, rec.queue, rec.priority, rec.max_attempts, rec.timeout) == (
        "send_email",
        "mail",
        3,
        5,
        30,
    )
    assert rec.args == [42] and rec.state == JobState.AVAILABLE


def test_enqueue_in_and_at_schedule_for_later(app: Conveyor) -> None:
    @app.task
    def later() -> None: ...

    now = clock.now()
    a = app.get_job(later.enqueue_in(60))
    assert a.state == JobState.SCHEDULED and a.scheduled_at == pytest.approx(now + 60, abs=2)
    when = datetime.now(UTC) + timedelta(hours=1)
    b = app.get_job(later.enqueue_at(when))
    assert b.scheduled_at == pytest.approx(when.timestamp(), abs=0.01)


def test_enqueue_by_name_overrides_options(app: Conveyor) -> None:
    @app.task
    def send_email(offer_id: int) -> None: ...

    rec = app.get_job(app.enqueue("send_email", args=[42], queue="high", priority=5, delay=0))
    assert (rec.queue, rec.priority, rec.args) == ("high", 5, [42])


def test_enqueue_many_mixes_specs_and_dicts(app: Conveyor) -> None:
    @app.task
    def send_email(offer_id: int) -> None: ...

    ids = app.enqueue_many([send_email.job(1), {"task": "send_email", "args": [2], "queue": "high"}])
    assert [(app.get_job(i).args, app.get_job(i).queue) for i in ids] == [([1], "default"), ([2], "high")]


def test_transactional_enqueue_exists_only_if_the_transaction_commits(app: Conveyor) -> None:
    @app.task
    def send_email(offer_id: int) -> None: ...

    engine = app.driver.engine
    with engine.begin() as conn:
        committed = send_email.enqueue(1, connection=conn)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        send_email.enqueue(2, connection=conn)
        raise RuntimeError("the caller's work failed")
    assert app.get_job(committed).args == [1]
    assert _count(app) == 1


def test_args_that_are_not_json_are_refused_before_writing(app: Conveyor) -> None:
    @app.task
    def send_email(offer_id: object) -> None: ...

    with pytest.raises(SerializationError, match="not JSON-serialisable"):
        send_email.enqueue({1, 2})
    with pytest.raises(SerializationError, match="not JSON-serialisable"):
        send_email.enqueue(float("nan"))
    assert _count(app) == 0


def test_a_bad_job_in_a_bulk_insert_writes_none_of_them(app: Conveyor) -> None:
    with pytest.raises(SerializationError):
        app.enqueue_many([{"task": "t", "args": [1]}, {"task": "t", "args": [object()]}])
    with pytest.raises(SerializationError, match="unknown job option"):
        app.enqueue_many([{"task": "t", "qeue": "typo"}])
    assert _count(app) == 0


def test_payload_over_the_limit_is_refused(db_url: str) -> None:
    app = Conveyor(db_url, max_payload_bytes=1000)
    app.migrate()
    with pytest.raises(PayloadTooLargeError, match="over the limit of 1000 bytes"):
        app.enqueue("t", args=["x" * 2000])
    assert _count(app) == 0
    app.enqueue("t", args=["x" * 100])
    assert _count(app) == 1
    app.close()


def test_unicode_and_nested_args_round_trip(app: Conveyor) -> None:
    payload = {"name": "Příliš žluťoučký kůň", "items": [{"ean": "8594000000000", "qty": 2}], "n": None}
    rec = app.get_job(app.enqueue("t", kwargs=payload))
    assert rec.kwargs == payload
    assert json.loads(json.dumps(rec.kwargs)) == payload

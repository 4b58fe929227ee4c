"""Inputs refused at enqueue with one clear ConveyorError, before anything is written (issue #10 items 8/9)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from sqlalchemy import func, select

from conveyor import Conveyor, ConveyorError, InvalidJobError, UnknownTaskError
from conveyor.store.schema import jobs


def _count(app: Conveyor) -> int:
    with app.driver.begin() as c:
        return int(c.execute(select(func.count()).select_from(jobs)).scalar() or 0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"args": {"i": 1}}, "args of task 't' must be a list, got dict"),
        ({"args": "abc"}, "args of task 't' must be a list, got str"),
        ({"kwargs": [1]}, "kwargs of task 't' must be a dict"),
        ({"delay": math.inf}, "delay must be a finite number of seconds >= 0, got inf"),
        ({"delay": math.nan}, "delay must be a finite number"),
        ({"delay": -5}, "delay must be a finite number of seconds >= 0"),
        ({"scheduled_at": math.nan}, "scheduled_at must be a finite number"),
        ({"timeout": math.nan}, "timeout must be a finite number of seconds > 0"),
        ({"timeout": math.inf}, "timeout must be a finite number of seconds > 0"),
        ({"priority": 2**70}, "priority must be an integer in [-2**31, 2**31)"),
        ({"max_attempts": 2**40}, "max_attempts an integer in [1, 2**31)"),
        ({"queue": "a,b"}, "cannot contain a comma"),
        ({"queue": ""}, "queue name must be 1-128 characters"),
        ({"queue": "mail\x00"}, "cannot contain a comma, whitespace or a control character"),
        ({"queue": "q" * 5000}, "queue name must be 1-128 characters (got 5000)"),
        ({"unique_key": "k\x00"}, "contains a NUL byte"),
    ],
)
def test_bad_enqueue_options_are_refused_and_write_nothing(
    app: Conveyor, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidJobError) as exc:
        app.enqueue("t", **options)
    assert message in str(exc.value)
    assert _count(app) == 0


def test_a_task_name_with_a_nul_byte_is_refused(app: Conveyor) -> None:
    with pytest.raises(InvalidJobError, match="contains a NUL byte"):
        app.enqueue("t\x00x")
    assert _count(app) == 0


def test_a_bad_job_in_a_bulk_insert_refuses_the_whole_insert(app: Conveyor) -> None:
    with pytest.raises(InvalidJobError, match="cannot contain a comma"):
        app.enqueue_many([{"task": "t"}, {"task": "t", "queue": "a,b"}])
    assert _count(app) == 0


def test_unknown_task_is_refused_when_the_app_registers_tasks(app: Conveyor) -> None:
    @app.task
    def send_email(offer_id: int) -> None: ...

    with pytest.raises(UnknownTaskError, match=r"unknown task 'send_emial' \(registered: send_email\)"):
        app.enqueue("send_emial", args=[1])
    with pytest.raises(UnknownTaskError):
        app.enqueue_many([{"task": "send_emial"}])
    assert _count(app) == 0


def test_an_app_without_tasks_may_enqueue_any_task_name(app: Conveyor) -> None:
    assert app.get_job(app.enqueue("runs_elsewhere", args=[1])).task == "runs_elsewhere"


def test_arguments_that_do_not_fit_the_signature_are_refused(app: Conveyor) -> None:
    @app.task
    def send_email(offer_id: int, *, urgent: bool = False) -> None: ...

    with pytest.raises(
        InvalidJobError,
        match=r"arguments do not fit task send_email\(offer_id, \*, urgent=False\): too many positional",
    ):
        app.enqueue("send_email", args=[1, 2])
    with pytest.raises(InvalidJobError, match="unexpected keyword argument 'urgnet'"):
        send_email.enqueue(1, urgnet=True)
    with pytest.raises(InvalidJobError, match="missing a required argument: 'offer_id'"):
        app.enqueue_many([send_email.job(1), {"task": "send_email"}])
    assert _count(app) == 0
    assert app.get_job(send_email.enqueue(1, urgent=True)).kwargs == {"urgent": True}


def test_a_nul_byte_inside_arguments_round_trips(app: Conveyor) -> None:
    job = app.enqueue("t", args=["a\x00b"], kwargs={"k": "\x00"})
    rec = app.get_job(job)
    assert (rec.args, rec.kwargs) == (["a\x00b"], {"k": "\x00"})


def test_queue_names_workers_cannot_serve_are_refused_at_declaration(app: Conveyor) -> None:
    with pytest.raises(ConveyorError, match="cannot contain a comma"):
        app.queue("a,b")
    with pytest.raises(ConveyorError, match="cannot contain a comma, whitespace"):

        @app.task(queue="two words")
        def t() -> None: ...

    assert app.tasks == {} and app.queues == {}


def test_a_worker_refuses_to_start_without_tasks(app: Conveyor) -> None:
    with pytest.raises(ConveyorError, match="no tasks are registered"):
        app.work(stop_when_empty=True)

"""The state machine is the spec: drivers must only make the transitions written in TRANSITIONS."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text, update

from conveyor import Conveyor
from conveyor.engine import clock
from conveyor.engine.states import FINISHED, TRANSITIONS, WAITING, JobState, can_transition
from conveyor.store import schema
from tests.transitions import TransitionLog


def test_every_state_has_a_transition_entry() -> None:
    assert set(TRANSITIONS) == set(JobState)


def test_completed_is_terminal() -> None:
    assert TRANSITIONS[JobState.COMPLETED] == frozenset()


def test_failed_and_cancelled_jobs_can_only_be_retried() -> None:
    assert TRANSITIONS[JobState.DISCARDED] == {JobState.AVAILABLE}
    assert TRANSITIONS[JobState.CANCELLED] == {JobState.AVAILABLE}


def test_waiting_and_finished_do_not_overlap() -> None:
    assert not (WAITING & FINISHED)
    assert JobState.EXECUTING not in WAITING | FINISHED


@given(st.lists(st.sampled_from(list(JobState)), min_size=1, max_size=30))
def test_any_legal_walk_from_scheduled_never_leaves_completed(walk: list[JobState]) -> None:
    """Follow only legal transitions: once completed, a job never moves again."""
    state = JobState.SCHEDULED
    for nxt in walk:
        if can_transition(state, nxt):
            assert state != JobState.COMPLETED
            state = nxt


@given(st.sampled_from(list(JobState)))
def test_executing_is_reached_only_from_available(src: JobState) -> None:
    assert can_transition(src, JobState.EXECUTING) == (src == JobState.AVAILABLE)


def test_snooze_moves_an_executing_job_back_to_scheduled() -> None:
    assert can_transition(JobState.EXECUTING, JobState.SCHEDULED)


@pytest.mark.usefixtures("transitions_checked")
def test_the_state_check_is_installed_before_the_app_fixture_migrates(app: Conveyor) -> None:
    with app.driver.read() as c:
        assert c.execute(text("SELECT count(*) FROM conveyor_test_violations")).scalar() == 0


def test_a_state_change_outside_the_table_fails_the_test_naming_job_and_change(
    transitions_checked: TransitionLog, app: Conveyor
) -> None:
    job = app.enqueue("t")
    conn = app.driver.connect()
    app.driver.fetch_available(conn, "default", 1, "w", clock.now(), 60)
    app.driver.complete_jobs(conn, [(job, None)], "w", clock.now())
    with app.driver.begin() as c:  # completed is terminal: nothing may move it
        c.execute(update(schema.jobs).where(schema.jobs.c.id == job).values(state="available"))
    conn.close()
    found = list(transitions_checked.finish())
    transitions_checked.found.clear()  # reported here, so the fixture itself does not fail this test
    assert found == [f"job {job}: completed -> available (seen at the end of the test: admin SQL or another process)"]


def test_an_illegal_change_names_the_driver_call_after_which_it_was_seen(
    transitions_checked: TransitionLog, app: Conveyor
) -> None:
    job = app.enqueue("t")
    conn = app.driver.connect()
    conn.execute(app.driver.q("UPDATE conveyor_jobs SET state = 'completed' WHERE id = ?"), (job,))  # skips executing
    app.driver.stage_due(conn, clock.now())
    conn.close()
    found, transitions_checked.found[:] = list(transitions_checked.found), []
    assert found == [f"job {job}: available -> completed (seen after {type(app.driver).__name__}.stage_due)"]

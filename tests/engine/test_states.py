"""The state machine is the spec: drivers must only make the transitions written in TRANSITIONS."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conveyor.engine.states import FINISHED, TRANSITIONS, WAITING, JobState, can_transition


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

"""Retry back-off: exponential, capped, jittered within bounds."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor import RetryPolicy
from conveyor.engine.retry import next_attempt_at


def test_backoff_doubles_from_the_initial_delay() -> None:
    p = RetryPolicy(delay=1.0, multiplier=2.0, max_delay=3600, jitter=0)
    assert [p.backoff(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]


def test_backoff_is_capped_at_max_delay() -> None:
    p = RetryPolicy(delay=1.0, multiplier=2.0, max_delay=60, jitter=0)
    assert p.backoff(30) == 60
    assert p.backoff(10_000) == 60  # no overflow on absurd attempt numbers


@given(
    delay=st.floats(0, 100),
    multiplier=st.floats(1, 10),
    max_delay=st.floats(0, 10_000),
    jitter=st.floats(0, 1),
    attempt=st.integers(1, 200),
    seed=st.integers(0, 2**32),
)
def test_backoff_stays_within_jitter_of_the_capped_exponential(
    delay: float, multiplier: float, max_delay: float, jitter: float, attempt: int, seed: int
) -> None:
    p = RetryPolicy(delay=delay, multiplier=multiplier, max_delay=max_delay, jitter=jitter)
    base = p.base_backoff(attempt)
    assert base <= max_delay
    got = p.backoff(attempt, random.Random(seed))
    assert base * (1 - jitter) - 1e-9 <= got <= base * (1 + jitter) + 1e-9
    assert got >= 0


@given(st.integers(1, 50), st.integers(1, 50))
def test_base_backoff_never_decreases_with_attempts(a: int, b: int) -> None:
    p = RetryPolicy(delay=0.5, multiplier=1.7, max_delay=900, jitter=0.2)
    lo, hi = sorted((a, b))
    assert p.base_backoff(lo) <= p.base_backoff(hi)


@pytest.mark.parametrize("kwargs", [{"delay": -1}, {"multiplier": 0.5}, {"jitter": 2}, {"max_delay": -5}])
def test_invalid_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


def test_next_attempt_waits_the_policys_backoff_while_attempts_are_left() -> None:
    p = RetryPolicy(delay=2.0, multiplier=3.0, jitter=0)
    assert next_attempt_at(1, 3, 100.0, p) == 102.0
    assert next_attempt_at(2, 3, 100.0, p) == 106.0


def test_next_attempt_is_none_once_the_stored_attempts_are_spent() -> None:
    assert next_attempt_at(3, 3, 100.0, RetryPolicy()) is None
    assert next_attempt_at(4, 3, 100.0) is None  # an attempt past the limit (retried by hand) is not retried again


def test_next_attempt_without_a_policy_is_at_once() -> None:
    assert next_attempt_at(1, 2, 100.0) == 100.0

"""Retry back-off: exponential with a cap and proportional jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait before attempt ``n + 1`` after attempt ``n`` failed.

    ``delay * multiplier ** (attempt - 1)``, capped at ``max_delay``, then spread by ``±jitter``
    (a fraction: 0.1 means ±10 %) so that a burst of failures does not retry in lock-step.
    """

    delay: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 3600.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.delay < 0 or self.max_delay < 0:
            raise ValueError("RetryPolicy delays must be >= 0")
        if self.multiplier < 1:
            raise ValueError("RetryPolicy.multiplier must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("RetryPolicy.jitter must be between 0 and 1")

    def base_backoff(self, attempt: int) -> float:
        """Back-off without jitter after the given (1-based) failed attempt."""
        exponent = max(attempt - 1, 0)
        try:
            raw = self.delay * self.multiplier**exponent
        except OverflowError:
            raw = self.max_delay
        return min(raw, self.max_delay)

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Back-off in seconds after the given (1-based) failed attempt, jitter applied."""
        base = self.base_backoff(attempt)
        if not self.jitter or not base:
            return base
        spread = base * self.jitter
        return max(0.0, base + (rng or random).uniform(-spread, spread))


DEFAULT_RETRY = RetryPolicy()


def next_attempt_at(attempt: int, max_attempts: int, now: float, policy: RetryPolicy | None = None) -> float | None:
    """When a job whose attempt ``attempt`` just failed may run again, or ``None``: no attempt left, discard.

    The one rule for "has this job an attempt left", used by the executor (a task raised), the supervisor
    (a job ran past its timeout) and rescue (a job's worker died). ``max_attempts`` is the job's stored
    value, fixed when the job was written. Without a ``policy`` the next attempt may run at once (rescue:
    the failure was the worker's, not the task's)."""
    if attempt >= max_attempts:
        return None
    return now + (policy.backoff(attempt) if policy is not None else 0.0)

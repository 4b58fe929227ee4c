"""Job states and the transitions between them: the specification every driver and worker follows.

```
scheduled ──(due)──▶ available ──(fetched)──▶ executing ──(ok)──▶ completed
                        ▲                        │
                        │(due)                   ├──(error, attempts left)──▶ retryable
                        └──────── retryable ◀────┘
                                                 ├──(error, no attempts left)──▶ discarded
                                                 └──(lease expired: "worker lost")──▶ retryable/discarded
any waiting state ──(cancel)──▶ cancelled;   discarded/cancelled ──(retry)──▶ available
executing ──(released on shutdown / sibling timeout)──▶ available (attempt not consumed)
```
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    SCHEDULED = "scheduled"
    AVAILABLE = "available"
    EXECUTING = "executing"
    RETRYABLE = "retryable"
    COMPLETED = "completed"
    DISCARDED = "discarded"
    CANCELLED = "cancelled"


S = JobState

#: Allowed transitions. Drivers implement exactly these; tests check them (tests/engine/test_states.py).
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    S.SCHEDULED: frozenset({S.AVAILABLE, S.CANCELLED}),
    S.AVAILABLE: frozenset({S.EXECUTING, S.CANCELLED}),
    S.EXECUTING: frozenset({S.COMPLETED, S.RETRYABLE, S.DISCARDED, S.AVAILABLE, S.CANCELLED}),
    S.RETRYABLE: frozenset({S.AVAILABLE, S.CANCELLED, S.DISCARDED}),
    S.COMPLETED: frozenset(),
    S.DISCARDED: frozenset({S.AVAILABLE}),
    S.CANCELLED: frozenset({S.AVAILABLE}),
}

#: States in which a job still waits to run.
WAITING = frozenset({S.SCHEDULED, S.AVAILABLE, S.RETRYABLE})
#: States a job never leaves on its own.
FINISHED = frozenset({S.COMPLETED, S.DISCARDED, S.CANCELLED})
#: States shown in the failed-job store.
FAILED = frozenset({S.DISCARDED})


def can_transition(src: JobState, dst: JobState) -> bool:
    """Whether ``src -> dst`` is a legal transition."""
    return dst in TRANSITIONS[src]

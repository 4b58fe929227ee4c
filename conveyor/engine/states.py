"""Job states and the transitions between them: the specification every driver and worker follows.

```
scheduled ──(due)──▶ available ──(fetched)──▶ executing ──(ok)──▶ completed
                        ▲                        │
                        │(due)                   ├──(error, attempts left)──▶ retryable
                        └──────── retryable ◀────┘
                                                 ├──(error, no attempts left)──▶ discarded
                                                 ├──(worker lost while running it)──▶ available/discarded
                                                 └──(raise Snooze)──▶ scheduled (attempt not consumed)
any waiting state ──(cancel)──▶ cancelled;   discarded/cancelled ──(retry)──▶ available
executing ──(released on shutdown / sibling timeout / never started)──▶ available (attempt not consumed)
```

Every state change any driver makes is checked against :data:`TRANSITIONS` in the test suite: the
``transitions_checked`` fixture (tests/conftest.py) installs a trigger that records any change not listed
here, and fails the test that made it.
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
    S.EXECUTING: frozenset({S.COMPLETED, S.RETRYABLE, S.DISCARDED, S.AVAILABLE, S.CANCELLED, S.SCHEDULED}),
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

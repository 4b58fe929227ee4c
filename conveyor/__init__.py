"""Conveyor: durable job queues, workers and scheduling on SQLite and PostgreSQL.

```python
from conveyor import Conveyor, RetryPolicy

app = Conveyor("sqlite:///conveyor.db")

@app.task(queue="default", max_attempts=3, retry=RetryPolicy(delay=1.0))
def send_email(offer_id: int) -> None: ...

send_email.enqueue(42)
```
Importing this package opens no connection and starts no thread. ``clock`` is the one source of time
(``clock.now()``; tests move it with ``clock.set_clock``): packs built on Conveyor use it too.
"""

from typing import TYPE_CHECKING, Any

from conveyor.app import Conveyor
from conveyor.coordination.batches import BatchRecord
from conveyor.coordination.keys import Unique
from conveyor.coordination.locks import Lock
from conveyor.coordination.ratelimit import RateLimit
from conveyor.engine import clock
from conveyor.engine.job import JobError, JobRecord, JobSpec
from conveyor.engine.retry import RetryPolicy
from conveyor.engine.states import JobState
from conveyor.engine.task import Task
from conveyor.errors import (
    ConfigurationError,
    ConveyorError,
    Discard,
    InvalidJobError,
    InvalidStateError,
    JobNotFoundError,
    KeyTemplateError,
    LockLost,
    LockNotAcquired,
    PayloadTooLargeError,
    SchemaOutdatedError,
    SerializationError,
    Snooze,
    UnknownQueueError,
    UnknownTaskError,
)
from conveyor.store.base import QueueStats
from conveyor.store.migrate import MigrationHistory
from conveyor.worker.context import JobContext, current_job
from conveyor.worker.options import WorkerOptions

__all__ = [
    "BatchRecord",
    "ConfigurationError",
    "Conveyor",
    "ConveyorError",
    "Discard",
    "InvalidJobError",
    "InvalidStateError",
    "JobContext",
    "JobError",
    "JobNotFoundError",
    "JobRecord",
    "JobSpec",
    "JobState",
    "KeyTemplateError",
    "Lock",
    "LockLost",
    "LockNotAcquired",
    "MigrationHistory",
    "PayloadTooLargeError",
    "QueueStats",
    "RateLimit",
    "RetryPolicy",
    "ScheduleEntry",
    "SchemaOutdatedError",
    "SerializationError",
    "Snooze",
    "Task",
    "Unique",
    "UnknownQueueError",
    "UnknownTaskError",
    "WorkerOptions",
    "clock",
    "current_job",
]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from conveyor.scheduler.catalog import ScheduleEntry


def __getattr__(name: str) -> Any:
    # The scheduler (and croniter) load on first use, not with ``import conveyor``.
    if name == "ScheduleEntry":
        from conveyor.scheduler.catalog import ScheduleEntry

        return ScheduleEntry
    raise AttributeError(f"module 'conveyor' has no attribute {name!r}")

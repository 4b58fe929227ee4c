"""Worker options, shared by ``conveyor work``, ``app.work()`` and the supervisor."""

from __future__ import annotations

from dataclasses import dataclass, field

from conveyor.errors import ConfigurationError


@dataclass
class WorkerOptions:
    """See ``conveyor work --help``. Times are seconds; ``0`` disables a limit."""

    queues: list[str] = field(default_factory=lambda: ["default"])
    concurrency: int = 4
    #: Child processes. 0 runs jobs in this process (no hard timeouts; for tests and debugging).
    processes: int = 1
    sleep: float = 1.0
    #: Refused when set: a job's attempts are fixed when it is written (``max_attempts`` on the task or the
    #: enqueue call, else the ``max_attempts`` setting), so a worker option could only contradict them.
    tries: int | None = None
    timeout: float = 3600.0
    max_time: float = 0.0
    max_jobs: int = 0
    memory_limit: int = 0  # MiB per child process
    stop_when_empty: bool = False
    once: bool = False
    lease: float | None = None  # default: settings.lease_seconds
    grace: float | None = None  # default: settings.shutdown_grace_seconds

    def __post_init__(self) -> None:
        if self.tries is not None:
            raise ConfigurationError(
                f"--tries is gone: a job's attempts are fixed when it is enqueued; set CONVEYOR_MAX_ATTEMPTS="
                f"{self.tries} (default for tasks that set none) or max_attempts= on the task"
            )
        if not self.queues or any(not q or q != q.strip() or "," in q for q in self.queues):
            raise ValueError(f"invalid queue list {self.queues!r}: give names like 'snapshots,default'")
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if self.processes < 0:
            raise ValueError("processes must be >= 0")
        if self.timeout <= 0:
            raise ValueError("timeout must be > 0")
        if self.sleep <= 0:
            raise ValueError("sleep must be > 0")
        if self.once:
            self.concurrency = 1
            self.processes = min(self.processes, 1)

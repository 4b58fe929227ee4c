"""Tasks: a registered function plus the defaults its jobs are enqueued with."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from conveyor.coordination.keys import KeyTemplate, Unique, default_unique_key, with_period
from conveyor.engine import clock
from conveyor.engine.job import JobSpec
from conveyor.engine.retry import DEFAULT_RETRY, RetryPolicy
from conveyor.errors import InvalidJobError

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from conveyor.app import Conveyor

P = ParamSpec("P")
R = TypeVar("R")


class Task(Generic[P, R]):
    """A function registered with ``@app.task``. Calling it runs it inline; ``enqueue`` queues it.

    ``connection`` is reserved in ``enqueue``: pass a SQLAlchemy connection to enqueue inside your own
    transaction (the job exists only if your transaction commits).
    """

    def __init__(
        self,
        app: Conveyor,
        fn: Callable[P, R],
        *,
        name: str,
        queue: str,
        priority: int,
        max_attempts: int | None,
        retry: RetryPolicy | None,
        timeout: float | None,
        store_result: bool,
        lock: str | None = None,
        unique: Unique | None = None,
    ) -> None:
        if max_attempts is not None and max_attempts < 1:
            raise ValueError(f"task {name!r}: max_attempts must be >= 1")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"task {name!r}: timeout must be > 0 seconds")
        self.app = app
        self.fn = fn
        self.name = name
        self.queue = queue
        self.priority = priority
        #: None: not set on the task, so the app's ``max_attempts`` setting decides when a job is written.
        self.max_attempts = max_attempts
        self.retry = retry or DEFAULT_RETRY
        self.timeout = timeout
        self.store_result = store_result
        self.is_async = inspect.iscoroutinefunction(fn)
        try:  # computed once: binding every job's arguments to it is the cheap part
            self._signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):  # some callables (builtins) have none: nothing to check against
            self._signature = None
        # Fast path for the common call (positional arguments only), so bulk enqueues skip Signature.bind.
        self._positional = (0, -1)
        if self._signature is not None:
            params = list(self._signature.parameters.values())
            kinds = {p.kind for p in params}
            positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            required_kw = any(p.kind == p.KEYWORD_ONLY and p.default is p.empty for p in params)
            if not required_kw:
                most = 2**62 if inspect.Parameter.VAR_POSITIONAL in kinds else len(positional)
                self._positional = (sum(p.default is p.empty for p in positional), most)
        # Templates are checked against the signature now, so a typo fails at import, not at enqueue.
        self.lock = KeyTemplate(lock, fn, "lock key", name) if lock is not None else None
        self.unique = unique
        self._unique_key = (
            KeyTemplate(unique.key, fn, "unique key", name) if unique is not None and unique.key else None
        )
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", name)

    def __repr__(self) -> str:
        return f"<Task {self.name} queue={self.queue}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def job(self, *args: Any, **kwargs: Any) -> JobSpec:
        """A job spec for ``app.enqueue_many`` (bulk insert); lock and unique keys are filled in.

        Arguments that do not fit the function's signature raise :class:`~conveyor.InvalidJobError` here,
        not as a failed job later."""
        spec = JobSpec(
            task=self.name,
            args=list(args),
            kwargs=kwargs,
            queue=self.queue,
            priority=self.priority,
            max_attempts=self.max_attempts,
            timeout=self.timeout,
        )
        if self.lock is not None:
            spec.lock_key = self.lock.render(args, kwargs)
        if self.unique is not None:
            if self._unique_key is not None:
                key = f"{self.name}:{self._unique_key.render(args, kwargs)}"
            else:
                key = default_unique_key(self.name, args, kwargs)
            spec.unique_key = with_period(key, self.unique.period, clock.now())
            spec.unique_states = self.unique.states_text
        # After the keys: a lock/unique template that cannot bind says so itself (KeyTemplateError).
        least, most = self._positional
        if self._signature is not None and (kwargs or not least <= len(args) <= most):
            try:
                self._signature.bind(*args, **kwargs)
            except TypeError as exc:
                bare = self._signature.replace(
                    parameters=[p.replace(annotation=p.empty) for p in self._signature.parameters.values()],
                    return_annotation=inspect.Signature.empty,
                )
                raise InvalidJobError(f"arguments do not fit task {self.name}{bare}: {exc}") from None
        return spec

    def enqueue(
        self, *args: Any, connection: Connection | None = None, unique_key: str | None = None, **kwargs: Any
    ) -> int:
        """Queue a job now; returns its id (or the existing job's id when it is a unique duplicate).

        ``unique_key=``: make this one call unique under that key (see :class:`~conveyor.Unique`)."""
        spec = self.job(*args, **kwargs)
        if unique_key is not None:
            spec.unique_key = unique_key
            spec.unique_states = spec.unique_states or Unique().states_text
        return self.app.enqueue_spec(spec, connection=connection)

    def enqueue_in(self, seconds: float, *args: Any, connection: Connection | None = None, **kwargs: Any) -> int:
        """Queue a job to run ``seconds`` from now."""
        spec = replace(self.job(*args, **kwargs), scheduled_at=clock.now() + seconds)
        return self.app.enqueue_spec(spec, connection=connection)

    def enqueue_at(self, when: datetime, *args: Any, connection: Connection | None = None, **kwargs: Any) -> int:
        """Queue a job to run at ``when`` (a naive datetime is taken as UTC)."""
        spec = replace(self.job(*args, **kwargs), scheduled_at=clock.from_datetime(when))
        return self.app.enqueue_spec(spec, connection=connection)

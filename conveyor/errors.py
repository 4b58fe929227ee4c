"""Every exception a user of Conveyor can catch, in one place.

Messages are written for the person reading them: they say what was wrong and what to do.
"""

from __future__ import annotations


class ConveyorError(Exception):
    """Base class of every error raised by Conveyor."""


class ConfigurationError(ConveyorError):
    """The application or its settings are wrong (bad URL, bad --app path, …)."""


class UnknownTaskError(ConveyorError):
    """A task name is not registered with the application."""

    def __init__(self, name: str, registered: list[str] | None = None) -> None:
        self.name = name
        known = ", ".join(sorted(registered or [])) or "none"
        super().__init__(f"unknown task {name!r} (registered: {known})")


class UnknownQueueError(ConveyorError):
    """A queue name that no job, declaration (``app.queue``, a task's ``queue=``) or queue setting knows:
    refused by pause/resume/clear so a typo never creates a ghost queue."""

    def __init__(self, name: str, known: list[str] | None = None) -> None:
        self.name = name
        names = ", ".join(sorted(known or [])) or "none"
        super().__init__(f"unknown queue {name!r} (known: {names})")


class SerializationError(ConveyorError):
    """Job arguments cannot be stored as JSON. Raised before anything is written."""


class InvalidJobError(SerializationError):
    """A job option is refused (a queue name workers could never serve, a delay that is not a finite number,
    arguments that do not fit the task's signature, …). Raised before anything is written. A subclass of
    :class:`SerializationError`, which such errors were raised as before."""


class PayloadTooLargeError(ConveyorError):
    """Job arguments exceed ``max_payload_bytes``. Raised before anything is written."""


class JobNotFoundError(ConveyorError):
    """No job with that id exists (it may have been pruned)."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id} not found (it may never have existed or was pruned)")


class InvalidStateError(ConveyorError):
    """The job is not in a state that allows the requested action."""


class SchemaOutdatedError(ConveyorError):
    """The database schema is older (or newer) than this version of Conveyor expects."""


class LockNotAcquired(ConveyorError):
    """A named lock is held by someone else (and did not come free within ``wait``)."""

    def __init__(self, key: str, holder: str | None = None, since: float | None = None) -> None:
        self.key, self.holder, self.since = key, holder, since
        who = f" by {holder}" if holder else ""
        when = ""
        if since is not None:
            from datetime import UTC, datetime

            when = f" since {datetime.fromtimestamp(since, UTC):%Y-%m-%d %H:%M:%S} UTC"
        super().__init__(f"lock {key!r} is held{who}{when}")


class LockLost(ConveyorError):
    """A lock expired or was released by someone else before its holder was done."""


class KeyTemplateError(ConveyorError):
    """A lock or unique key template names an argument the job does not have."""


class Discard(Exception):
    """Raise from a task to fail its job for good now, without the attempts it has left: for errors a retry
    cannot fix (rejected credentials, a record that will never parse). The job is ``discarded`` with this
    message — under the class name of the exception it was raised ``from``, if any — and shows in the
    failed store like any other failure (River's ``JobCancel``, Oban's ``{:discard, reason}``)."""


class Snooze(Exception):
    """Raise from a task to run it again after ``seconds`` without spending an attempt
    (e.g. the remote answered 429 with Retry-After)."""

    def __init__(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("Snooze seconds must be >= 0")
        self.seconds = float(seconds)
        super().__init__(f"snoozed for {self.seconds:g}s")

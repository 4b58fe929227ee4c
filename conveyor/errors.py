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


class SerializationError(ConveyorError):
    """Job arguments cannot be stored as JSON. Raised before anything is written."""


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


class DatabaseUnavailableError(ConveyorError):
    """The database cannot be reached."""

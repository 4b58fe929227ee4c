"""Every exception the Shoptet client and the pack's actions raise, in one place.

They all derive from :class:`ShoptetError` and carry what Shoptet said: the HTTP status, the first
``errors[].errorCode`` and message of the envelope, and the request id (``metadata.requestId`` or the
``X-Request-ID`` header) to quote to Shoptet's support. What a caller should do differs by type:

=========================  ==========================================================================
``AuthenticationError``    fix the credentials (a retry will not help); the token is never in the text
``Forbidden``              the token lacks a right, a module is missing, or an async prerequisite
``NotFound``               the entity is gone (deleted order, unknown job)
``InvalidRequest``         400/409/413/422: the request itself is wrong, never retried
``RateLimited``            wait ``retry_after_seconds`` (in a Conveyor task: ``raise Snooze(...)``)
``Locked``                 423: the same write is in flight; try again in a few seconds
``ServerError``            5xx or the network, still failing after the client's bounded retries
``MalformedResponse``      the answer is not JSON or does not match the schema (``code`` of the record)
``JobFailed``…             the asynchronous job ended badly or is still running after the poll budget
``SnapshotCorruptError``   the downloaded snapshot file is damaged (truncated gzip, bad CRC)
=========================  ==========================================================================

The pack's actions (:mod:`.actions`, :mod:`.webhooks`) raise :class:`PipelineError` and its subclasses,
which are Conveyor errors: the CLI prints them as one line and exits 2.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from conveyor import ConveyorError

if TYPE_CHECKING:
    from conveyor.commerce.shoptet.models import SystemJob


class ShoptetError(Exception):
    """Base of every Shoptet client error."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.error_code = error_code
        self.request_id = request_id

    def __str__(self) -> str:
        if self.request_id:
            return f"{self.message} (request id {self.request_id})"
        return self.message


class AuthenticationError(ShoptetError):
    """The token was refused (401, or 403 about the token itself): wrong, revoked or without rights."""


class Forbidden(ShoptetError):
    """403 not about the token: a missing module, or a prerequisite of the endpoint is not met."""


class JobFinishedWebhookMissing(Forbidden):
    """Shoptet refuses asynchronous requests (snapshots) until the ``job:finished`` webhook is registered."""


class JobPollLimitExceeded(Forbidden):
    """The detail of an unfinished job was asked for more than 10 times; Shoptet now answers 403 until the
    job finishes. Wait for the ``job:finished`` webhook instead of polling."""


class NotFound(ShoptetError):
    """404: the entity (or the job) does not exist."""


class InvalidRequest(ShoptetError):
    """400, 409, 413 or 422: Shoptet says the request is wrong; retrying it would fail the same way."""


class RateLimited(ShoptetError):
    """429 with a wait longer than the client is allowed to sleep (or too many 429s in a row).

    ``retry_after_seconds`` comes from the ``Retry-After`` header, which Shoptet sends as an HTTP date
    (``Mon, 01 Jul 2024 12:01:11 GMT``), so it is relative to the moment the answer was read.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after_seconds: float,
        retry_at: datetime | None = None,
        status_code: int | None = 429,
        error_code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, error_code=error_code, request_id=request_id)
        self.retry_after_seconds = retry_after_seconds
        self.retry_at = retry_at


class Locked(ShoptetError):
    """423: the same URL is being processed by another request (Shoptet holds such a lock up to 5 s)."""


class ServerError(ShoptetError):
    """5xx, or a network failure (``status_code`` None), that outlasted the client's retries."""


class MalformedResponse(ShoptetError):
    """The response is not JSON, or does not match the schema the client expects.

    ``code`` names the record (order code, product guid…) when it is known, so the log says which one."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, request_id=request_id)
        self.code = code


class JobFailed(ShoptetError):
    """An asynchronous job ended as ``failed``, ``expired`` or ``killed``; ``job.log`` may say why."""

    def __init__(self, message: str, *, job: SystemJob) -> None:
        super().__init__(message)
        self.job = job


class JobNotFinished(ShoptetError):
    """The job is still pending or running after the polls the caller allowed.

    Shoptet forbids more than 10 detail requests of an unfinished job, so instead of polling further,
    wait for the ``job:finished`` webhook (or reschedule) and ask once more."""

    def __init__(self, message: str, *, job: SystemJob, polls: int) -> None:
        super().__init__(message)
        self.job = job
        self.polls = polls


class SnapshotCorruptError(ShoptetError):
    """The snapshot file cannot be read to its end: truncated, a bad CRC, or not gzip at all.

    Raised before the first record when the file is verified up front, so no partial file is imported."""

    def __init__(self, message: str, *, path: Path) -> None:
        super().__init__(message)
        self.path = path


# ---------------------------------------------------------------------------------------------- the pack's API


class PipelineError(ConveyorError):
    """Base of the errors of the Shoptet pipelines' API (one line in the CLI, exit 2)."""


class UnknownPipelineError(PipelineError):
    """:func:`run_pipeline` was given a name that is not a pipeline."""


class WebhookSignatureError(PipelineError):
    """A webhook's ``Shoptet-Webhook-Signature`` is missing or matches no shop's signature key. Answer 401;
    nothing was recorded or enqueued."""


class WebhookPayloadError(PipelineError):
    """A correctly signed webhook whose body is not a Shoptet notification (answer 400)."""


class SnapshotNotRetryableError(PipelineError):
    """:func:`retry_snapshot` on an execution that is not a failed snapshot."""

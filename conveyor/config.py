"""Settings read from the environment (prefix ``CONVEYOR_``) or passed to :class:`Conveyor`.

Everything tunable lives here so that a deployment can be configured without code changes.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from conveyor.engine.redact import DEFAULT_REDACT_KEYS

DEFAULT_DATABASE_URL = "sqlite:///conveyor.db"


class Settings(BaseSettings):
    """Runtime configuration; every field can be set as ``CONVEYOR_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CONVEYOR_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    #: How long an executing job's lease lasts without a heartbeat before another worker rescues it.
    lease_seconds: float = Field(default=60.0, gt=0)
    #: Attempts of a job whose task and enqueue call set none (``CONVEYOR_MAX_ATTEMPTS``). Resolved when the job
    #: is written: the stored ``max_attempts`` is the only rule workers, rescue and the dashboard follow.
    max_attempts: int = Field(default=3, ge=1)
    #: A job that was running in a worker process that died (segfault, OOM kill, ``os._exit``) or stopped
    #: renewing its lease this many times is discarded ("killed its worker N times") instead of retried.
    crash_quarantine_after: int = Field(default=2, ge=1)
    #: Largest accepted JSON payload (args + kwargs) per job, in bytes.
    max_payload_bytes: int = Field(default=1_048_576, gt=0)
    #: Completed jobs older than this are deleted by ``prune`` (and by workers, periodically).
    completed_retention_hours: float = Field(default=24.0, ge=0)
    #: Seconds a worker waits for running jobs on SIGTERM/SIGINT before releasing them.
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    #: PostgreSQL only. ``False`` sets ``synchronous_commit = off`` on Conveyor's hot-path connections
    #: (enqueue, fetch, acknowledge): commits return before the WAL reaches disk, about 2x faster single
    #: enqueues, but a crash of the PostgreSQL server (not of your app) can lose the last ~0.6 s of
    #: them: enqueued jobs vanish, finished jobs run again. Never corrupts anything. Default: durable.
    postgres_synchronous_commit: bool = True
    #: Job argument keys whose values are shown as "[redacted]" in the API, dashboard, CLI and logs
    #: (case- and separator-insensitive; a key matches when it contains one of these, so ``access_token``
    #: matches ``token`` and ``apiKey`` matches ``api_key``).
    #: Default: password, passwd, token, secret, api_key, authorization, private_key, credential.
    redact_keys: list[str] = Field(default_factory=lambda: list(DEFAULT_REDACT_KEYS))
    #: Bearer token for the web API/dashboard (``CONVEYOR_WEB_TOKEN``). Required to bind beyond loopback
    #: unless basic-auth credentials are set.
    web_token: str | None = None
    #: Basic-auth credentials for the web API/dashboard (``CONVEYOR_WEB_USER`` / ``CONVEYOR_WEB_PASSWORD``).
    web_user: str | None = None
    web_password: str | None = None
    #: Largest request body the web API accepts, in bytes.
    web_max_body_bytes: int = Field(default=1_048_576, gt=0)
    #: Host names (the ``Host`` header) the web server answers to, comma-separated
    #: (``CONVEYOR_WEB_ALLOWED_HOSTS=conveyor.internal,*.ops.example``); loopback names and the address a
    #: request arrived on are always allowed. ``*`` allows any (only behind a proxy that checks it).
    web_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Failed sign-ins (or bad credentials) from one client address before it must wait; each further
    #: failure doubles the wait, up to ``web_login_lockout_seconds``.
    web_login_attempts: int = Field(default=5, ge=1)
    web_login_lockout_seconds: float = Field(default=300.0, gt=0)

    @field_validator("web_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [h.strip() for h in value.split(",") if h.strip()]
        return value

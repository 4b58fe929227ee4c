"""The simulator's settings: the shop's size and seed, Shoptet's limits, and the faults to inject."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PRIVATE_TOKEN = "sim-private-token"


DEFAULT_OAUTH_TOKEN = "sim-oauth-token"


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that shapes one simulated shop. Defaults mirror Shoptet's documented limits.

    Times are seconds. ``now`` pins the end of the generated history so two runs with the same seed produce the
    same responses; by default the history ends at start-up. ``churn_interval`` (when set) makes the shop create
    ``churn_new_orders`` and change ``churn_changed_orders`` orders every so often, as a live shop would.

    Limits: ``concurrency`` requests in flight per token; a bucket of ``bucket_capacity`` drops per token
    (per OAuth token for add-on access tokens) leaking ``bucket_leak`` drops/s, each request adding
    ``drops_per_request`` plus one per ``bytes_per_drop`` bytes of its response (a 50-order page weighs ~3 drops,
    1,000 products ~40). Faults: ``latency`` added to every API request (the connection stays open, so it
    counts against ``concurrency``), ``error_rate`` of requests answered 500/503, ``malformed_rate`` of records
    served as invalid JSON or without a required field (the same records for the same seed). Jobs: snapshots
    take at least ``job_delay``; an unfinished job polled more than ``job_max_polls`` times answers 403; results
    stay ``result_ttl`` (in ``result_dir``, default a temporary directory removed at shutdown). A share
    ``job_error_rate`` of jobs errors: such a job stays ``running`` until ``job_time_limit`` after its creation,
    then reads ``failed``, and never sends ``job:finished`` (as Shoptet's errored jobs do).
    """

    seed: int = 1
    orders: int = 2_000
    products: int = 500
    customers: int = 1_000
    now: float | None = None
    eshop_id: int = 222_651
    eshop_domain: str = "sim-eshop.myshoptet.com"
    private_tokens: tuple[str, ...] = (DEFAULT_PRIVATE_TOKEN,)
    oauth_tokens: tuple[str, ...] = (DEFAULT_OAUTH_TOKEN,)
    access_token_ttl: float = 1_800.0
    max_access_tokens: int = 5
    concurrency: int = 3
    bucket_capacity: int = 200
    bucket_leak: float = 10.0
    drops_per_request: int = 1
    bytes_per_drop: int = 16_384
    latency: float = 0.0
    error_rate: float = 0.0
    malformed_rate: float = 0.0
    job_delay: float = 2.0
    job_max_polls: int = 10
    job_error_rate: float = 0.0
    job_time_limit: float = 3 * 3_600.0
    job_workers: int = 2
    result_ttl: float = 24 * 3_600.0
    result_dir: str | None = None
    webhook_timeout: float = 4.0
    webhook_attempts: int = 3
    webhook_retry_delay: float = 15.0
    churn_interval: float | None = None
    churn_new_orders: int = 2
    churn_changed_orders: int = 3
    #: Seconds the shop's clock is ahead of (positive) or behind (negative) this machine's: change times,
    #: webhooks' eventCreated and the ``Date`` header all follow it, as a real Shoptet's would.
    clock_skew: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        for name in ("orders", "customers", "drops_per_request", "job_max_polls"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must not be negative")
        for name in (
            "products",
            "concurrency",
            "bucket_capacity",
            "bytes_per_drop",
            "max_access_tokens",
            "job_workers",
        ):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1")
        for name in ("error_rate", "malformed_rate", "job_error_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        for name in ("latency", "job_delay", "webhook_retry_delay", "job_time_limit"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must not be negative")
        if self.bucket_leak <= 0:
            problems.append("bucket_leak must be positive")
        if self.churn_interval is not None and self.churn_interval <= 0:
            problems.append("churn_interval must be positive")
        if self.webhook_attempts < 1:
            problems.append("webhook_attempts must be at least 1")
        if not self.private_tokens and not self.oauth_tokens:
            problems.append("configure at least one private token or OAuth token, or nobody can call the API")
        if problems:
            raise ValueError("invalid simulator configuration: " + "; ".join(problems))

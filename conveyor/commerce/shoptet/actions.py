"""The Shoptet pack's actions: what the CLI (``conveyor shoptet …``), the web layer and your code call.

Shops (add, find, update, remove), running a pipeline now, snapshots (request, retry), the pipeline log
(executions and their record errors), parked records and the Shops overview. Each takes the application;
those that queue work find the installed pack with :func:`~conveyor.commerce.shoptet.pack.pack_of`.
Receiving and registering webhooks is in :mod:`.webhooks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from conveyor import ConfigurationError, Conveyor
from conveyor.commerce import store
from conveyor.commerce.shoptet import snapshots, sync
from conveyor.commerce.shoptet.errors import PipelineError, SnapshotNotRetryableError, UnknownPipelineError
from conveyor.commerce.shoptet.pack import PLATFORM, pack_of
from conveyor.commerce.shoptet.webhooks import register_webhooks
from conveyor.commerce.store import Execution, ExecutionError, Shop, SnapshotFile
from conveyor.commerce.store.executions import ExecutionStatus
from conveyor.commerce.store.schema import snapshot_files

SNAPSHOT_KINDS = snapshots.SNAPSHOT_KINDS


#: Pipelines that can be run now (:func:`run_pipeline`), by the name executions carry.
PIPELINES = ("orders.fetch_new", "products.import_master", "customers.backfill_from_orders")


@dataclass(frozen=True)
class ShopOverview:
    """A shop as the Shops page shows it: its sync cursors and last executions (no credentials)."""

    shop: Shop
    cursors: dict[str, str | None]
    executions: list[Execution]
    #: "private token", "oauth" or "none"
    auth: str
    #: Whether webhooks can be verified (a signature key is stored).
    webhooks: bool
    eshop_id: int | None = None
    #: Per cursor: ``{"reason", "since", "runs"}`` while it cannot move, else None.
    stalls: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    #: Tracked records per state (``failing``, ``parked``, ``dismissed``).
    parked: dict[str, int] = field(default_factory=dict)


def add_shop(
    app: Conveyor,
    name: str,
    *,
    base_url: str,
    token: str | None = None,
    oauth_token: str | None = None,
    oauth_url: str | None = None,
    eshop_id: int | None = None,
    signature_key: str | None = None,
    is_master: bool = False,
    timezone: str = "Europe/Prague",
) -> Shop:
    """Add a Shoptet shop. ``token``: a private API token (Premium shops); or ``oauth_token`` (an add-on's
    installation token, exchanged at ``oauth_url``, default ``base_url``, for short-lived access tokens).
    ``eshop_id`` and ``signature_key`` let :func:`handle_webhook` accept the shop's webhooks
    (:func:`register_webhooks` fetches the key from Shoptet)."""
    pack = pack_of(app)
    if not token and not oauth_token:
        raise ConfigurationError(f"shop {name!r} needs a private API token (--token) or an OAuth token (--oauth-token)")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigurationError(f"the shop's API URL must start with http:// or https://, got {base_url!r}")
    credentials: dict[str, Any] = {}
    for key, value in (
        ("token", token),
        ("oauth_token", oauth_token),
        ("oauth_url", oauth_url),
        ("eshop_id", eshop_id),
        ("signature_key", signature_key),
    ):
        if value is not None and value != "":
            credentials[key] = value
    with app.transaction() as conn:
        return store.create_shop(
            conn,
            pack.cipher,
            platform=PLATFORM,
            name=name,
            base_url=base_url.rstrip("/"),
            credentials=credentials,
            timezone=timezone,
            is_master=is_master,
        )


def find_shop(app: Conveyor, ref: int | str) -> Shop:
    """A shop by id, or by name (``"7"`` is tried as an id first, then as a name)."""
    with app.read_transaction() as conn:
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            try:
                return store.get_shop(conn, int(ref))
            except store.ShopNotFoundError:
                if isinstance(ref, int):
                    raise
        return store.get_shop_by_name(conn, str(ref))


def list_shops(app: Conveyor) -> list[Shop]:
    """Every Shoptet shop, by id."""
    with app.read_transaction() as conn:
        return store.list_shops(conn, platform=PLATFORM)


def remove_shop(app: Conveyor, shop_id: int) -> bool:
    """Delete a shop and everything stored for it; False if there was none. Its queued jobs still run and
    end at once ("shop N no longer exists"); its snapshot files stay on disk."""
    with app.transaction() as conn:
        return store.delete_shop(conn, shop_id)


def update_shop(app: Conveyor, shop_id: int, *, base_url: str | None = None, webhook_url: str | None = None) -> Shop:
    """Change a shop's API URL and/or register its webhooks to ``webhook_url`` (see :func:`register_webhooks`:
    a shop added without a webhook URL cannot take snapshots until it has the ``job:finished`` webhook)."""
    shop = find_shop(app, shop_id)
    if base_url is not None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"the shop's API URL must start with http:// or https://, got {base_url!r}")
        with app.transaction() as conn:
            shop = store.set_shop_base_url(conn, shop.id, base_url.rstrip("/"))
    if webhook_url is not None:
        if not webhook_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"the webhook URL must start with http:// or https://, got {webhook_url!r}")
        register_webhooks(app, shop.id, webhook_url)
    return shop


#: The record kind each incremental pipeline parks, and the pipeline that retries it.
PARKED_PIPELINES = {"order": "orders.fetch_new", "product": "products.import_master"}


def list_parked(
    app: Conveyor,
    shop_id: int | None = None,
    *,
    include_failing: bool = False,
    after_id: int = 0,
    limit: int = 100,
) -> list[store.ParkedRecord]:
    """Records that failed run after run and were parked (and those an operator dismissed), by id; with
    ``include_failing``, also those still failing that will be parked if they fail again."""
    statuses = list(store.ParkedStatus)
    if not include_failing:
        statuses.remove(store.ParkedStatus.FAILING)
    with app.read_transaction() as conn:
        return store.list_parked(conn, shop_id, statuses=statuses, after_id=after_id, limit=limit)


def retry_parked(app: Conveyor, record_id: int) -> int:
    """Retry a parked (or dismissed) record now: it is due at once and its pipeline runs for the shop.
    Returns that run's job id."""
    with app.transaction() as conn:
        record = store.retry_parked(conn, record_id)
    pipeline = PARKED_PIPELINES.get(record.kind)
    if pipeline is None:
        raise PipelineError(f"record {record_id} is a {record.kind}: no Shoptet pipeline retries that kind")
    return run_pipeline(app, record.shop_id, pipeline, trigger="retry")


def dismiss_parked(app: Conveyor, record_id: int) -> store.ParkedRecord:
    """Stop retrying a parked record; it stays listed as ``dismissed``."""
    with app.transaction() as conn:
        return store.dismiss_parked(conn, record_id)


def shops_overview(app: Conveyor, *, executions: int = 10) -> list[ShopOverview]:
    """Every Shoptet shop with its cursors and its last ``executions`` runs, for the Shops page."""
    pack = pack_of(app)
    overview = []
    with app.read_transaction() as conn:
        for shop in store.list_shops(conn, platform=PLATFORM):
            creds = store.shop_credentials(conn, pack.cipher, shop.id)
            keys = (sync.CURSOR_ORDERS, sync.CURSOR_PRODUCTS)
            cursors = {key: store.get_cursor(conn, shop.id, key) for key in keys}
            stalls = {key: sync.get_stall(conn, shop.id, key) for key in keys}
            auth = "private token" if creds.get("token") else "oauth" if creds.get("oauth_token") else "none"
            eshop = creds.get("eshop_id")
            overview.append(
                ShopOverview(
                    shop=shop,
                    cursors=cursors,
                    executions=store.list_executions(conn, shop.id, limit=executions),
                    auth=auth,
                    webhooks=bool(creds.get("signature_key")),
                    eshop_id=int(eshop) if eshop is not None else None,
                    stalls=stalls,
                    parked=store.count_parked(conn, shop.id),
                )
            )
    return overview


def list_executions(
    app: Conveyor,
    shop_id: int | None = None,
    *,
    pipeline: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Execution]:
    """Executions newest first: one shop's (keyset pages with ``before_id``), or every Shoptet shop's."""
    with app.read_transaction() as conn:
        if shop_id is not None:
            return store.list_executions(conn, shop_id, pipeline=pipeline, before_id=before_id, limit=limit)
        runs: list[Execution] = []
        for shop in store.list_shops(conn, platform=PLATFORM):
            runs.extend(store.list_executions(conn, shop.id, pipeline=pipeline, before_id=before_id, limit=limit))
    return sorted(runs, key=lambda e: e.id, reverse=True)[:limit]


def get_execution(app: Conveyor, execution_id: int) -> Execution:
    """One execution; :class:`~conveyor.commerce.store.ExecutionNotFoundError` if there is none."""
    with app.read_transaction() as conn:
        return store.get_execution(conn, execution_id)


def execution_errors(app: Conveyor, execution_id: int, *, after_id: int = 0, limit: int = 100) -> list[ExecutionError]:
    """The records an execution could not import (code and reason), a page after ``after_id``."""
    with app.read_transaction() as conn:
        return store.list_errors(conn, execution_id, after_id=after_id, limit=limit)


def run_pipeline(app: Conveyor, shop_id: int, pipeline: str, *, trigger: str = "manual") -> int:
    """Run a pipeline for one shop now ("run now"): ``orders.fetch_new``, ``products.import_master`` or
    ``customers.backfill_from_orders``. Returns the job id; when that shop's job for the pipeline already
    waits, that job's id (one waiting run is enough)."""
    pack = pack_of(app)
    name = pipeline.removeprefix("shoptet.").removeprefix("commerce.")
    tasks = {
        "orders.fetch_new": "shoptet.orders.fetch_new_for_shop",
        "products.import_master": "shoptet.products.import_master_for_shop",
        "customers.backfill_from_orders": "commerce.customers.backfill_from_orders",
    }
    if name not in tasks:
        raise UnknownPipelineError(f"unknown pipeline {pipeline!r} (pipelines: {', '.join(PIPELINES)})")
    with app.transaction() as conn:
        store.get_shop(conn, shop_id)
        _, job_id = sync.enqueue_run(
            conn, pack.tasks[tasks[name]], [shop_id], shop_id=shop_id, pipeline=name, trigger=trigger,
            kwargs={"trigger": trigger},
        )  # fmt: skip
    return job_id


def request_snapshot(app: Conveyor, shop_id: int, kind: str) -> int:
    """Ask for a full snapshot of ``kind`` (orders, products, customers); returns the execution id (queued).

    A worker requests the export, waits for it, downloads it under the data dir and imports it with
    progress (``get_execution``, and the job's progress). A second request while one waits returns the
    waiting one's execution."""
    pack = pack_of(app)
    if kind not in SNAPSHOT_KINDS:
        raise ConfigurationError(f"unknown snapshot kind {kind!r} (kinds: {', '.join(SNAPSHOT_KINDS)})")
    with app.transaction() as conn:
        store.get_shop(conn, shop_id)
        execution_id, _ = sync.enqueue_run(
            conn, pack.tasks["shoptet.snapshot"], [shop_id, kind], shop_id=shop_id,
            pipeline=snapshots.pipeline_name(kind), trigger="manual",
        )  # fmt: skip
    return execution_id


def retry_snapshot(app: Conveyor, execution_id: int) -> int:
    """Retry a failed snapshot; returns the new execution's id.

    Its file is imported again without downloading when the recorded checksum still matches and the file
    reads to its end; otherwise the result is downloaded again (or, once Shoptet no longer has it, a new
    export is requested)."""
    pack = pack_of(app)
    with app.transaction() as conn:
        execution = store.get_execution(conn, execution_id)
        kind = execution.pipeline.removeprefix("snapshot.")
        if execution.shop_id is None or not execution.pipeline.startswith("snapshot.") or kind not in SNAPSHOT_KINDS:
            raise SnapshotNotRetryableError(
                f"execution {execution_id} is a {execution.pipeline} run, not a snapshot: use run_pipeline"
            )
        if execution.status is not ExecutionStatus.ERROR:
            raise SnapshotNotRetryableError(
                f"execution {execution_id} is {execution.status.value}: only a failed snapshot can be retried"
            )
        file = _file_of_execution(conn, execution_id)
        new_id, _ = sync.enqueue_run(
            conn,
            pack.tasks["shoptet.snapshot"],
            [execution.shop_id, kind],
            shop_id=execution.shop_id,
            pipeline=execution.pipeline,
            trigger="retry",
            kwargs={"trigger": "retry", "file_id": file.id if file else None},
        )
    return new_id


def snapshot_file_of(app: Conveyor, execution_id: int) -> SnapshotFile | None:
    """The file a snapshot execution downloaded (or re-used), if it got that far."""
    with app.read_transaction() as conn:
        return _file_of_execution(conn, execution_id)


def _file_of_execution(conn: Connection, execution_id: int) -> SnapshotFile | None:
    file_id = conn.execute(
        select(snapshot_files.c.id)
        .where(snapshot_files.c.execution_id == execution_id)
        .order_by(snapshot_files.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if file_id is None else store.get_snapshot_file(conn, int(file_id))

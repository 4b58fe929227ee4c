"""``conveyor shoptet``: Shoptet shops, their pipelines, snapshots and executions.

Works with an application that called :func:`conveyor.commerce.shoptet.pipelines.install` (``--app``), and
with a bare one (``CONVEYOR_DATABASE_URL`` only), on which the pipelines are installed with their defaults.
Shop credentials are encrypted with ``CONVEYOR_COMMERCE_SECRET_KEY``. Snapshots and "run now" are queued:
a worker (``conveyor work`` or ``conveyor up``) does the work; ``--wait`` follows it with a progress bar.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from conveyor import ConfigurationError, Conveyor, JobNotFoundError
from conveyor.cli.extensions import JsonOption, console, fmt_age, fmt_time, get_app, handle_errors, print_json

if TYPE_CHECKING:
    from conveyor.commerce.store import Execution, Shop

# The commerce pack (httpx, cryptography: the ``commerce`` extra) is imported inside the commands, so that
# ``conveyor`` itself starts without it.

cli = typer.Typer(help="Shoptet shops, sync pipelines, snapshots and their executions.", no_args_is_help=True)
shops_cli = typer.Typer(help="Shoptet shops: add, list, update, remove.", no_args_is_help=True)
cli.add_typer(shops_cli, name="shops")
parked_cli = typer.Typer(
    help="Records that failed run after run and were parked: list, retry, dismiss.", no_args_is_help=True
)
cli.add_typer(parked_cli, name="parked")


class Kind(StrEnum):
    orders = "orders"
    products = "products"
    customers = "customers"


FINISHED = ("completed", "error")
PIPELINES = ("orders.fetch_new", "products.import_master", "customers.backfill_from_orders")


def _app(ctx: typer.Context) -> Conveyor:
    """The application with the Shoptet pipelines installed and the commerce tables current."""
    from conveyor.commerce.shoptet import pipelines

    app = get_app(ctx)
    try:
        pipelines.pack_of(app)
    except ConfigurationError:
        pipelines.install(app)
    app.check_schema()
    return app


def _shop(app: Conveyor, ref: str) -> Shop:
    from conveyor.commerce.shoptet import pipelines

    return pipelines.find_shop(app, ref)


# ---------------------------------------------------------------------------------------------- shops
@shops_cli.command("add")
@handle_errors
def shops_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for the shop (unique).")],
    url: Annotated[str, typer.Option("--url", help="Shoptet API base URL, e.g. https://api.myshoptet.com.")],
    token: Annotated[str | None, typer.Option("--token", help="Private API token (Premium shops).")] = None,
    oauth_token: Annotated[
        str | None, typer.Option("--oauth-token", help="Add-on OAuth token, exchanged for access tokens.")
    ] = None,
    oauth_url: Annotated[
        str | None, typer.Option("--oauth-url", help="The shop's own URL for the OAuth token exchange (default --url).")
    ] = None,
    eshop_id: Annotated[int | None, typer.Option("--eshop-id", help="Shoptet's eshopId (webhooks carry it).")] = None,
    signature_key: Annotated[
        str | None, typer.Option("--signature-key", help="Webhook signature key (or use --webhook-url).")
    ] = None,
    master: Annotated[bool, typer.Option("--master", help="Its catalogue and stock are the source of truth.")] = False,
    timezone: Annotated[str, typer.Option("--timezone", help="IANA time zone of the shop.")] = "Europe/Prague",
    webhook_url: Annotated[
        str | None,
        typer.Option(
            "--webhook-url",
            help="Register order:create, order:update and job:finished webhooks to this URL (fetches the key).",
        ),
    ] = None,
) -> None:
    """Add a Shoptet shop (credentials are stored encrypted)."""
    import httpx

    from conveyor.commerce.shoptet import pipelines
    from conveyor.commerce.shoptet.errors import ShoptetError

    app = _app(ctx)
    shop = pipelines.add_shop(
        app,
        name,
        base_url=url,
        token=token,
        oauth_token=oauth_token,
        oauth_url=oauth_url,
        eshop_id=eshop_id,
        signature_key=signature_key,
        is_master=master,
        timezone=timezone,
    )
    auth = "private token" if token else "OAuth token"
    console.print(f"shop {shop.id} {shop.name!r} added ({auth}{', master' if master else ''})", highlight=False)
    if webhook_url:
        try:
            new = pipelines.register_webhooks(app, shop.id, webhook_url)
        except (ShoptetError, httpx.HTTPError) as exc:  # the shop is in; say what is left to do
            message = f"shop {shop.name!r} was added, but registering webhooks failed: {exc}"
            raise pipelines.PipelineError(message) from None
        console.print(f"webhooks registered: {', '.join(new) or 'already there'}", highlight=False)


@shops_cli.command("list")
@handle_errors
def shops_list(ctx: typer.Context) -> None:
    """Shoptet shops with their sync cursors and last run."""
    from conveyor.commerce.shoptet import pipelines

    app = _app(ctx)
    overview = pipelines.shops_overview(app, executions=1)
    if not overview:
        console.print("no Shoptet shops (add one: conveyor shoptet shops add NAME --url … --token …)")
        return
    table = Table(title="Shoptet shops")
    for column in ("id", "name", "API URL", "master", "time zone", "auth", "webhooks", "orders up to",
                   "products up to", "last run"):  # fmt: skip
        table.add_column(column)
    for item in overview:
        shop = item.shop
        last = item.executions[0] if item.executions else None
        table.add_row(
            str(shop.id),
            shop.name,
            shop.base_url,
            "yes" if shop.is_master else "",
            shop.timezone,
            item.auth,
            f"eshop {item.eshop_id}" if item.webhooks and item.eshop_id else ("yes" if item.webhooks else "no"),
            item.cursors.get("orders.change_time") or "-",
            item.cursors.get("products.change_time") or "-",
            f"{last.pipeline} {last.status.value}" if last else "-",
        )
    console.print(table)
    for item in overview:  # a stall is why a cursor does not move: said under the table, not listed as a cursor
        for key, stall in item.stalls.items():
            if stall:
                runs = stall.get("runs", 1)
                console.print(
                    f"{item.shop.name}: {key} has not moved for {runs} run{'' if runs == 1 else 's'}: "
                    f"{stall.get('reason')}",
                    markup=False,
                )


@shops_cli.command("update")
@handle_errors
def shops_update(
    ctx: typer.Context,
    shop_ref: Annotated[str, typer.Argument(metavar="SHOP", help="Shop id or name.")],
    url: Annotated[str | None, typer.Option("--url", help="A new Shoptet API base URL.")] = None,
    webhook_url: Annotated[
        str | None,
        typer.Option(
            "--webhook-url",
            help="Register order:create, order:update and job:finished webhooks to this URL (snapshots need it).",
        ),
    ] = None,
) -> None:
    """Change a shop's API URL, or register its webhooks (a shop added without --webhook-url)."""
    from conveyor.commerce.shoptet import pipelines

    app = _app(ctx)
    shop = _shop(app, shop_ref)
    if url is None and webhook_url is None:
        raise ConfigurationError("nothing to update: give --url and/or --webhook-url")
    pipelines.update_shop(app, shop.id, base_url=url, webhook_url=webhook_url)
    done = [f"API URL {url}" if url else "", f"webhooks registered to {webhook_url}" if webhook_url else ""]
    console.print(f"shop {shop.id} {shop.name!r}: " + ", ".join(d for d in done if d), highlight=False)


@shops_cli.command("remove")
@handle_errors
def shops_remove(
    ctx: typer.Context,
    shop_ref: Annotated[str, typer.Argument(metavar="SHOP", help="Shop id or name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a shop and everything synced from it (orders, products, customers, executions)."""
    from conveyor.commerce.shoptet import pipelines

    app = _app(ctx)
    shop = _shop(app, shop_ref)
    if not yes:
        typer.confirm(f"delete shop {shop.id} {shop.name!r} and all its synced data?", abort=True)
    pipelines.remove_shop(app, shop.id)
    console.print(f"shop {shop.id} {shop.name!r} removed", highlight=False)


# ---------------------------------------------------------------------------------------------- parked
@parked_cli.command("list")
@handle_errors
def parked_list(
    ctx: typer.Context,
    shop_ref: Annotated[str | None, typer.Option("--shop", help="Only this shop (id or name).")] = None,
    failing: Annotated[bool, typer.Option("--failing", help="Also records still failing, not parked yet.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    json_: JsonOption = False,
) -> None:
    """Records a pipeline parked after they failed run after run, with their last error."""
    from conveyor.commerce.shoptet import pipelines

    app = _app(ctx)
    shop_id = _shop(app, shop_ref).id if shop_ref else None
    rows = pipelines.list_parked(app, shop_id, include_failing=failing, limit=limit)
    if json_:
        print_json({"parked": [r.as_dict() for r in rows]})
        return
    if not rows:
        console.print("no parked records")
        return
    table = Table(title="Parked records")
    for column in ("id", "shop", "kind", "code", "status", "failures", "next retry", "last error"):
        table.add_column(column)
    for r in rows:
        retry = fmt_time(r.next_retry_at) if r.next_retry_at else "-"
        table.add_row(str(r.id), str(r.shop_id), r.kind, r.code, r.status.value, str(r.failures), retry,
                      r.last_error[:120])  # fmt: skip
    console.print(table)


@parked_cli.command("retry")
@handle_errors
def parked_retry(
    ctx: typer.Context,
    record_id: Annotated[int, typer.Argument(metavar="ID", help="Parked record id (conveyor shoptet parked list).")],
    json_: JsonOption = False,
) -> None:
    """Retry a parked (or dismissed) record now: its pipeline runs for the shop."""
    from conveyor.commerce.shoptet import pipelines

    app = _app(ctx)
    job_id = pipelines.retry_parked(app, record_id)
    if json_:
        print_json({"id": record_id, "job_id": job_id})
        return
    console.print(f"parked record {record_id}: retrying in job {job_id}", highlight=False)


@parked_cli.command("dismiss")
@handle_errors
def parked_dismiss(
    ctx: typer.Context,
    record_id: Annotated[int, typer.Argument(metavar="ID", help="Parked record id (conveyor shoptet parked list).")],
    json_: JsonOption = False,
) -> None:
    """Stop retrying a parked record; it stays listed as dismissed."""
    from conveyor.commerce.shoptet import pipelines

    app = _app(ctx)
    record = pipelines.dismiss_parked(app, record_id)
    if json_:
        print_json(record.as_dict())
        return
    console.print(f"parked record {record_id} ({record.kind} {record.code}) dismissed", highlight=False)


# ---------------------------------------------------------------------------------------------- pipelines
@cli.command("snapshot")
@handle_errors
def snapshot(
    ctx: typer.Context,
    shop_ref: Annotated[str, typer.Argument(metavar="SHOP", help="Shop id or name.")],
    kind: Annotated[Kind, typer.Argument(help="What to export.")],
    wait: Annotated[bool, typer.Option("--wait", help="Follow it with a progress bar until it ends.")] = False,
) -> None:
    """Queue a full snapshot (Shoptet's asynchronous export) of a shop's orders, products or customers."""
    from conveyor.commerce.shoptet import pipelines

    app = _app(ctx)
    shop = _shop(app, shop_ref)
    execution_id = pipelines.request_snapshot(app, shop.id, kind.value)
    _queued(app, execution_id, wait)


@cli.command("run")
@handle_errors
def run(
    ctx: typer.Context,
    shop_ref: Annotated[str, typer.Argument(metavar="SHOP", help="Shop id or name.")],
    pipeline: Annotated[str, typer.Argument(help=f"One of: {', '.join(PIPELINES)}.")],
    wait: Annotated[bool, typer.Option("--wait", help="Follow it until it ends.")] = False,
) -> None:
    """Run a pipeline for one shop now (outside its schedule)."""
    from conveyor.commerce.shoptet import pipelines

    app = _app(ctx)
    shop = _shop(app, shop_ref)
    job_id = pipelines.run_pipeline(app, shop.id, pipeline)
    runs = [e for e in pipelines.list_executions(app, shop.id, limit=20) if e.job_id == job_id]
    if runs:
        _queued(app, runs[0].id, wait)
    else:
        console.print(f"job {job_id} queued (follow it: conveyor jobs watch {job_id})")


@cli.command("retry-snapshot")
@handle_errors
def retry_snapshot(
    ctx: typer.Context,
    execution_id: Annotated[int, typer.Argument(help="The failed snapshot's execution id.")],
    wait: Annotated[bool, typer.Option("--wait", help="Follow it with a progress bar until it ends.")] = False,
) -> None:
    """Retry a failed snapshot: from its file when still intact, else by downloading it again."""
    from conveyor.commerce.shoptet import pipelines

    app = _app(ctx)
    new_id = pipelines.retry_snapshot(app, execution_id)
    _queued(app, new_id, wait)


@cli.command("executions")
@handle_errors
def executions(
    ctx: typer.Context,
    shop_ref: Annotated[str | None, typer.Argument(metavar="[SHOP]", help="Shop id or name (default: all).")] = None,
    pipeline: Annotated[str | None, typer.Option("--pipeline", "-p", help="Only this pipeline.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    errors: Annotated[int | None, typer.Option("--errors", help="Show this execution's record errors.")] = None,
) -> None:
    """The pipeline log: runs newest first, with status, times and counts (``--errors ID``: its bad records)."""
    from conveyor.commerce.shoptet import pipelines

    app = _app(ctx)
    if errors is not None:
        _record_errors(app, errors, limit)
        return
    shop_id = _shop(app, shop_ref).id if shop_ref else None
    runs = pipelines.list_executions(app, shop_id, pipeline=pipeline, limit=limit)
    if not runs:
        console.print("no executions")
        return
    names = {s.id: s.name for s in pipelines.list_shops(app)}
    table = Table(title="pipeline executions")
    for column in ("id", "shop", "pipeline", "trigger", "status", "started", "took", "read", "created", "updated",
                   "unchanged", "failed", "error"):  # fmt: skip
        table.add_column(column, overflow="fold")
    for e in runs:
        c = e.counts
        shop = "-" if e.shop_id is None else names.get(e.shop_id, str(e.shop_id))
        took = fmt_age(e.finished_at - e.started_at) if e.finished_at and e.started_at else "-"
        table.add_row(
            str(e.id), shop, e.pipeline, e.trigger, _status(e), fmt_time(e.started_at),
            took, str(c.read), str(c.created), str(c.updated), str(c.unchanged), str(c.failed), e.error or "",
        )  # fmt: skip
    console.print(table)


def _record_errors(app: Conveyor, execution_id: int, limit: int) -> None:
    from conveyor.commerce.shoptet import pipelines

    pipelines.get_execution(app, execution_id)
    rows = pipelines.execution_errors(app, execution_id, limit=limit)
    if not rows:
        console.print(f"execution {execution_id} has no record errors")
        return
    table = Table(title=f"record errors of execution {execution_id}")
    table.add_column("record")
    table.add_column("reason", overflow="fold")
    for row in rows:
        table.add_row(row.record_code or "-", row.reason)
    console.print(table)


def _status(e: Execution) -> str:
    colour = {"completed": "green", "error": "red", "running": "yellow"}.get(e.status.value, "")
    return f"[{colour}]{e.status.value}[/{colour}]" if colour else e.status.value


# ---------------------------------------------------------------------------------------------- following
def _queued(app: Conveyor, execution_id: int, wait: bool) -> None:
    from conveyor.commerce.shoptet import pipelines

    execution = pipelines.get_execution(app, execution_id)
    job = f" as job {execution.job_id}" if execution.job_id else ""
    console.print(f"execution {execution.id} ({execution.pipeline}) queued{job}", highlight=False)
    if not wait:
        console.print(f"follow it: conveyor shoptet executions --limit 5, or conveyor jobs watch {execution.job_id}")
        return
    final = _follow(app, execution_id)
    c = final.counts
    line = (
        f"execution {final.id} {final.status.value}: read {c.read}, created {c.created}, updated {c.updated}, "
        f"unchanged {c.unchanged}, failed {c.failed}"
    )
    console.print(line + (f"\nerror: {final.error}" if final.error else ""), highlight=False)
    if c.failed:
        console.print(f"record errors: conveyor shoptet executions --errors {final.id}")
    if final.status.value != "completed":
        raise typer.Exit(1)


def _follow(app: Conveyor, execution_id: int, interval: float = 0.5) -> Execution:
    """Poll the execution and its job's progress until the execution ends; a Rich progress bar meanwhile."""
    from conveyor.commerce.shoptet import pipelines

    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
        TaskProgressColumn(), TimeRemainingColumn(), TextColumn("{task.fields[state]}"),
    )  # fmt: skip
    with Progress(*columns, console=console, transient=False) as bar:
        task_id = bar.add_task(f"execution {execution_id}", total=None, unit="", state="")
        while True:
            execution = pipelines.get_execution(app, execution_id)
            progress = None
            if execution.job_id is not None:
                try:
                    progress = app.get_job(execution.job_id).progress
                except JobNotFoundError:
                    progress = None
            state = "waiting for a worker" if execution.status.value == "queued" else execution.status.value
            p = progress or {}
            bar.update(
                task_id, description=f"{execution.pipeline} #{execution.id}", completed=p.get("done") or 0,
                total=p.get("total"), unit=p.get("message") or "", state=state,
            )  # fmt: skip
            if execution.status.value in FINISHED:
                return execution
            time.sleep(interval)

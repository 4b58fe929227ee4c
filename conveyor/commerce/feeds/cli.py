"""``conveyor feeds`` and ``conveyor suppliers``: supplier feed integrations, their import runs, and linking.

Works with an application that called :func:`conveyor.commerce.feeds.pipelines.install` (``--app``), and with a
bare one (``CONVEYOR_DATABASE_URL`` only), on which the feeds are installed with their defaults. Imports and
linking are queued: workers on queues ``import`` and ``integrations`` (``conveyor work -q import -q
integrations``) do the work; ``--wait`` follows a run until it ends. The lead wires :func:`extend` into the
command line.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from conveyor import ConfigurationError, Conveyor
from conveyor.cli.extensions import JsonOption, console, fmt_time, get_app, handle_errors, print_json
from conveyor.commerce.gtin import display_gtin

if TYPE_CHECKING:
    from conveyor.commerce.feeds.actions import RunView

cli = typer.Typer(help="Supplier feeds: add, list, import, link and review.", no_args_is_help=True)
suppliers_cli = typer.Typer(help="Suppliers (contractors) whose feeds are imported.", no_args_is_help=True)


def extend(root: typer.Typer) -> None:
    """Add ``conveyor feeds`` and ``conveyor suppliers`` to the command line."""
    root.add_typer(cli, name="feeds")
    root.add_typer(suppliers_cli, name="suppliers")


def _app(ctx: typer.Context) -> Conveyor:
    """The application with the feeds installed and the commerce tables current."""
    from conveyor.commerce.feeds import pipelines

    app = get_app(ctx)
    try:
        pipelines.pack_of(app)
    except ConfigurationError:
        pipelines.install(app, schedules=False)
    app.check_schema()
    return app


# ---------------------------------------------------------------------------------------------- suppliers
@suppliers_cli.command("add")
@handle_errors
def suppliers_add(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="A short unique code, e.g. 'acme'.")],
    name: Annotated[str, typer.Argument(help="The supplier's name.")],
) -> None:
    """Add a supplier."""
    from conveyor.commerce.feeds import pipelines

    supplier = pipelines.add_supplier(_app(ctx), code, name)
    console.print(f"supplier {supplier.id} {supplier.code!r} added", highlight=False)


@suppliers_cli.command("list")
@handle_errors
def suppliers_list(
    ctx: typer.Context,
    after: Annotated[int, typer.Option("--after", help="Show suppliers after this id (next page).")] = 0,
    limit: Annotated[int, typer.Option("--limit", help="Suppliers per page.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Suppliers, by id."""
    from conveyor.commerce.feeds import pipelines

    found = pipelines.list_suppliers(_app(ctx), after_id=after, limit=limit)
    if as_json:
        print_json([{"id": s.id, "code": s.code, "name": s.name, "created_at": s.created_at} for s in found])
        return
    table = Table(title="Suppliers")
    for column in ("id", "code", "name", "added"):
        table.add_column(column)
    for s in found:
        table.add_row(str(s.id), s.code, s.name, fmt_time(s.created_at))
    console.print(table)


# ---------------------------------------------------------------------------------------------- feeds
@cli.command("add")
@handle_errors
def feeds_add(
    ctx: typer.Context,
    supplier: Annotated[str, typer.Argument(help="The supplier's code or id.")],
    name: Annotated[str, typer.Argument(help="A unique name for the feed.")],
    source: Annotated[str, typer.Option("--source", help="An http(s) URL or a local path.")],
    mapping: Annotated[
        str,
        typer.Option(
            "--mapping",
            help='JSON: which column is what, e.g. \'{"sku": "KOD", "ean": "EAN", "stock_quantity": "SKLADEM"}\'.',
        ),
    ],
    schedule: Annotated[str, typer.Option("--schedule", help="Cron of the scheduled runs, or 'manual'.")] = "0 * * * *",
    format: Annotated[str, typer.Option("--format", help="csv, xml or auto.")] = "auto",
    encoding: Annotated[str | None, typer.Option("--encoding", help="Declared encoding (default: detected).")] = None,
    item_path: Annotated[str | None, typer.Option("--item-path", help="XML item path, e.g. SHOP/SHOPITEM.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="HTTP basic auth user.")] = None,
    password: Annotated[str | None, typer.Option("--password", help="HTTP basic auth password.")] = None,
    header: Annotated[str | None, typer.Option("--header", help="An auth header, 'X-Api-Key: secret'.")] = None,
) -> None:
    """Add a feed integration with its import task (credentials are stored encrypted)."""
    from conveyor.commerce.feeds import pipelines

    try:
        mappings = json.loads(mapping)
    except json.JSONDecodeError as exc:
        raise pipelines.FeedMappingError(f"--mapping is not valid JSON: {exc}") from None
    if not isinstance(mappings, dict):
        raise pipelines.FeedMappingError("--mapping must be a JSON object of field → column")
    auth: dict[str, Any] | None = None
    if user is not None:
        auth = {"user": user, "password": password or ""}
    elif header is not None:
        key, _, value = header.partition(":")
        auth = {"header": key.strip(), "value": value.strip()}
    feed, task = pipelines.add_feed(
        _app(ctx),
        supplier,
        name,
        source=source,
        mappings=mappings,
        schedule=None if schedule == "manual" else schedule,
        format=format,
        encoding=encoding,
        item_path=item_path,
        auth=auth,
    )
    when = feed.schedule or "manual runs only"
    console.print(f"feed {feed.id} {feed.name!r} added with import task {task.id} ({when})", highlight=False)


@cli.command("list")
@handle_errors
def feeds_list(
    ctx: typer.Context,
    after: Annotated[int, typer.Option("--after", help="Show feeds after this id (next page).")] = 0,
    limit: Annotated[int, typer.Option("--limit", help="Feeds per page.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Feeds with their last run, status and next scheduled run."""
    from conveyor.commerce.feeds import pipelines

    overview = pipelines.list_feeds(_app(ctx), after_id=after, limit=limit)
    if as_json:
        print_json([_overview_json(o) for o in overview])
        return
    if not overview:
        console.print("no feeds (add one: conveyor feeds add SUPPLIER NAME --source URL --mapping JSON)")
        return
    table = Table(title="Supplier feeds")
    for column in ("id", "name", "supplier", "tasks", "schedule", "status", "last run", "next run"):
        table.add_column(column)
    for o in overview:
        last = o.last_run
        table.add_row(
            str(o.feed.id),
            o.feed.name,
            o.supplier.code,
            str(len(o.tasks)),
            o.feed.schedule or "manual",
            o.status,
            fmt_time(last.execution.queued_at) if last else "-",
            fmt_time(o.next_run_at) if o.next_run_at else "-",
        )
    console.print(table)


def _overview_json(o: Any) -> dict[str, Any]:
    return {
        "id": o.feed.id,
        "name": o.feed.name,
        "supplier": o.supplier.code,
        "schedule": o.feed.schedule,
        "enabled": o.feed.enabled,
        "status": o.status,
        "tasks": [{"id": t.id, "name": t.name, "source": t.source, "format": t.format} for t in o.tasks],
        "last_run": _run_json(o.last_run) if o.last_run else None,
        "next_run_at": o.next_run_at,
    }


def _run_json(r: RunView) -> dict[str, Any]:
    c = r.execution.counts
    return {
        "execution_id": r.execution.id,
        "task_id": r.run.feed_task_id,
        "status": r.execution.status.value,
        "outcome": r.outcome,
        "trigger": r.execution.trigger,
        "queued_at": r.execution.queued_at,
        "finished_at": r.execution.finished_at,
        "counts": {
            "read": c.read,
            "created": c.created,
            "updated": c.updated,
            "unchanged": c.unchanged,
            "failed": c.failed,
        },
        "zeroed": r.run.zeroed,
        "chunks": r.run.chunks,
        "chunks_done": r.run.chunks_done,
        "row_limit": r.run.row_limit,
        "dry_run": r.run.dry_run,
        "error": r.execution.error,
    }


@cli.command("show")
@handle_errors
def feeds_show(
    ctx: typer.Context,
    feed: Annotated[str, typer.Argument(help="The feed's name or id.")],
    runs: Annotated[int, typer.Option("--runs", help="How many recent runs to list.")] = 10,
    errors: Annotated[int | None, typer.Option("--errors", help="List this run's bad rows instead.")] = None,
    as_json: JsonOption = False,
) -> None:
    """A feed's tasks (columns of the last file, mapping) and recent runs; ``--errors RUN`` lists bad rows."""
    from conveyor.commerce.feeds import pipelines

    app = _app(ctx)
    if errors is not None:
        bad = pipelines.row_errors(app, errors, limit=1000)
        if as_json:
            print_json([{"line": e.line, "code": e.record_code, "reason": e.reason} for e in bad])
            return
        for e in bad:
            console.print(f"line {e.line}: {e.record_code or '-'}: {e.reason}", highlight=False, markup=False)
        if not bad:
            console.print(f"run {errors} has no bad rows")
        return
    overview = pipelines.get_feed_overview(app, feed)
    recent = pipelines.list_runs(app, overview.feed.id, limit=runs)
    if as_json:
        print_json({**_overview_json(overview), "runs": [_run_json(r) for r in recent]})
        return
    f = overview.feed
    console.print(f"feed {f.id} {f.name!r} of {overview.supplier.code!r}: {f.schedule or 'manual'}, {overview.status}")
    for t in overview.tasks:
        console.print(f"  task {t.id} {t.name!r}: {t.source} ({t.format})", highlight=False, markup=False)
        console.print(f"    mapping: {json.dumps(t.mappings, ensure_ascii=False)}", highlight=False, markup=False)
        if t.last_headers:
            console.print(f"    columns: {', '.join(t.last_headers)}", highlight=False, markup=False)
    table = Table(title="Runs")
    for column in ("run", "task", "outcome", "read", "created", "updated", "unchanged", "failed", "zeroed", "at",
                   "error"):  # fmt: skip
        table.add_column(column)
    for r in recent:
        c = r.execution.counts
        table.add_row(
            str(r.execution.id), str(r.run.feed_task_id), r.outcome, str(c.read), str(c.created), str(c.updated),
            str(c.unchanged), str(c.failed), str(r.run.zeroed), fmt_time(r.execution.queued_at),
            (r.execution.error or "")[:80],
        )  # fmt: skip
    console.print(table)


@cli.command("import")
@handle_errors
def feeds_import(
    ctx: typer.Context,
    feed: Annotated[str, typer.Argument(help="The feed's name or id.")],
    task: Annotated[int | None, typer.Option("--task", help="Only this import task.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N rows (never zeroes).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Parse, map and report; write nothing.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the run until it ends.")] = False,
) -> None:
    """Import a feed now (queued: workers on queue 'import' run it)."""
    from conveyor.commerce.feeds import pipelines

    app = _app(ctx)
    ids = pipelines.request_import(app, feed, task_id=task, limit=limit, dry_run=dry_run)
    for execution_id in ids:
        console.print(f"run {execution_id} queued", highlight=False)
    if not wait:
        console.print(f"follow it: conveyor feeds show {feed} (workers: conveyor work -q import -q integrations)")
        return
    failed = False
    for execution_id in ids:
        final = _follow(app, execution_id)
        c = final.execution.counts
        console.print(
            f"run {execution_id} {final.outcome}: read {c.read}, created {c.created}, updated {c.updated}, "
            f"unchanged {c.unchanged}, failed {c.failed}, zeroed {final.run.zeroed}"
            + (f"\nerror: {final.execution.error}" if final.execution.error else ""),
            highlight=False,
            markup=False,
        )
        if c.failed:
            console.print(f"bad rows: conveyor feeds show {feed} --errors {execution_id}")
        failed = failed or final.execution.status.value != "completed"
    if failed:
        raise typer.Exit(1)


def _follow(app: Conveyor, execution_id: int, interval: float = 0.5) -> RunView:
    from conveyor.commerce.feeds import pipelines

    with console.status(f"run {execution_id}") as status:
        while True:
            view = pipelines.get_run(app, execution_id)
            state = view.execution.status.value
            if state in ("completed", "error"):
                return view
            done = view.execution.counts.read
            chunks = f", chunk {view.run.chunks_done}/{view.run.chunks}" if view.run.chunks else ""
            waiting = "waiting for a worker" if state == "queued" else f"{done} rows{chunks}"
            status.update(f"run {execution_id}: {waiting}")
            time.sleep(interval)


@cli.command("link")
@handle_errors
def feeds_link(
    ctx: typer.Context,
    supplier_item: Annotated[int | None, typer.Argument(help="A supplier item to link by hand.")] = None,
    item: Annotated[int | None, typer.Option("--item", help="The catalogue item to link it to.")] = None,
    supplier: Annotated[str | None, typer.Option("--supplier", help="Auto-link only this supplier's items.")] = None,
) -> None:
    """Auto-link supplier items to the catalogue (queued on 'integrations'), or link one by hand with --item."""
    from conveyor.commerce.feeds import pipelines

    app = _app(ctx)
    if supplier_item is not None:
        if item is None:
            raise ConfigurationError("linking by hand needs --item CATALOGUE_ITEM_ID")
        made = pipelines.link(app, supplier_item, item)
        console.print(f"supplier item {supplier_item} linked to catalogue item {made.item_id}", highlight=False)
        return
    job_id = pipelines.request_linking(app, supplier)
    console.print(f"linking queued as job {job_id} (queue integrations)", highlight=False)


@cli.command("unlink")
@handle_errors
def feeds_unlink(
    ctx: typer.Context, supplier_item: Annotated[int, typer.Argument(help="The supplier item to unlink.")]
) -> None:
    """Unlink a supplier item; auto-linking leaves it alone from then on."""
    from conveyor.commerce.feeds import pipelines

    had = pipelines.unlink(_app(ctx), supplier_item)
    console.print(f"supplier item {supplier_item} {'unlinked' if had else 'had no link; marked unlinked'}")


@cli.command("review")
@handle_errors
def feeds_review(
    ctx: typer.Context,
    supplier: Annotated[str | None, typer.Option("--supplier", help="Only this supplier's items.")] = None,
    status: Annotated[
        list[str] | None, typer.Option("--status", help="unmatched, ambiguous (default both), unlinked, linked.")
    ] = None,
    after: Annotated[int, typer.Option("--after", help="Show items after this id (next page).")] = 0,
    limit: Annotated[int, typer.Option("--limit", help="Items per page.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Supplier items that need a person: unmatched and ambiguous (with the candidates)."""
    from conveyor.commerce.feeds import pipelines

    app = _app(ctx)
    kwargs: dict[str, Any] = {"supplier": supplier, "after_id": after, "limit": limit}
    if status:
        kwargs["statuses"] = status
    found = pipelines.review(app, **kwargs)
    if as_json:
        print_json(
            [
                {
                    "id": i.id,
                    "supplier_id": i.supplier_id,
                    "code": i.supplier_code,
                    "sku": i.sku,
                    "ean": i.ean,
                    "name": i.name,
                    "status": i.link_status,
                    "note": i.link_note,
                }
                for i in found
            ]
        )
        return
    table = Table(title="Links to review")
    for column in ("id", "supplier code", "EAN", "name", "status", "note"):
        table.add_column(column)
    for i in found:
        ean = display_gtin(i.ean) if i.ean else "-"
        table.add_row(str(i.id), i.supplier_code, ean, i.name or "-", i.link_status, i.link_note or "")
    console.print(table)
    if len(found) == limit:
        console.print(f"more: --after {found[-1].id}")

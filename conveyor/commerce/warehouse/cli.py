"""``conveyor catalog``, ``conveyor warehouses``, ``conveyor stock`` and ``conveyor docs``: the catalogue,
warehouses, stock and stock documents from the command line.

Works with an application that called :func:`conveyor.commerce.warehouse.install` (``--app``) and with a bare
one (``CONVEYOR_DATABASE_URL`` only), on which the warehouse is installed with its defaults. Library errors
are one line on stderr and exit code 2; ``stock verify`` exits 1 when it finds a difference.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from conveyor import ConfigurationError, Conveyor
from conveyor.cli.extensions import JsonOption, console, fmt_time, get_app, handle_errors, print_json
from conveyor.commerce.gtin import display_gtin

if TYPE_CHECKING:
    from conveyor.commerce.store.catalog import CatalogImport
    from conveyor.commerce.store.documents import Document

catalog_cli = typer.Typer(help="The catalogue: add, import, export, search.", no_args_is_help=True)
warehouses_cli = typer.Typer(help="Warehouses: add, list.", no_args_is_help=True)
stock_cli = typer.Typer(help="Stock per item and warehouse; verify totals against the ledger.", no_args_is_help=True)
docs_cli = typer.Typer(help="Stock documents (PZ, WZ, MM, IN, ST): create, post, storno, list.", no_args_is_help=True)


def extend(cli: typer.Typer) -> None:
    """Add ``conveyor catalog``, ``warehouses``, ``stock`` and ``docs`` to the command line."""
    cli.add_typer(catalog_cli, name="catalog")
    cli.add_typer(warehouses_cli, name="warehouses")
    cli.add_typer(stock_cli, name="stock")
    cli.add_typer(docs_cli, name="docs")


def _app(ctx: typer.Context) -> Conveyor:
    """The application with the warehouse installed and the commerce tables current."""
    from conveyor.commerce import warehouse

    app = get_app(ctx)
    try:
        warehouse.pack_of(app)
    except ConfigurationError:
        warehouse.install(app)
    app.check_schema()
    return app


def _money(value: object) -> str:
    return "" if value is None else str(value)


# ---------------------------------------------------------------------------------------------- catalog
@catalog_cli.command("add")
@handle_errors
def catalog_add(
    ctx: typer.Context,
    sku: Annotated[str, typer.Argument(help="The item's SKU (unique, case-insensitive).")],
    name: Annotated[str, typer.Argument(help="The item's name.")],
    ean: Annotated[str | None, typer.Option("--ean", help="EAN/GTIN-8/12/13/14 (check digit verified).")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="Unit (default ks).")] = None,
    purchase_price: Annotated[str | None, typer.Option("--purchase-price", help="Purchase price.")] = None,
    vat_rate: Annotated[str | None, typer.Option("--vat-rate", help="VAT rate in percent.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Add an item to the catalogue."""
    from conveyor.commerce import warehouse

    made = warehouse.add_item(
        _app(ctx), sku, name, ean=ean, unit=unit, purchase_price=purchase_price, vat_rate=vat_rate
    )
    if as_json:
        print_json(made.as_dict())
    else:
        console.print(f"item {made.id} {made.sku!r} added", highlight=False)


@catalog_cli.command("import")
@handle_errors
def catalog_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV file (sku;ean;name;unit;purchase_price;vat_rate), UTF-8.")],
    as_json: JsonOption = False,
) -> None:
    """Upsert the catalogue from a CSV file: bad lines are reported and skipped, good lines import."""
    from conveyor.commerce import warehouse

    _report_import(warehouse.import_catalog(_app(ctx), path), as_json)


@catalog_cli.command("import-from-shop")
@handle_errors
def catalog_import_from_shop(
    ctx: typer.Context,
    shop: Annotated[str | None, typer.Argument(help="Shop id or name (default: the master shop).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Fill the catalogue from a shop's variants (code → SKU, EAN, name, unit, VAT rate)."""
    from conveyor.commerce import warehouse

    _report_import(warehouse.import_catalog_from_shop(_app(ctx), shop), as_json)


def _report_import(result: CatalogImport, as_json: bool) -> None:
    """A catalogue import's counts and its first 50 bad lines (all of them with ``--json``)."""
    if as_json:
        print_json(result.as_dict())
        return
    console.print(
        f"created {result.created}, updated {result.updated}, unchanged {result.unchanged}, failed {result.failed}",
        highlight=False,
    )
    for problem in result.errors[:50]:
        console.print(f"  {problem}", highlight=False)
    if len(result.errors) > 50:
        console.print(f"  … and {len(result.errors) - 50} more (use --json for all)")
    if result.ignored_columns:
        console.print(f"ignored columns: {', '.join(result.ignored_columns)}", highlight=False)


@catalog_cli.command("export")
@handle_errors
def catalog_export(
    ctx: typer.Context,
    path: Annotated[Path | None, typer.Argument(help="Write to this file (default: standard output).")] = None,
    delimiter: Annotated[str, typer.Option("--delimiter", help="Field separator.")] = ";",
    include_inactive: Annotated[bool, typer.Option("--include-inactive", help="Also deactivated items.")] = False,
) -> None:
    """Write the catalogue as CSV (the columns ``catalog import`` reads)."""
    from conveyor.commerce import warehouse

    app = _app(ctx)
    if path is None:
        warehouse.export_catalog(app, sys.stdout, delimiter=delimiter, include_inactive=include_inactive)
        return
    with path.open("w", encoding="utf-8", newline="") as out:
        count = warehouse.export_catalog(app, out, delimiter=delimiter, include_inactive=include_inactive)
    console.print(f"{count} item(s) written to {path}", highlight=False)


@catalog_cli.command("search")
@handle_errors
def catalog_search(
    ctx: typer.Context,
    text: Annotated[str | None, typer.Argument(help="SKU prefix, EAN, or part of the name.")] = None,
    include_inactive: Annotated[bool, typer.Option("--include-inactive", help="Also deactivated items.")] = False,
    after: Annotated[int, typer.Option("--after", help="Page after this item id.")] = 0,
    limit: Annotated[int, typer.Option("--limit", help="Items per page.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Search the catalogue by SKU prefix, EAN or name (pages by id: --after LAST_ID)."""
    from conveyor.commerce import warehouse

    items = warehouse.search_items(_app(ctx), text, include_inactive=include_inactive, after_id=after, limit=limit)
    if as_json:
        print_json({"items": [i.as_dict() for i in items], "next_after": items[-1].id if items else None})
        return
    if not items:
        console.print("no items")
        return
    table = Table(title="Catalogue")
    for column in ("id", "SKU", "EAN", "name", "unit", "purchase price", "VAT", "active"):
        table.add_column(column)
    for i in items:
        ean = display_gtin(i.ean) if i.ean else ""
        table.add_row(
            str(i.id), i.sku, ean, i.name, i.unit, _money(i.purchase_price), _money(i.vat_rate),
            "yes" if i.active else "no",
        )  # fmt: skip
    console.print(table)
    if len(items) == limit:
        console.print(f"next page: --after {items[-1].id}", highlight=False)


# ---------------------------------------------------------------------------------------------- warehouses
@warehouses_cli.command("add")
@handle_errors
def warehouses_add(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="Short unique code, e.g. MAIN.")],
    name: Annotated[str | None, typer.Argument(help="A name (default: the code).")] = None,
    allow_negative: Annotated[
        bool, typer.Option("--allow-negative", help="Allow postings that take available stock below zero.")
    ] = False,
) -> None:
    """Add a warehouse."""
    from conveyor.commerce import warehouse

    made = warehouse.add_warehouse(_app(ctx), code, name, allow_negative=allow_negative)
    console.print(f"warehouse {made.id} {made.code!r} added", highlight=False)


@warehouses_cli.command("list")
@handle_errors
def warehouses_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every warehouse."""
    from conveyor.commerce import warehouse

    found = warehouse.list_warehouses(_app(ctx))
    if as_json:
        print_json([w.as_dict() for w in found])
        return
    if not found:
        console.print("no warehouses (add one: conveyor warehouses add MAIN)")
        return
    table = Table(title="Warehouses")
    for column in ("id", "code", "name", "negative stock"):
        table.add_column(column)
    for w in found:
        table.add_row(str(w.id), w.code, w.name, "allowed" if w.allow_negative else "refused")
    console.print(table)


# ---------------------------------------------------------------------------------------------- stock
@stock_cli.command("show")
@handle_errors
def stock_show(
    ctx: typer.Context,
    sku: Annotated[str | None, typer.Argument(help="Only this item (SKU).")] = None,
    warehouse_ref: Annotated[str | None, typer.Option("--warehouse", help="Only this warehouse (code or id).")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows per page.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Stock per item and warehouse: on hand, reserved, available."""
    from conveyor.commerce import warehouse

    rows = warehouse.stock_levels(_app(ctx), sku, warehouse=warehouse_ref, limit=limit)
    if as_json:
        print_json([r.as_dict() for r in rows])
        return
    if not rows:
        console.print("no stock recorded (post a receipt: conveyor docs create PZ --warehouse MAIN --line SKU:QTY)")
        return
    table = Table(title="Stock")
    for column in ("SKU", "warehouse", "on hand", "reserved", "available"):
        table.add_column(column, justify="right" if column not in ("SKU", "warehouse") else "left")
    for r in rows:
        table.add_row(r.sku, r.warehouse, f"{r.on_hand:f}", f"{r.reserved:f}", f"{r.available:f}")
    console.print(table)


@stock_cli.command("verify")
@handle_errors
def stock_verify(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Recompute every total from the ledger; exit 1 when one differs (there must never be one)."""
    from conveyor.commerce import warehouse

    differences = warehouse.verify_stock(_app(ctx))
    if as_json:
        print_json({"differences": [d.as_dict() for d in differences]})
    elif not differences:
        console.print("stock totals match the ledger")
    else:
        console.print(f"[red]{len(differences)} stock total(s) differ from the ledger:[/red]")
        for d in differences:
            console.print(f"  {d}", highlight=False)
    if differences:
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------------------- docs
def _date(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint=option) from None


def _print_document(doc: Document, codes: dict[int, str]) -> None:
    target = f" → {codes.get(doc.target_warehouse_id, doc.target_warehouse_id)}" if doc.target_warehouse_id else ""
    title = f"{doc.label} ({doc.status.value}) in {codes.get(doc.warehouse_id, doc.warehouse_id)}{target}"
    console.print(title, highlight=False)
    if doc.reference:
        console.print(f"reference: {doc.reference}", highlight=False)
    if doc.cancelled_by_id:
        console.print(f"stornoed by document {doc.cancelled_by_id}", highlight=False)
    table = Table()
    for column in ("#", "SKU", "quantity", "unit price"):
        table.add_column(column)
    for line in doc.lines:
        table.add_row(str(line.line_no), line.sku, f"{line.quantity:f}", _money(line.unit_price))
    console.print(table)


def _codes(app: Conveyor) -> dict[int, str]:
    from conveyor.commerce import warehouse

    return {w.id: w.code for w in warehouse.list_warehouses(app)}


@docs_cli.command("create")
@handle_errors
def docs_create(
    ctx: typer.Context,
    doc_type: Annotated[str, typer.Argument(help="PZ (receipt), WZ (issue), MM (transfer), IN (stock count).")],
    warehouse_ref: Annotated[str, typer.Option("--warehouse", help="Warehouse code or id.")],
    lines: Annotated[list[str], typer.Option("--line", help="SKU:QUANTITY[:UNIT_PRICE]; repeat for more lines.")],
    target: Annotated[str | None, typer.Option("--target", help="MM: the warehouse goods go to.")] = None,
    reference: Annotated[str | None, typer.Option("--reference", help="Supplier invoice, order code…")] = None,
    note: Annotated[str | None, typer.Option("--note", help="A note.")] = None,
    post: Annotated[bool, typer.Option("--post", help="Post it at once (all or nothing).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a draft document (``--post`` posts it in the same transaction)."""
    from conveyor.commerce import warehouse

    app = _app(ctx)
    doc = warehouse.create_document(
        app, doc_type, warehouse_ref, [warehouse.parse_line(text) for text in lines],
        target_warehouse=target, reference=reference, note=note, post=post,
    )  # fmt: skip
    if as_json:
        print_json(doc.as_dict())
    elif post:
        console.print(f"document {doc.number} posted (id {doc.id}, {len(doc.lines)} line(s))", highlight=False)
    else:
        console.print(f"draft {doc.id} created ({len(doc.lines)} line(s)); post it: conveyor docs post {doc.id}")


@docs_cli.command("post")
@handle_errors
def docs_post(
    ctx: typer.Context,
    document: Annotated[str, typer.Argument(help="The draft's id.")],
    as_json: JsonOption = False,
) -> None:
    """Post a draft: stock, ledger and number in one transaction."""
    from conveyor.commerce import warehouse

    doc = warehouse.post_document(_app(ctx), document)
    if as_json:
        print_json(doc.as_dict())
    else:
        console.print(f"document {doc.number} posted (id {doc.id})", highlight=False)


@docs_cli.command("storno")
@handle_errors
def docs_storno(
    ctx: typer.Context,
    document: Annotated[str, typer.Argument(help="The posted document's id or number.")],
    note: Annotated[str | None, typer.Option("--note", help="Why.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel a posted document with a storno (ST): its stock changes are reversed."""
    from conveyor.commerce import warehouse

    storno = warehouse.storno_document(_app(ctx), document, note=note)
    if as_json:
        print_json(storno.as_dict())
    else:
        console.print(f"{storno.reference} stornoed by {storno.number}", highlight=False)


@docs_cli.command("show")
@handle_errors
def docs_show(
    ctx: typer.Context,
    document: Annotated[str, typer.Argument(help="Document id or number.")],
    as_json: JsonOption = False,
) -> None:
    """A document with its lines."""
    from conveyor.commerce import warehouse

    app = _app(ctx)
    doc = warehouse.get_document(app, document)
    if as_json:
        print_json(doc.as_dict())
    else:
        _print_document(doc, _codes(app))


@docs_cli.command("list")
@handle_errors
def docs_list(
    ctx: typer.Context,
    doc_type: Annotated[str | None, typer.Option("--type", help="PZ, WZ, MM, IN or ST.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="draft or posted.")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="From this date (YYYY-MM-DD, UTC).")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Up to this date, inclusive (YYYY-MM-DD).")] = None,
    after: Annotated[int, typer.Option("--after", help="Page after this document id.")] = 0,
    limit: Annotated[int, typer.Option("--limit", help="Documents per page.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Documents by id, filtered by type, status and date (pages: --after LAST_ID)."""
    from conveyor.commerce import warehouse

    app = _app(ctx)
    until = _date(date_to, "--to")
    found = warehouse.list_documents(
        app, doc_type=doc_type, status=status, date_from=_date(date_from, "--from"),
        date_to=None if until is None else until + 86400, after_id=after, limit=limit,
    )  # fmt: skip
    if as_json:
        print_json(
            {"documents": [d.as_dict(with_lines=False) for d in found], "next_after": found[-1].id if found else None}
        )
        return
    if not found:
        console.print("no documents")
        return
    codes = _codes(app)
    table = Table(title="Stock documents")
    for column in ("id", "number", "type", "status", "warehouse", "reference", "date"):
        table.add_column(column)
    for d in found:
        where = codes.get(d.warehouse_id, str(d.warehouse_id))
        if d.target_warehouse_id:
            where += f" → {codes.get(d.target_warehouse_id, d.target_warehouse_id)}"
        status = d.status.value + (" (stornoed)" if d.cancelled_by_id else "")
        table.add_row(
            str(d.id), d.number or "(draft)", d.doc_type.value, status, where, d.reference or "",
            fmt_time(d.posted_at or d.created_at),
        )  # fmt: skip
    console.print(table)
    if len(found) == limit:
        console.print(f"next page: --after {found[-1].id}", highlight=False)

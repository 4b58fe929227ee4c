"""``conveyor catalog|warehouses|stock|docs``: the commands a warehouse user runs, their one-line errors (exit 2),
and ``stock verify`` exiting 1 on a difference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from conveyor import Conveyor
from conveyor.commerce.warehouse.cli import extend


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")


def run(app: Conveyor, *args: str) -> tuple[int, str]:
    cli = typer.Typer()
    extend(cli)
    result = CliRunner().invoke(cli, list(args), obj={"app_path": None, "app": app})
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


def test_a_user_builds_a_catalogue_receives_issues_and_stornos(sqlite_app: Conveyor, tmp_path: Path) -> None:
    csv_file = tmp_path / "items.csv"
    csv_file.write_text("sku;ean;name;purchase_price\nMUG-1;5901234123457;Hrnek;89,90\nBAD;123;Bad;1\n", "utf-8")
    code, out = run(sqlite_app, "catalog", "import", str(csv_file))
    assert code == 0 and "created 1, updated 0, unchanged 0, failed 1" in out
    assert "line 3 (BAD): ean: EAN 123: 3 digits" in out
    assert run(sqlite_app, "catalog", "add", "PLATE-1", "Talíř")[0] == 0
    code, out = run(sqlite_app, "catalog", "search", "mug")
    assert code == 0 and "MUG-1" in out and "Hrnek" in out and "PLATE-1" not in out

    assert run(sqlite_app, "warehouses", "add", "MAIN", "Praha")[0] == 0
    assert run(sqlite_app, "warehouses", "add", "BRNO")[0] == 0
    code, out = run(sqlite_app, "docs", "create", "PZ", "--warehouse", "MAIN", "--line", "MUG-1:10:85", "--post")
    assert code == 0 and "posted" in out and "PZ/" in out
    code, out = run(sqlite_app, "docs", "create", "MM", "--warehouse", "MAIN", "--target", "BRNO", "--line", "mug-1:4")
    assert code == 0 and "draft 2 created" in out
    code, out = run(sqlite_app, "docs", "post", "2")
    assert code == 0 and "MM/" in out
    code, out = run(sqlite_app, "stock", "show", "MUG-1", "--json")
    assert [(r["warehouse"], r["available"]) for r in json.loads(out)] == [("MAIN", "6.000"), ("BRNO", "4.000")]

    code, out = run(sqlite_app, "docs", "list", "--type", "MM")
    assert code == 0 and "MAIN → BRNO" in out
    number = json.loads(run(sqlite_app, "docs", "show", "2", "--json")[1])["number"]
    code, out = run(sqlite_app, "docs", "storno", number)
    assert code == 0 and f"{number} stornoed by ST/" in out
    code, out = run(sqlite_app, "docs", "storno", number)
    assert code == 2 and f"document {number} is already stornoed by ST/" in out and "Traceback" not in out
    code, out = run(sqlite_app, "stock", "verify")
    assert code == 0 and "stock totals match the ledger" in out


def test_refused_inputs_are_one_line_errors(sqlite_app: Conveyor) -> None:
    run(sqlite_app, "catalog", "add", "MUG-1", "Hrnek")
    run(sqlite_app, "warehouses", "add", "MAIN")
    cases = [
        (("catalog", "add", "mug-1 ", "Again"), "SKU 'mug-1' is already used by item 1 ('MUG-1')"),
        (("catalog", "add", "X", "Y", "--ean", "5901234123458"), "bad check digit 8 (expected 7)"),
        (("docs", "create", "WZ", "--warehouse", "MAIN", "--line", "MUG-1:1", "--post"),
         "not enough stock for posting WZ draft #1: item MUG-1 in warehouse MAIN: requested 1, available 0"),
        (("docs", "create", "PZ", "--warehouse", "MAIN", "--line", "NOPE:1"), "no catalogue item with SKU 'NOPE'"),
        (("docs", "create", "PZ", "--warehouse", "MAIN", "--line", "MUG-1:-5"), "must be greater than zero"),
        (("docs", "create", "PZ", "--warehouse", "MAIN", "--line", "MUG-1"), "write it as SKU:QUANTITY"),
        (("docs", "create", "PZ", "--warehouse", "NOWHERE", "--line", "MUG-1:1"), "no warehouse with code 'NOWHERE'"),
    ]  # fmt: skip
    for args, message in cases:
        code, out = run(sqlite_app, *args)
        assert code == 2 and message in out and "Traceback" not in out, (args, out)
    assert run(sqlite_app, "docs", "list", "--json")[1].count('"id"') == 0  # nothing half-written


def test_stock_verify_exits_1_on_a_difference(sqlite_app: Conveyor) -> None:
    run(sqlite_app, "catalog", "add", "MUG-1", "Hrnek")
    run(sqlite_app, "warehouses", "add", "MAIN")
    run(sqlite_app, "docs", "create", "PZ", "--warehouse", "MAIN", "--line", "MUG-1:3", "--post")
    with sqlite_app.transaction() as conn:
        conn.execute(text("UPDATE commerce_stock_levels SET on_hand = 5"))
    code, out = run(sqlite_app, "stock", "verify")
    assert code == 1 and "item MUG-1 in MAIN: on hand 5.000 (ledger 3.000)" in out


def test_catalog_export_writes_csv(sqlite_app: Conveyor, tmp_path: Path) -> None:
    run(sqlite_app, "catalog", "add", "MUG-1", "Hrnek", "--purchase-price", "10,5")
    target = tmp_path / "out.csv"
    code, out = run(sqlite_app, "catalog", "export", str(target))
    assert code == 0 and "1 item(s) written" in out
    assert target.read_text().splitlines() == ["sku;ean;name;unit;purchase_price;vat_rate", "MUG-1;;Hrnek;ks;10.50;"]

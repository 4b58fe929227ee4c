"""Packs extend the command line without the core knowing them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import conveyor

PACKAGE = Path(conveyor.__file__).parent


def test_no_core_module_imports_the_commerce_pack() -> None:
    """The core knows no pack: the commerce pack is built on the public API only (docs/packs.md)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if (PACKAGE / "commerce") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [f"{path.relative_to(PACKAGE)}: {n}" for n in names if n.startswith("conveyor.commerce")]
    assert offenders == []


def test_the_commerce_pack_imports_only_the_public_api() -> None:
    """Packs use ``conveyor``, ``conveyor.web.extensions``, ``conveyor.cli.extensions``, the documented
    ``conveyor.scheduler`` package and ``create_app`` — nothing private."""
    public = {"conveyor", "conveyor.web", "conveyor.web.extensions", "conveyor.cli.extensions", "conveyor.scheduler"}
    offenders = []
    for path in (PACKAGE / "commerce").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            offenders += [
                f"{path.relative_to(PACKAGE)}: {n}"
                for n in names
                if n.startswith("conveyor") and not n.startswith("conveyor.commerce") and n not in public
            ]
    assert offenders == []


def test_an_app_adds_its_own_command_group(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    (tmp_path / "packapp.py").write_text(
        "import typer\n"
        "from conveyor import Conveyor\n"
        f"app = Conveyor({url!r})\n"
        "shop = typer.Typer()\n"
        "@shop.command()\n"
        "def hello(name: str) -> None:\n"
        "    print(f'hello {name} from the pack')\n"
        "app.add_cli_extension(lambda cli: cli.add_typer(shop, name='shop'))\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "conveyor.cli.main", "--app", "packapp:app", "shop", "hello", "acme"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "hello acme from the pack"


def test_an_app_that_cannot_be_imported_is_one_line_and_exit_2(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "conveyor.cli.main", "--app", "nosuchmodule:app", "queue", "stats"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "error: cannot import 'nosuchmodule' for --app: No module named 'nosuchmodule'"
    ]


def test_the_installed_commerce_pack_adds_shoptet_and_sim() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "conveyor.cli.main", "--help"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0
    assert "shoptet" in run.stdout and "sim" in run.stdout

"""Packs extend the command line without the core knowing them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


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

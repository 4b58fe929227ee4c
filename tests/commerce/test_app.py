"""``conveyor.commerce.app``: the ready application a command-line user points ``--app`` at, so the commerce
tables can be created and used without writing an application module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conveyor.commerce.store import generate_key


def conveyor(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        CONVEYOR_DATABASE_URL=f"sqlite:///{tmp_path / 'c.db'}",
        CONVEYOR_COMMERCE_SECRET_KEY=generate_key(),
        CONVEYOR_COMMERCE_DATA_DIR=str(tmp_path / "data"),
        COLUMNS="200",
    )
    return subprocess.run(
        [sys.executable, "-m", "conveyor.cli.main", *args], env=env, cwd=tmp_path, capture_output=True, text=True
    )


def test_a_bare_database_names_the_command_that_creates_the_commerce_tables(tmp_path: Path) -> None:
    conveyor(tmp_path, "db", "upgrade")  # the queue's tables only: no app installs the commerce pack
    done = conveyor(tmp_path, "feeds", "list")
    assert done.returncode == 2
    assert "run `conveyor --app conveyor.commerce.app:app db upgrade`" in done.stdout + done.stderr


def test_the_commerce_app_creates_every_table_and_serves_every_command_group(tmp_path: Path) -> None:
    app = ("--app", "conveyor.commerce.app:app")
    assert conveyor(tmp_path, *app, "db", "upgrade").returncode == 0
    assert conveyor(tmp_path, *app, "suppliers", "add", "acme", "ACME s.r.o.").returncode == 0
    assert conveyor(tmp_path, *app, "warehouses", "add", "MAIN", "Main").returncode == 0
    listed = conveyor(tmp_path, *app, "warehouses", "list")
    assert listed.returncode == 0 and "MAIN" in listed.stdout
    assert conveyor(tmp_path, *app, "shoptet", "shops", "list").returncode == 0

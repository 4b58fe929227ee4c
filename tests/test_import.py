"""Importing ``conveyor`` is cheap and inert (STYLE: no magic at import time)."""

from __future__ import annotations

import json
import subprocess
import sys


def _modules_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(json.loads(out))


def test_importing_conveyor_does_not_load_alembic_or_the_web_stack() -> None:
    loaded = _modules_after("import conveyor")
    heavy = {"alembic", "fastapi", "uvicorn", "httpx", "typer", "jinja2", "psycopg"}
    assert not heavy & {name.split(".")[0] for name in loaded}

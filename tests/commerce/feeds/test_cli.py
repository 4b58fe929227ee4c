"""``conveyor feeds add|list|show|import|link|unlink|review`` and ``conveyor suppliers add|list``, in-process."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from conveyor.commerce.feeds.cli import extend
from tests.commerce.feeds.feedrig import CSV_MAPPING, FeedRig, feed_rig


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[FeedRig]:
    with feed_rig(f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "data") as r:
        yield r


def conveyor(rig: FeedRig, *args: str) -> tuple[int, str]:
    root = typer.Typer()
    extend(root)
    result = CliRunner().invoke(root, list(args), obj={"app_path": None, "app": rig.app})
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


def test_suppliers_are_added_and_listed(rig: FeedRig) -> None:
    code, out = conveyor(rig, "suppliers", "add", "acme", "ACME s.r.o.")
    assert code == 0 and "supplier 2 'acme' added" in out
    code, out = conveyor(rig, "suppliers", "list", "--json")
    assert code == 0 and [s["code"] for s in json.loads(out)] == ["velkoobchod", "acme"]


def test_a_feed_is_added_imported_with_wait_and_shown(rig: FeedRig) -> None:
    code, out = conveyor(rig, "feeds", "add", "velkoobchod", "stock", "--source", rig.url(),
                         "--mapping", json.dumps(CSV_MAPPING), "--schedule", "manual")  # fmt: skip
    assert code == 0 and "feed 1 'stock' added with import task 1 (manual runs only)" in out, out

    worker = threading.Thread(target=_work_until_done, args=(rig,))
    worker.start()
    code, out = conveyor(rig, "feeds", "import", "stock", "--limit", "30", "--wait")
    worker.join()
    assert code == 0, out
    assert "run 1 imported: read 30, created 30" in out

    code, out = conveyor(rig, "feeds", "list")
    assert code == 0 and "stock" in out and "imported" in out
    code, out = conveyor(rig, "feeds", "show", "stock", "--json")
    shown: dict[str, Any] = json.loads(out)
    assert code == 0 and shown["runs"][0]["counts"]["created"] == 30 and shown["runs"][0]["row_limit"] == 30


def _work_until_done(rig: FeedRig) -> None:
    """A worker beside the CLI's --wait: the CLI queues the run a moment after this thread starts."""
    import time

    from conveyor.commerce.feeds import pipelines

    for _ in range(200):
        rig.work()
        done = pipelines.list_runs(rig.app, limit=1)
        if done and done[0].execution.status.value in ("completed", "error"):
            return
        time.sleep(0.05)


def test_a_bad_mapping_is_a_one_line_error(rig: FeedRig) -> None:
    code, out = conveyor(rig, "feeds", "add", "velkoobchod", "stock", "--source", rig.url(), "--mapping", "{nope")
    assert code == 2 and "--mapping is not valid JSON" in out and "Traceback" not in out
    code, out = conveyor(rig, "feeds", "import", "nothing")
    assert code == 2 and "feed 'nothing' not found" in out


def test_review_lists_unmatched_items_after_linking(rig: FeedRig) -> None:
    conveyor(rig, "feeds", "add", "velkoobchod", "stock", "--source", rig.url(), "--mapping", json.dumps(CSV_MAPPING),
             "--schedule", "manual")  # fmt: skip
    rig.run(limit=5)  # an import queues linking; the catalogue is empty, so all are unmatched

    code, out = conveyor(rig, "feeds", "review", "--json")
    assert code == 0 and len(json.loads(out)) == 5 and {i["status"] for i in json.loads(out)} == {"unmatched"}
    first = json.loads(out)[0]["id"]
    code, out = conveyor(rig, "feeds", "unlink", str(first))
    assert code == 0 and "marked unlinked" in out
    code, out = conveyor(rig, "feeds", "link")
    assert code == 0 and "linking queued" in out

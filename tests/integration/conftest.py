from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conveyor import Conveyor
from conveyor.engine.states import JobState

ROOT = Path(__file__).resolve().parents[2]


class Workers:
    """Starts real ``conveyor work`` processes and cleans them up."""

    def __init__(self, url: str, out: Path) -> None:
        self.url, self.out = url, out
        self.procs: list[subprocess.Popen[str]] = []

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            CONVEYOR_DATABASE_URL=self.url,
            CONVEYOR_TEST_OUT=str(self.out),
            CONVEYOR_APP="tests.integration.jobs_app:app",
            PYTHONPATH=str(ROOT),
        )
        env.update(extra)
        return env

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        p = subprocess.Popen(
            [sys.executable, "-m", "conveyor.cli.main", "work", *args],
            cwd=ROOT,
            env=self.env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, so a test can kill -9 the whole worker
        )
        self.procs.append(p)
        return p

    def executions(self) -> Counter[int]:
        c: Counter[int] = Counter()
        for f in self.out.glob("*.log"):
            for line in f.read_text().splitlines():
                job_id, _, tag = line.partition(" ")
                if tag in ("", "start", "survived", "stuck"):
                    c[int(job_id)] += 1
        return c

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)


@pytest.fixture
def workers(app: Conveyor, tmp_path: Path) -> Iterator[Workers]:
    w = Workers(app.settings.database_url, tmp_path)
    yield w
    w.stop_all()


def wait_for(cond: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def state_of(app: Conveyor, job_id: int) -> JobState:
    return app.get_job(job_id).state

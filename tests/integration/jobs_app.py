"""The application the multi-process tests run with ``conveyor --app tests.integration.jobs_app:app``.

Every execution appends the job id to a per-process file in ``$CONVEYOR_TEST_OUT``, so a test can count
how many times each job really ran.
"""

from __future__ import annotations

import os
import time

from conveyor import Conveyor, RetryPolicy, current_job

app = Conveyor()
NO_WAIT = RetryPolicy(delay=0, jitter=0)


def _record(tag: str = "") -> None:
    out = os.environ["CONVEYOR_TEST_OUT"]
    with open(os.path.join(out, f"{os.getpid()}.log"), "a") as f:
        f.write(f"{current_job().id} {tag}\n")


@app.task
def record() -> None:
    _record()


@app.task(max_attempts=3, retry=NO_WAIT)
def sleepy(seconds: float) -> None:
    _record("start")
    time.sleep(seconds)
    _record("end")


@app.task(max_attempts=1, timeout=1)
def stuck() -> None:
    _record("stuck")
    time.sleep(1000)  # a thread cannot be interrupted: only killing the process stops it


@app.task(max_attempts=2, retry=NO_WAIT)
def crash_once() -> None:
    if current_job().attempt == 1:
        os._exit(3)  # the process dies mid-job, as with a segfault or the OOM killer
    _record("survived")


@app.task(max_attempts=5, retry=NO_WAIT)
def crash_always() -> None:
    _record("start")
    os._exit(3)  # every attempt takes its process down: quarantined after crash_quarantine_after deaths

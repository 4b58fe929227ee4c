"""The web app served for real: server-sent events over HTTP, ``conveyor up`` and ``conveyor web``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from conveyor import Conveyor
from conveyor.web import create_app
from conveyor.web.monitor import Monitor
from tests.conftest import free_port
from tests.integration.conftest import ROOT, wait_for


@pytest.fixture
def served(app: Conveyor) -> Iterator[str]:
    """``app``'s web app on uvicorn on a free loopback port, its monitor ticking every 0.2 s."""
    port = free_port()
    web = create_app(app, monitor=Monitor(app, interval=0.2, lag=0.0))
    server = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, what="uvicorn to start")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def read_events(url: str, wanted: int, stop: threading.Event, out: list[tuple[str, dict[str, object]]]) -> None:
    with httpx.Client(timeout=30) as client, client.stream("GET", f"{url}/api/events") as r:
        name = None
        for line in r.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and name:
                out.append((name, json.loads(line.split(":", 1)[1])))
                if stop.is_set():
                    return


def test_events_stream_job_state_changes_and_stats(app: Conveyor, served: str) -> None:
    @app.task(name="ping")
    def ping() -> None:
        pass

    events: list[tuple[str, dict[str, object]]] = []
    stop = threading.Event()
    job_id = app.enqueue("ping")
    threading.Thread(target=read_events, args=(served, job_id, stop, events), daemon=True).start()
    wait_for(lambda: any(n == "stats" for n, _ in events), what="the stream to open and the monitor to tick")
    app.work(["default"], processes=0, stop_when_empty=True, sleep=0.05)
    wait_for(
        lambda: any(n == "job" and d.get("id") == job_id and d.get("state") == "completed" for n, d in events),
        what="the job's completed event",
    )
    stop.set()
    assert events[0][0] == "hello"


def test_metrics_and_health_over_http(app: Conveyor, served: str) -> None:
    assert httpx.get(f"{served}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{served}/readyz").json()["status"] == "ready"
    assert "conveyor_workers" in httpx.get(f"{served}/metrics").text


def _cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "conveyor.cli.main", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.mark.slow
def test_conveyor_up_runs_web_scheduler_and_worker_and_ctrl_c_stops_all(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'up.db'}"
    env = dict(
        os.environ,
        CONVEYOR_DATABASE_URL=url,
        CONVEYOR_TEST_OUT=str(tmp_path),
        PYTHONPATH=str(ROOT),
    )
    port = free_port()
    proc = _cli("--app", "tests.integration.jobs_app:app", "up", "--port", str(port), "--processes", "0", env=env)
    try:
        wait_for(lambda: _ok(f"http://127.0.0.1:{port}/readyz"), timeout=30, what="conveyor up to serve")
        client = Conveyor(url)
        job_id = client.enqueue("record")
        wait_for(lambda: client.get_job(job_id).state == "completed", what="the worker of `up` to run the job")
        wait_for(
            lambda: any(
                q["name"] == "default" and q["counts"]["completed"] == 1
                for q in httpx.get(f"http://127.0.0.1:{port}/api/queues").json()
            ),
            what="the dashboard API to show the completed job",
        )
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground process group
        _, err = proc.communicate(timeout=40)
        assert proc.returncode in (0, 130), err  # 130: the shell convention for Ctrl-C
        assert "stopped: web, scheduler and worker" in err
        with client.driver.read() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM conveyor_workers").scalar() == 0
        client.close()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_conveyor_web_refuses_a_public_address_without_credentials(tmp_path: Path) -> None:
    env = dict(os.environ, CONVEYOR_DATABASE_URL=f"sqlite:///{tmp_path / 'w.db'}", PYTHONPATH=str(ROOT))
    env.pop("CONVEYOR_WEB_TOKEN", None)
    proc = _cli("web", "--host", "0.0.0.0", "--port", str(free_port()), env=env)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "refusing to listen on 0.0.0.0 without authentication: set CONVEYOR_WEB_TOKEN" in " ".join(err.split())
    assert "Traceback" not in err

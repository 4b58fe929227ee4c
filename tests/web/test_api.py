"""The JSON API, over httpx against the ASGI app, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conveyor import Conveyor, current_job
from conveyor.web import create_app
from conveyor.web.monitor import Monitor
from conveyor.web.security import Auth, check_bind


def build(app: Conveyor) -> TestClient:
    """A client whose every read sees the database as it is now (monitor interval 0, no thread)."""
    return TestClient(create_app(app, monitor=Monitor(app, interval=0.0, lag=0.0), start_monitor=False))


@pytest.fixture
def web_app(app: Conveyor) -> Conveyor:
    @app.task(name="ok")
    def ok(n: int = 0) -> int:
        return n

    @app.task(name="boom", max_attempts=1)
    def boom(kind: str = "value", password: str = "") -> None:
        if kind == "key":
            raise KeyError("missing")
        raise ValueError(f"bad row {kind}")

    @app.task(name="slow", queue="imports")
    def slow(total: int = 10) -> None:
        current_job().progress(3, total, "rows")

    return app


@pytest.fixture
def client(web_app: Conveyor) -> Iterator[TestClient]:
    yield build(web_app)


def run_all(app: Conveyor, queues: tuple[str, ...] = ("default",)) -> None:
    assert app.work(list(queues), processes=0, stop_when_empty=True, sleep=0.05) == 0


def failed_job(app: Conveyor, kind: str = "value", **kwargs: Any) -> int:
    job_id = app.enqueue("boom", kwargs={"kind": kind, **kwargs})
    run_all(app)
    assert app.get_job(job_id).state == "discarded"
    return job_id


def browser_headers(client: TestClient) -> dict[str, str]:
    """What the dashboard's script sends: the page's CSRF token (also set as a cookie by the first GET)."""
    client.get("/", headers={"Accept": "text/html"})
    token = client.cookies.get("conveyor_csrf")
    assert token
    return {"X-CSRF-Token": token, "Origin": "http://127.0.0.1:8000"}


# ---------------------------------------------------------------------- queues
def test_queues_show_counts_by_state_paused_and_throughput(web_app: Conveyor, client: TestClient) -> None:
    web_app.enqueue("ok", [1])
    web_app.enqueue("ok", [2])
    run_all(web_app)
    web_app.enqueue("ok", [3])
    web_app.queue("imports", global_limit=2)
    queues = {q["name"]: q for q in client.get("/api/queues").json()}
    default = queues["default"]
    assert default["counts"]["completed"] == 2
    assert default["counts"]["available"] == 1
    assert default["waiting"] == 1
    assert default["processed_1m"] == 2 and default["processed_1h"] == 2
    assert default["oldest_waiting_age"] is not None and default["oldest_waiting_age"] >= 0
    assert queues["imports"]["global_limit"] == 2
    assert not default["paused"]


def test_pausing_a_queue_from_the_api_stops_workers_taking_its_jobs(web_app: Conveyor, client: TestClient) -> None:
    job = web_app.enqueue("ok", [1])
    assert client.post("/api/queues/default/pause").json() == {"name": "default", "paused": True}
    assert {q["name"]: q for q in client.get("/api/queues").json()}["default"]["paused"]
    web_app.work(["default"], processes=1, max_time=1, sleep=0.05)
    assert web_app.get_job(job).state == "available"
    client.post("/api/queues/default/resume")
    run_all(web_app)
    assert web_app.get_job(job).state == "completed"


# ---------------------------------------------------------------------- jobs
def test_jobs_are_listed_newest_first_with_cursor_pagination(web_app: Conveyor, client: TestClient) -> None:
    ids = [web_app.enqueue("ok", [i]) for i in range(7)]
    seen: list[int] = []
    cursor = None
    while True:
        page = client.get("/api/jobs", params={"limit": 3, **({"cursor": cursor} if cursor else {})}).json()
        seen += [j["id"] for j in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)


def test_jobs_filter_by_state_queue_task_and_search_arguments(web_app: Conveyor, client: TestClient) -> None:
    web_app.enqueue("ok", kwargs={"n": 1})
    web_app.enqueue("slow", kwargs={"total": 4})
    failed = failed_job(web_app, kind="order-2024000123")
    by_state = client.get("/api/jobs", params={"state": "discarded"}).json()["jobs"]
    assert [j["id"] for j in by_state] == [failed]
    assert by_state[0]["last_error"] == "ValueError: bad row order-2024000123"
    assert [j["task"] for j in client.get("/api/jobs", params={"queue": "imports"}).json()["jobs"]] == ["slow"]
    assert [j["task"] for j in client.get("/api/jobs", params={"task": "slow"}).json()["jobs"]] == ["slow"]
    found = client.get("/api/jobs", params={"q": "2024000123"}).json()["jobs"]
    assert [j["id"] for j in found] == [failed]
    assert [j["id"] for j in client.get("/api/jobs", params={"q": str(failed)}).json()["jobs"]] == [failed]


def test_an_invalid_cursor_is_a_400_with_a_message(client: TestClient) -> None:
    for bad in ("nonsense", base64.urlsafe_b64encode(b'{"id": "x"}').decode(), "e30"):
        r = client.get("/api/jobs", params={"cursor": bad})
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "invalid_cursor"
        assert "next_cursor" in r.json()["error"]["message"]


def test_an_unknown_state_filter_is_rejected(client: TestClient) -> None:
    r = client.get("/api/jobs", params={"state": "exploded"})
    assert r.status_code == 409 or r.status_code == 400
    assert "unknown state 'exploded'" in r.json()["error"]["message"]


def test_job_detail_has_errors_with_tracebacks_timings_and_redacted_secrets(
    web_app: Conveyor, client: TestClient
) -> None:
    job_id = failed_job(web_app, password="hunter2")
    job = client.get(f"/api/jobs/{job_id}").json()
    assert job["kwargs"] == {"kind": "value", "password": "[redacted]"}
    assert "hunter2" not in str(job)
    assert job["errors"][0]["error"] == "ValueError: bad row value"
    assert job["errors"][0]["error_class"] == "ValueError"
    assert "Traceback" in job["errors"][0]["traceback"]
    assert job["timings"]["ran"] is not None and job["timings"]["waited"] is not None
    assert job["state"] == "discarded" and job["attempt"] == 1
    assert "hunter2" not in str(client.get("/api/jobs", params={"state": "discarded"}).json())


def test_job_detail_shows_progress_with_percent(web_app: Conveyor, client: TestClient) -> None:
    job_id = web_app.enqueue("slow", kwargs={"total": 12})
    run_all(web_app, ("imports",))
    progress = client.get(f"/api/jobs/{job_id}").json()["progress"]
    assert progress["done"] == 3 and progress["total"] == 12 and progress["message"] == "rows"
    assert progress["percent"] == pytest.approx(25.0)


def test_unknown_job_is_a_404_json_with_a_message(client: TestClient) -> None:
    for path in ("/api/jobs/999999", "/api/jobs/999999/retry", "/api/jobs/999999/cancel"):
        r = client.get(path) if path.endswith("999999") else client.post(path)
        assert r.status_code == 404
        assert r.json() == {
            "error": {
                "code": "job_not_found",
                "message": "job 999999 not found (it may never have existed or was pruned)",
            }
        }


def test_retrying_a_failed_job_puts_it_back_in_its_queue(web_app: Conveyor, client: TestClient) -> None:
    job_id = failed_job(web_app)
    r = client.post(f"/api/jobs/{job_id}/retry")
    assert r.status_code == 200
    assert r.json()["state"] == "available"
    assert web_app.get_job(job_id).state == "available"


def test_retrying_a_job_that_is_not_failed_is_a_409_and_changes_nothing(web_app: Conveyor, client: TestClient) -> None:
    job_id = web_app.enqueue("ok", [1])
    r = client.post(f"/api/jobs/{job_id}/retry")
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "invalid_state"
    assert "not failed" in r.json()["error"]["message"]
    assert web_app.get_job(job_id).state == "available"


def test_cancel_a_waiting_job_and_refuse_a_finished_one(web_app: Conveyor, client: TestClient) -> None:
    waiting = web_app.enqueue("ok", [1], delay=3600)
    r = client.post(f"/api/jobs/{waiting}/cancel")
    assert r.json()["outcome"] == "cancelled"
    assert web_app.get_job(waiting).state == "cancelled"
    done = web_app.enqueue("ok", [2])
    run_all(web_app)
    r = client.post(f"/api/jobs/{done}/cancel")
    assert r.status_code == 409 and "already finished (completed)" in r.json()["error"]["message"]


def test_delete_removes_a_failed_job_but_not_a_waiting_one(web_app: Conveyor, client: TestClient) -> None:
    failed = failed_job(web_app)
    assert client.delete(f"/api/jobs/{failed}").json() == {"id": failed, "deleted": True}
    assert client.get(f"/api/jobs/{failed}").status_code == 404
    waiting = web_app.enqueue("ok", [1])
    r = client.delete(f"/api/jobs/{waiting}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_state"
    assert web_app.get_job(waiting).state == "available"


def test_the_old_discard_route_still_deletes(web_app: Conveyor, client: TestClient) -> None:
    failed = failed_job(web_app)
    assert client.post(f"/api/jobs/{failed}/discard").json() == {"id": failed, "deleted": True}
    assert client.get(f"/api/jobs/{failed}").status_code == 404


def test_bulk_retry_takes_a_filter_and_failed_groups_group_by_task_and_error(
    web_app: Conveyor, client: TestClient
) -> None:
    values = [failed_job(web_app) for _ in range(2)]
    key = failed_job(web_app, kind="key")
    groups = {(g["task"], g["error_class"]): g for g in client.get("/api/jobs/failed/groups").json()}
    assert groups[("boom", "ValueError")]["count"] == 2
    assert groups[("boom", "KeyError")]["count"] == 1
    r = client.post("/api/jobs/retry", json={"task": "boom", "error_class": "ValueError"})
    assert r.json() == {"retried": 2}
    assert [web_app.get_job(i).state for i in values] == ["available", "available"]
    assert web_app.get_job(key).state == "discarded"


# ---------------------------------------------------------------------- schedules
@pytest.fixture
def scheduled(web_app: Conveyor) -> Conveyor:
    web_app.schedule("orders.fetch", task="ok", cron="*/5 * * * *", params={"n": 1}, description="Fetch new orders")
    return web_app


def test_schedules_list_cron_in_words_and_next_runs(scheduled: Conveyor, client: TestClient) -> None:
    (s,) = [s for s in client.get("/api/schedules").json() if s["key"] == "orders.fetch"]
    assert s["cron_text"] == "Every 5 minutes"
    assert len(s["next_runs"]) == 5
    assert all(b - a == 300 for a, b in zip(s["next_runs"], s["next_runs"][1:], strict=False))


def test_patching_a_schedule_changes_its_next_runs(scheduled: Conveyor, client: TestClient) -> None:
    r = client.patch("/api/schedules/orders.fetch", json={"cron": "0 3 * * *", "timezone": "Europe/Prague"})
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["cron"] == "0 3 * * *" and s["timezone"] == "Europe/Prague"
    assert s["overridden"] == ["cron", "timezone"]
    assert all(b - a in (82800, 86400, 90000) for a, b in zip(s["next_runs"], s["next_runs"][1:], strict=False))


def test_an_invalid_cron_in_patch_is_a_422_naming_the_field_and_changes_nothing(
    scheduled: Conveyor, client: TestClient
) -> None:
    before = client.get("/api/schedules/orders.fetch").json()
    r = client.patch("/api/schedules/orders.fetch", json={"cron": "61 * * * *", "enabled": False})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "cron"
    assert "61 * * * *" in r.json()["error"]["message"]
    assert client.get("/api/schedules/orders.fetch").json() == before
    r = client.patch("/api/schedules/orders.fetch", json={"timezone": "Mars/Olympus"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "timezone"
    r = client.patch("/api/schedules/orders.fetch", json={"enabled": "sometimes"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "enabled"
    assert client.get("/api/schedules/orders.fetch").json() == before


def test_trigger_runs_a_schedule_now_and_it_shows_in_its_runs(scheduled: Conveyor, client: TestClient) -> None:
    run = client.post("/api/schedules/orders.fetch/trigger").json()
    assert run["kind"] == "trigger" and run["job_id"]
    runs = client.get("/api/schedules/orders.fetch/runs").json()
    assert [r["id"] for r in runs] == [run["id"]]
    assert client.get(f"/api/jobs/{run['job_id']}").json()["schedule"] == {"key": "orders.fetch", "run_id": run["id"]}


def test_unknown_schedule_is_a_404(client: TestClient) -> None:
    r = client.patch("/api/schedules/nope", json={"enabled": False})
    assert r.status_code == 404 and r.json()["error"]["code"] == "schedule_not_found"


# ---------------------------------------------------------------------- batches, locks
def test_batches_list_detail_and_retry_failed(web_app: Conveyor, client: TestClient) -> None:
    web_app.batch([{"task": "ok", "args": [1]}, {"task": "boom", "kwargs": {"kind": "value"}}], name="import")
    run_all(web_app)
    (b,) = client.get("/api/batches").json()["batches"]
    assert (b["name"], b["state"], b["completed"], b["failed"]) == ("import", "failed", 1, 1)
    detail = client.get(f"/api/batches/{b['id']}").json()
    assert [j["task"] for j in detail["failed_jobs"]] == ["boom"]
    assert client.post(f"/api/batches/{b['id']}/retry-failed").json()["retried"] == 1
    assert client.get(f"/api/batches/{b['id']}").json()["state"] == "running"
    assert client.get("/api/batches/424242").status_code == 404


def test_locks_show_holder_and_age(web_app: Conveyor, client: TestClient) -> None:
    with web_app.lock("snapshot:shop-1:orders", ttl=60):
        (lk,) = client.get("/api/locks").json()
        assert lk["key"] == "snapshot:shop-1:orders" and not lk["expired"]
    assert client.get("/api/locks").json() == []


def test_an_operator_can_force_release_a_lock(web_app: Conveyor, client: TestClient) -> None:
    lock = web_app.lock("feed:heureka", ttl=600).acquire()
    assert client.post("/api/locks/feed:heureka/release").json() == {"key": "feed:heureka", "released": True}
    assert client.get("/api/locks").json() == []
    assert not lock.release()  # the holder finds out it lost it
    r = client.post("/api/locks/feed:heureka/release")
    assert r.status_code == 404 and r.json()["error"]["code"] == "lock_not_found"


# ---------------------------------------------------------------------- metrics, health
def test_metrics_expose_jobs_by_state_counters_and_duration_histograms(web_app: Conveyor) -> None:
    monitor = Monitor(web_app, interval=0.0, lag=0.0)
    c = TestClient(create_app(web_app, monitor=monitor, start_monitor=False))
    monitor.tick()  # start the feed before the jobs finish
    web_app.enqueue("ok", [1])
    failed_job(web_app)
    text = c.get("/metrics").text
    assert 'conveyor_jobs{queue="default",state="completed"} 1.0' in text
    assert 'conveyor_jobs_processed_total{queue="default",task="ok"} 1.0' in text
    assert 'conveyor_jobs_failed_total{queue="default",task="boom"} 1.0' in text
    assert 'conveyor_job_duration_seconds_count{queue="default",task="ok"} 1.0' in text
    assert 'conveyor_job_duration_seconds_bucket{le="+Inf",queue="default",task="ok"} 1.0' in text
    assert "conveyor_queue_latency_seconds" in text


def test_healthz_and_readyz(web_app: Conveyor, client: TestClient, tmp_path: Any) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    fresh = Conveyor(f"sqlite:///{tmp_path / 'empty.db'}")
    r = build(fresh).get("/readyz")
    assert r.status_code == 503 and "conveyor db upgrade" in r.json()["error"]["message"]
    fresh.close()


# ---------------------------------------------------------------------- bad bodies, CSRF, auth
def test_oversized_or_non_json_bodies_are_rejected(web_app: Conveyor, scheduled: Conveyor) -> None:
    small = Conveyor(web_app.settings.database_url, web_max_body_bytes=1000)
    c = build(small)
    r = c.patch("/api/schedules/orders.fetch", json={"params": {"n": 1, "pad": "x" * 5000}})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    r = c.patch("/api/schedules/orders.fetch", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["message"] == "the request body is not valid JSON"
    small.close()


def test_browser_requests_without_a_csrf_token_are_refused(web_app: Conveyor, client: TestClient) -> None:
    job_id = failed_job(web_app)
    r = client.post(f"/api/jobs/{job_id}/retry", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    assert web_app.get_job(job_id).state == "discarded"
    r = client.post(f"/api/jobs/{job_id}/retry", headers=browser_headers(client))
    assert r.status_code == 200 and web_app.get_job(job_id).state == "available"


def test_with_a_token_configured_requests_need_it(web_app: Conveyor) -> None:
    secured = Conveyor(web_app.settings.database_url, web_token="s3cret")
    c = build(secured)
    r = c.get("/api/queues")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert c.get("/api/queues", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert c.get("/api/queues", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/healthz").status_code == 200
    page = c.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    secured.close()


def test_login_with_the_token_opens_a_browser_session(web_app: Conveyor) -> None:
    secured = Conveyor(web_app.settings.database_url, web_token="s3cret")
    c = build(secured)
    c.get("/login")
    csrf = c.cookies.get("conveyor_csrf")
    bad = c.post("/login", data={"token": "nope", "csrf_token": csrf}, follow_redirects=False)
    assert "error=invalid" in bad.headers["location"]
    ok = c.post("/login", data={"token": "s3cret", "csrf_token": csrf, "next": "/jobs"}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/jobs"
    assert c.get("/api/queues").status_code == 200
    secured.close()


def test_basic_auth_credentials_work_too(web_app: Conveyor) -> None:
    secured = Conveyor(web_app.settings.database_url, web_user="ops", web_password="pw")
    c = build(secured)
    assert c.get("/api/queues", auth=("ops", "pw")).status_code == 200
    assert c.get("/api/queues", auth=("ops", "nope")).status_code == 401
    secured.close()


def test_binding_beyond_loopback_needs_credentials() -> None:
    check_bind("127.0.0.1", Auth())
    check_bind("::1", Auth())
    check_bind("localhost", Auth())
    with pytest.raises(Exception, match=r"refusing to listen on 0\.0\.0\.0 without authentication"):
        check_bind("0.0.0.0", Auth())
    check_bind("0.0.0.0", Auth(token="t"))

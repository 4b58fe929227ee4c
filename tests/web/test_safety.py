"""What the web refuses, and how: out-of-range ids, NUL bytes, unknown queues and hosts, framing, password
guessing; and what it must never give away (redacted secrets through search or a schedule edit). On SQLite
and PostgreSQL, over the ASGI app."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conveyor import Conveyor
from conveyor.engine.redact import REDACTED
from conveyor.web import create_app
from conveyor.web.monitor import Monitor, progress_view
from conveyor.web.security import LoginThrottle, host_allowed

HUGE = 2**63  # one past the largest 64-bit id
HTML = {"Accept": "text/html"}


def build(app: Conveyor) -> TestClient:
    """A client of the app (its requests arrive on "testserver", which is therefore an allowed host)."""
    return TestClient(create_app(app, monitor=Monitor(app, interval=0.0, lag=0.0), start_monitor=False))


@pytest.fixture
def web_app(app: Conveyor) -> Conveyor:
    @app.task(name="ok")
    def ok(n: int = 0) -> int:
        return n

    @app.task(name="sync_shop", max_attempts=1)
    def sync_shop(shop: str = "", password: str = "", chunk: int = 100, **credentials: Any) -> None:
        raise ValueError("remote refused")

    return app


@pytest.fixture
def client(web_app: Conveyor) -> Iterator[TestClient]:
    yield build(web_app)


def job_count(app: Conveyor) -> int:
    return sum(sum(s.counts.values()) for s in app.queue_stats())


# ---------------------------------------------------------------------- ids beyond 64 bits
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/jobs/{id}"),
        ("POST", "/api/jobs/{id}/retry"),
        ("POST", "/api/jobs/{id}/cancel"),
        ("DELETE", "/api/jobs/{id}"),
        ("POST", "/api/jobs/{id}/discard"),
        ("GET", "/api/batches/{id}"),
        ("POST", "/api/batches/{id}/retry-failed"),
    ],
)
def test_an_id_beyond_64_bits_is_a_422_naming_the_field(client: TestClient, method: str, path: str) -> None:
    r = client.request(method, path.format(id=HUGE))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["field"] in ("job_id", "batch_id")
    assert "less than or equal to 9223372036854775807" in error["message"]


def test_a_search_for_a_20_digit_number_finds_nothing_instead_of_failing(web_app: Conveyor, client: TestClient) -> None:
    web_app.enqueue("ok", kwargs={"n": 1})
    for q in ("9" * 20, str(HUGE), "²"):
        r = client.get("/api/jobs", params={"q": q})
        assert r.status_code == 200, (q, r.text)
        assert r.json() == {"jobs": [], "next_cursor": None}


def test_a_cursor_holding_an_id_beyond_64_bits_is_an_invalid_cursor(client: TestClient) -> None:
    cursor = base64.urlsafe_b64encode(json.dumps({"id": HUGE}).encode()).decode().rstrip("=")
    for path in ("/api/jobs", "/api/batches"):
        r = client.get(path, params={"cursor": cursor})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor", r.text


def test_dashboard_pages_of_ids_beyond_64_bits_are_404_pages(client: TestClient) -> None:
    job = client.get(f"/jobs/{HUGE}", headers=HTML)
    assert job.status_code == 404 and f"Job #{HUGE} not found" in job.text
    batch = client.get(f"/batches/{HUGE}", headers=HTML)
    assert batch.status_code == 404 and f"batch {HUGE} not found" in batch.text


# ---------------------------------------------------------------------- NUL bytes
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/queues/default%00x/pause"),
        ("GET", "/api/jobs?q=a%00b"),
        ("GET", "/api/jobs?queue=default%00"),
        ("GET", "/api/schedules/orders%00fetch"),
        ("POST", "/api/locks/shop%00:1/release"),
        ("GET", "/jobs?task=ok%00"),
    ],
)
def test_a_nul_byte_in_the_address_is_a_400_and_writes_nothing(
    web_app: Conveyor, client: TestClient, method: str, path: str
) -> None:
    before = [s.queue for s in web_app.queue_stats()]
    r = client.request(method, path)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == {
        "code": "nul_byte",
        "message": "the address contains a NUL byte (%00): no queue, job, schedule or text holds one",
    }
    assert [s.queue for s in web_app.queue_stats()] == before


def test_a_nul_byte_in_a_schedule_patch_is_a_422_and_changes_nothing(web_app: Conveyor, client: TestClient) -> None:
    web_app.schedule("shop.sync", task="sync_shop", cron="*/5 * * * *", params={"shop": "acme"})
    before = client.get("/api/schedules/shop.sync").json()
    r = client.patch("/api/schedules/shop.sync", json={"cron": "0 * * * *", "params": {"shop": "ac\u0000me"}})
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "params.shop contains a NUL byte (\\u0000), which text cannot hold"
    assert client.get("/api/schedules/shop.sync").json() == before


def test_a_nul_byte_in_a_bulk_retry_filter_is_a_422(web_app: Conveyor, client: TestClient) -> None:
    r = client.post("/api/jobs/retry", json={"task": "sync\u0000shop"})
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "task contains a NUL byte (\\u0000), which text cannot hold"


# ---------------------------------------------------------------------- queues through the admin verbs
def test_pausing_an_unknown_queue_is_a_404_and_creates_no_ghost_queue(web_app: Conveyor, client: TestClient) -> None:
    r = client.post("/api/queues/nosuchqueue/pause")
    assert r.status_code == 404, r.text
    error = r.json()["error"]
    assert error["code"] == "queue_not_found" and error["message"].startswith("unknown queue 'nosuchqueue' (known:")
    assert "nosuchqueue" not in [q["name"] for q in client.get("/api/queues").json()]
    assert client.post("/api/queues/nosuchqueue/resume").status_code == 404


def test_queue_figures_are_those_of_queue_stats(web_app: Conveyor, client: TestClient) -> None:
    web_app.enqueue("ok", [1])
    assert web_app.work(["default"], processes=0, stop_when_empty=True, sleep=0.05) == 0
    web_app.enqueue("ok", [2])
    (stats,) = [s for s in web_app.queue_stats() if s.queue == "default"]
    (shown,) = [q for q in client.get("/api/queues").json() if q["name"] == "default"]
    assert (
        (shown["processed_1m"], shown["processed_1h"], shown["waiting"])
        == (
            stats.processed_last_minute,
            stats.processed_last_hour,
            stats.waiting,
        )
        == (1, 1, 1)
    )


# ---------------------------------------------------------------------- secrets
def test_search_never_matches_a_redacted_value(web_app: Conveyor, client: TestClient) -> None:
    secret = web_app.enqueue("sync_shop", kwargs={"shop": "acme", "password": "hunter2", "apiKey": "k-9f3"})
    plain = web_app.enqueue("sync_shop", kwargs={"shop": "hunter2-outdoor"})

    def found(q: str) -> list[int]:
        return [j["id"] for j in client.get("/api/jobs", params={"q": q}).json()["jobs"]]

    # Guessing the password one character at a time learns nothing: only the job whose *visible* text
    # matches is found.
    for prefix in ("hu", "hun", "hunter", "hunter2", "k-9", 'hunter2"', '"hunter2"'):
        assert secret not in found(prefix), prefix
    assert found("hunter2") == [plain]
    assert found("acme") == [secret]
    assert found("password") == [secret]  # the key itself is shown
    assert found(str(secret)) == [secret]


def test_search_pages_through_jobs_that_match_only_in_secrets(web_app: Conveyor, client: TestClient) -> None:
    wanted = [web_app.enqueue("sync_shop", kwargs={"shop": "tok-shop"}) for _ in range(3)]
    for _ in range(250):  # more than one database page of candidates that must all be skipped
        web_app.enqueue("sync_shop", kwargs={"shop": "x", "api_key": "tok-secret"})
    seen: list[int] = []
    cursor = None
    while True:
        page = client.get("/api/jobs", params={"q": "tok-", "limit": 2, "cursor": cursor}).json()
        seen += [j["id"] for j in page["jobs"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(wanted, reverse=True)


def test_a_schedule_edit_that_sends_back_the_redacted_placeholder_keeps_the_secret(
    web_app: Conveyor, client: TestClient
) -> None:
    web_app.schedule("shop.sync", task="sync_shop", cron="*/5 * * * *", params={"shop": "acme", "password": "s3cret"})
    shown = client.get("/api/schedules/shop.sync").json()["params"]
    assert shown == {"shop": "acme", "password": REDACTED}
    r = client.patch("/api/schedules/shop.sync", json={"params": {**shown, "chunk": 250}})
    assert r.status_code == 200, r.text
    view = web_app.schedules.view("shop.sync")
    assert view.params == {"shop": "acme", "password": "s3cret", "chunk": 250}
    r = client.patch("/api/schedules/shop.sync", json={"params": {"password": "n3w"}})
    assert r.status_code == 200 and web_app.schedules.view("shop.sync").params["password"] == "n3w"


def test_the_schedule_editor_holds_its_params_in_an_escaped_attribute(web_app: Conveyor, client: TestClient) -> None:
    web_app.schedule("shop.sync", task="sync_shop", cron="*/5 * * * *", params={"shop": "a\"c'me", "chunk": 5})
    page = client.get("/schedules", headers=HTML).text
    (attr,) = re.findall(
        r'data-schedule-form="shop.sync".*?<textarea name="params"[^>]*data-initial="([^"]*)"', page, re.S
    )
    assert json.loads(html.unescape(attr)) == {"shop": "a\"c'me", "chunk": 5}


# ---------------------------------------------------------------------- headers and hosts
def test_every_response_forbids_framing(web_app: Conveyor, client: TestClient) -> None:
    for path, headers in [("/", HTML), ("/api/queues", {}), ("/static/conveyor.css", {}), ("/nope", HTML)]:
        r = client.get(path, headers=headers)
        assert r.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
        assert r.headers["x-content-type-options"] == "nosniff", path


def test_a_request_for_an_unknown_host_is_refused(web_app: Conveyor, client: TestClient) -> None:
    r = client.get("/api/queues", headers={"Host": "rebind.attacker.example:8000"})
    assert r.status_code == 400
    assert r.json()["error"] == {
        "code": "host_not_allowed",
        "message": "host 'rebind.attacker.example' is not allowed: add it to CONVEYOR_WEB_ALLOWED_HOSTS "
        "(comma-separated) to serve the dashboard under that name",
    }
    r = client.post("/api/queues/default/pause", headers={"Host": "rebind.attacker.example"})
    assert r.status_code == 400
    assert not any(s.paused for s in web_app.queue_stats())


def test_loopback_names_and_configured_hosts_are_served(web_app: Conveyor, client: TestClient) -> None:
    def status(c: TestClient, host: str) -> int:
        return c.get("/api/queues", headers={"Host": host}).status_code

    for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000"):
        assert status(client, host) == 200, host
    configured = Conveyor(web_app.settings.database_url, web_allowed_hosts="conveyor.internal, *.ops.example")
    c = build(configured)
    assert status(c, "conveyor.internal") == 200
    assert status(c, "eu.ops.example:8443") == 200
    assert status(c, "ops.example.evil") == 400
    assert status(c, "conveyor.internal.evil") == 400
    configured.close()


def test_host_rules() -> None:
    assert host_allowed("127.0.0.1:8000", None, [])
    assert host_allowed("127.0.0.2", None, [])
    assert host_allowed("LOCALHOST:1", None, [])
    assert host_allowed("[::1]:8000", None, [])
    assert host_allowed("192.168.1.5:8000", "192.168.1.5", [])  # the address the request arrived on
    assert not host_allowed("192.168.1.6:8000", "192.168.1.5", [])
    assert host_allowed("0.0.0.0:8000", "127.0.0.1", [])  # the URL `conveyor web --host 0.0.0.0` prints
    assert not host_allowed("localhost.attacker.example", None, [])
    assert host_allowed("anything.example", None, ["*"])
    assert host_allowed(None, None, [])
    assert not host_allowed("", None, [])


# ---------------------------------------------------------------------- password guessing
def test_repeated_failed_sign_ins_are_throttled_with_429_and_retry_after(web_app: Conveyor) -> None:
    secured = Conveyor(web_app.settings.database_url, web_token="s3cret", web_login_attempts=3)
    c = build(secured)
    c.get("/login")
    csrf = c.cookies.get("conveyor_csrf")
    for _ in range(3):
        bad = c.post("/login", data={"token": "guess", "csrf_token": csrf}, follow_redirects=False)
        assert bad.status_code == 303 and "error=invalid" in bad.headers["location"]
    # Now even the right token must wait: the lockout does not tell a guesser which try was right.
    r = c.post("/login", data={"token": "s3cret", "csrf_token": csrf}, headers=HTML, follow_redirects=False)
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1
    assert "Too many failed sign-ins from your address" in r.text
    assert "conveyor_session" not in r.cookies
    secured.close()


def test_bad_bearer_tokens_are_throttled_too(web_app: Conveyor) -> None:
    secured = Conveyor(web_app.settings.database_url, web_token="s3cret", web_login_attempts=2)
    c = build(secured)
    for _ in range(2):
        assert c.get("/api/queues", headers={"Authorization": "Bearer nope"}).status_code == 401
    r = c.get("/api/queues", headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert r.json()["error"]["code"] == "too_many_attempts"
    assert "try again in 1 s" in r.json()["error"]["message"]
    secured.close()


def test_the_wait_doubles_with_each_failure_up_to_the_lockout_and_ends_on_success() -> None:
    now = [1000.0]
    t = LoginThrottle(attempts=3, max_wait=10.0, clock=lambda: now[0])
    for _ in range(2):
        t.failed("10.0.0.1")
    assert t.retry_after("10.0.0.1") == 0.0
    waits = []
    for _ in range(6):
        t.failed("10.0.0.1")
        waits.append(t.retry_after("10.0.0.1"))
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert t.retry_after("10.0.0.2") == 0.0  # per client address
    now[0] += 10.0
    assert t.retry_after("10.0.0.1") == 0.0
    t.succeeded("10.0.0.1")
    t.failed("10.0.0.1")
    assert t.retry_after("10.0.0.1") == 0.0


# ---------------------------------------------------------------------- API docs offline
def test_api_docs_load_swagger_ui_from_this_server(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    assets: list[str] = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/api/docs/assets/swagger-ui-bundle.js" in assets and "/api/docs/assets/swagger-ui.css" in assets
    assert all(a.startswith("/") for a in assets), assets  # nothing from another host
    js = client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert js.status_code == 200 and "SwaggerUIBundle" in js.text
    assert client.get("/api/docs/assets/swagger-ui.css").status_code == 200
    assert client.get("/api/openapi.json").json()["info"]["title"] == "Conveyor"


# ---------------------------------------------------------------------- progress
def test_the_rate_counts_from_the_first_progress_report_seen() -> None:
    # 100 s downloading, then 10 rows/s: the ETA of the remaining 900 rows is 90 s, not the 990 s that
    # counting from the start of the attempt would give.
    p: dict[str, Any] = {"done": 100, "total": 1000, "message": "rows", "at": 110.0}
    counted = progress_view(p, attempted_at=0.0, origin=(0, 100.0))
    assert counted is not None and counted["rate"] == 10.0 and counted["eta"] == 90.0
    first = progress_view(p, attempted_at=0.0, origin=(100, 110.0))
    assert first is not None and first["rate"] is None and first["eta"] is None  # one report: no rate yet
    fallback = progress_view(p, attempted_at=0.0)
    assert fallback is not None and fallback["eta"] == pytest.approx(990.0)

"""The commerce web extension: the Shops JSON API, Shoptet's webhook endpoint and the Shops pages, over
httpx against the real web app, with shops on a Shoptet simulator served over loopback HTTP.

Reads run on SQLite and PostgreSQL; actions and pages on SQLite (they add no SQL of their own). Where a
pipeline must really run (run now, a snapshot whose ``job:finished`` webhook comes back through
``POST /webhooks/shoptet``), a worker runs it in this process against the simulator.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from conveyor import Conveyor, JobState, current_job
from conveyor.commerce import store
from conveyor.commerce.shoptet import pipelines
from conveyor.commerce.shoptet.pipelines import ShoptetPack, install
from conveyor.commerce.shoptet.simulator import DEFAULT_PRIVATE_TOKEN, SimulatorConfig, create_app
from conveyor.commerce.shoptet.simulator.server import serve_in_thread
from conveyor.commerce.shoptet.webhooks import SIGNATURE_HEADER, sign
from conveyor.commerce.store import ExecutionStatus, ImportCounts, RecordError, Shop, generate_key
from conveyor.commerce.store.schema import orders, webhook_events
from conveyor.commerce.web import extend
from conveyor.store.schema import jobs
from conveyor.web import create_app as create_web_app
from conveyor.web.monitor import Monitor
from tests.commerce.shoptet.test_pipelines import ESHOP_ID, SHOP, WHOLE_HISTORY_HOURS, database
from tests.conftest import free_port
from tests.web.conftest import CHROMIUM, LiveServer, require_chromium

KEY = generate_key()
SIGNATURE_KEY = "5f2b0c1d9e8a7b6c5d4e3f2a1b0c9d8e"
ORIGIN = "http://testserver"


# ---------------------------------------------------------------------------------------------- harness
@dataclass
class Web:
    """An app with the Shoptet pipelines and the web extension, its web client, and (maybe) one shop on a
    simulator."""

    app: Conveyor
    pack: ShoptetPack
    client: TestClient
    sim_url: str
    sim: Any
    shop: Shop | None

    @property
    def shop_id(self) -> int:
        assert self.shop is not None
        return self.shop.id

    def work(self) -> None:
        """Run every due job in this process until none is left."""
        self.app.work(["default"], processes=0, stop_when_empty=True, sleep=0.05)

    def count(self, table: Any, *where: Any) -> int:
        with self.app.driver.read() as conn:
            return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())

    def execution(self, pipeline: str, *, status: ExecutionStatus, error: str | None = None, **counts: int) -> int:
        """Record a finished (or running) execution directly in the store, as a pipeline would."""
        with self.app.driver.begin() as conn:
            execution_id = store.start_execution(conn, self.shop_id, pipeline, "manual")
            if status is not ExecutionStatus.RUNNING:
                store.finish_execution(conn, execution_id, counts=ImportCounts(**counts), error=error)
        return execution_id

    def page(self, path: str, **params: Any) -> httpx.Response:
        """A page as a browser asks for it (which also gives this client the CSRF cookie)."""
        return self.client.get(path, params=params or None, headers={"Accept": "text/html"})

    def browser_post(self, path: str, *, token: bool = True) -> httpx.Response:
        """A POST as the dashboard's script sends it: from the page's origin, with (or without) its token."""
        self.page("/shops")
        headers = {"Origin": ORIGIN, "Accept": "application/json"}
        if token:
            headers["X-CSRF-Token"] = self.client.cookies.get("conveyor_csrf") or ""
        return self.client.post(path, headers=headers)


def client_for(app: Conveyor) -> TestClient:
    """A client whose every read sees the database as it is now (monitor interval 0, no thread)."""
    return TestClient(create_web_app(app, monitor=Monitor(app, interval=0.0, lag=0.0), start_monitor=False))


def installed(db_url: str, tmp_path: Path) -> tuple[Conveyor, ShoptetPack]:
    app = Conveyor(db_url, shutdown_grace_seconds=5)
    pack = install(
        app,
        data_dir=tmp_path / "data",
        secret_key=KEY,
        fallback_lookback_hours=WHOLE_HISTORY_HOURS,
        snapshot_first_poll=0.05,
        client_options={"max_retries": 1, "backoff_base": 0.01, "backoff_max": 0.05},
    )
    if extend not in app.web_extensions:  # until install registers it itself
        app.add_web_extension(extend)
    app.migrate()
    return app, pack


@contextmanager
def web_app(db_url: str, tmp_path: Path, *, with_shop: bool = True) -> Iterator[Web]:
    """The app on ``db_url``; with ``with_shop``, shop "acme" (created through the store functions, with a
    signature key for webhooks) on a fresh simulator."""
    app, pack = installed(db_url, tmp_path)
    sim_app = create_app(SimulatorConfig(**SHOP))
    try:
        with serve_in_thread(app=sim_app) as sim_url:
            shop = None
            if with_shop:
                with app.driver.begin() as conn:
                    shop = store.create_shop(
                        conn,
                        pack.cipher,
                        platform="shoptet",
                        name="acme",
                        base_url=sim_url,
                        credentials={
                            "token": DEFAULT_PRIVATE_TOKEN,
                            "eshop_id": ESHOP_ID,
                            "signature_key": SIGNATURE_KEY,
                        },
                        timezone="Europe/Prague",
                        is_master=True,
                    )
            yield Web(app, pack, client_for(app), sim_url, sim_app.state.simulator, shop)
    finally:
        pack.close()
        app.close()


@pytest.fixture(params=["sqlite", "postgres"])
def web(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Web]:
    """One shop, on each database."""
    with database(request.param, tmp_path) as url, web_app(url, tmp_path) as running:
        yield running


@pytest.fixture
def sq(tmp_path: Path) -> Iterator[Web]:
    """One shop on SQLite, for behaviour that does not depend on the database."""
    with web_app(f"sqlite:///{tmp_path / 'conveyor.db'}", tmp_path) as running:
        yield running


@pytest.fixture
def no_shops(tmp_path: Path) -> Iterator[Web]:
    with web_app(f"sqlite:///{tmp_path / 'conveyor.db'}", tmp_path, with_shop=False) as running:
        yield running


def notification(event: str, instance: str, created: str = "2026-01-08T15:13:39+0100") -> bytes:
    body = {"eshopId": ESHOP_ID, "event": event, "eventCreated": created, "eventInstance": instance}
    return json.dumps(body, separators=(",", ":")).encode()


def deliver(web: Web, body: bytes, signature: str | None) -> httpx.Response:
    """A delivery as Shoptet makes it: no cookies, no browser headers."""
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return web.client.post("/webhooks/shoptet", content=body, headers=headers)


# ---------------------------------------------------------------------------------------------- the extension
def test_install_registers_the_web_extension(tmp_path: Path) -> None:
    app = Conveyor(f"sqlite:///{tmp_path / 'c.db'}")
    install(app, data_dir=tmp_path / "data", secret_key=KEY)
    assert extend in app.web_extensions
    app.close()


# ---------------------------------------------------------------------------------------------- reads
def test_shops_list_every_shop_with_cursors_pipelines_and_last_runs(web: Web) -> None:
    with web.app.driver.begin() as conn:
        store.set_cursor(conn, web.shop_id, "orders.change_time", "2026-01-08T15:13:39+0100")
    done = web.execution("orders.fetch_new", status=ExecutionStatus.COMPLETED, read=5, created=3, updated=2)
    failed = web.execution("snapshot.orders", status=ExecutionStatus.ERROR, error="gzip: truncated", read=1, failed=1)

    shops = web.client.get("/api/shops").json()

    assert [s["name"] for s in shops] == ["acme"]
    shop = shops[0]
    assert {k: shop[k] for k in ("id", "platform", "base_url", "is_master", "timezone")} == {
        "id": web.shop_id,
        "platform": "shoptet",
        "base_url": web.sim_url,
        "is_master": True,
        "timezone": "Europe/Prague",
    }
    assert "credentials" not in shop and "token" not in json.dumps(shop)
    assert shop["cursors"]["orders.change_time"]["value"] == "2026-01-08T15:13:39+0100"
    assert [e["id"] for e in shop["last_executions"]] == [failed, done]
    last = {p["pipeline"]: p["last_execution"] for p in shop["pipelines"]}
    assert set(last) == {*pipelines.PIPELINES, "snapshot.orders", "snapshot.products", "snapshot.customers"}
    assert last["orders.fetch_new"]["counts"] == {"read": 5, "created": 3, "updated": 2, "unchanged": 0, "failed": 0}
    assert last["orders.fetch_new"]["status"] == "completed" and last["orders.fetch_new"]["duration"] is not None
    assert last["snapshot.orders"]["status"] == "error" and last["snapshot.orders"]["retryable"] is True
    assert last["snapshot.orders"]["error"] == "gzip: truncated"
    assert last["products.import_master"] is None


def test_shop_detail_pages_its_executions_newest_first_by_cursor(web: Web) -> None:
    ids = [web.execution("orders.fetch_new", status=ExecutionStatus.COMPLETED) for _ in range(7)]

    first = web.client.get(f"/api/shops/{web.shop_id}", params={"limit": 3}).json()
    second = web.client.get(f"/api/shops/{web.shop_id}/executions", params={"cursor": first["next_cursor"], "limit": 3})
    third = web.client.get(
        f"/api/shops/{web.shop_id}/executions", params={"cursor": second.json()["next_cursor"], "limit": 3}
    ).json()

    assert first["name"] == "acme" and "cursors" in first
    pages = [first["executions"], second.json()["executions"], third["executions"]]
    newest = ids[::-1]
    assert [[e["id"] for e in page] for page in pages] == [newest[:3], newest[3:6], newest[6:]]
    assert third["next_cursor"] is None


def test_the_log_can_be_limited_to_one_pipeline(sq: Web) -> None:
    sq.execution("orders.fetch_new", status=ExecutionStatus.COMPLETED)
    snap = sq.execution("snapshot.orders", status=ExecutionStatus.COMPLETED)

    page = sq.client.get(f"/api/shops/{sq.shop_id}/executions", params={"pipeline": "snapshot.orders"}).json()

    assert [e["id"] for e in page["executions"]] == [snap]


def test_a_cursor_this_server_did_not_hand_out_is_400(sq: Web) -> None:
    response = sq.client.get(f"/api/shops/{sq.shop_id}/executions", params={"cursor": "not-a-cursor"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor" and response.json()["error"]["field"] == "cursor"


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/shops/999"),
        ("GET", "/api/shops/999/executions"),
        ("POST", "/api/shops/999/snapshots/orders"),
        ("POST", "/api/shops/999/run/orders.fetch_new"),
    ],
)
def test_an_unknown_shop_is_404_json(sq: Web, method: str, path: str) -> None:
    response = sq.client.request(method, path)

    assert response.status_code == 404
    assert response.json()["error"] == {"code": "shop_not_found", "message": "shop 999 not found"}


def test_an_execution_shows_its_record_errors_page_by_page(sq: Web) -> None:
    execution_id = sq.execution("orders.fetch_new", status=ExecutionStatus.COMPLETED, read=3, created=1, failed=2)
    with sq.app.driver.begin() as conn:
        store.record_errors(
            conn,
            execution_id,
            [RecordError("2026000001", "missing field 'status'", kind="order"), RecordError(None, "invalid JSON")],
        )

    first = sq.client.get(f"/api/executions/{execution_id}", params={"errors_limit": 1}).json()
    rest = sq.client.get(
        f"/api/executions/{execution_id}", params={"errors_cursor": first["errors_next_cursor"]}
    ).json()

    assert first["shop"] == {"id": sq.shop_id, "name": "acme", "platform": "shoptet"}
    assert first["counts"]["failed"] == 2 and first["job"] is None and first["snapshot_file"] is None
    assert [(e["record_code"], e["reason"]) for e in first["errors"]] == [("2026000001", "missing field 'status'")]
    assert [e["record_code"] for e in rest["errors"]] == [None] and "invalid JSON" in rest["errors"][0]["reason"]
    assert rest["errors_next_cursor"] is None


def test_an_unknown_execution_is_404_json(sq: Web) -> None:
    for response in (sq.client.get("/api/executions/999"), sq.client.post("/api/executions/999/retry")):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "execution_not_found"


# ---------------------------------------------------------------------------------------------- actions
def test_a_snapshot_request_is_accepted_and_its_execution_recorded(sq: Web) -> None:
    response = sq.client.post(f"/api/shops/{sq.shop_id}/snapshots/products")

    assert response.status_code == 202
    body = response.json()
    execution = pipelines.get_execution(sq.app, body["execution_id"])
    assert (execution.shop_id, execution.pipeline, execution.trigger, execution.status) == (
        sq.shop_id,
        "snapshot.products",
        "manual",
        ExecutionStatus.QUEUED,
    )
    assert body["job_id"] == execution.job_id and sq.app.get_job(body["job_id"]).task == "shoptet.snapshot"
    assert body["execution"]["status"] == "queued"


def test_an_unknown_snapshot_kind_is_422_naming_the_field(sq: Web) -> None:
    jobs_before = sq.count(jobs)

    response = sq.client.post(f"/api/shops/{sq.shop_id}/snapshots/invoices")

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "kind" and "invoices" in error["message"] and "orders" in error["message"]
    assert sq.count(jobs) == jobs_before


def test_run_now_queues_the_pipeline_which_imports_from_the_shop(sq: Web) -> None:
    response = sq.client.post(f"/api/shops/{sq.shop_id}/run/orders.fetch_new")
    assert response.status_code == 202
    body = response.json()
    assert sq.app.get_job(body["job_id"]).task == "shoptet.orders.fetch_new_for_shop"

    sq.work()

    execution = sq.client.get(f"/api/executions/{body['execution_id']}").json()
    assert execution["status"] == "completed" and execution["trigger"] == "manual"
    assert execution["counts"]["created"] == SHOP["orders"] == sq.count(orders)
    shop = sq.client.get(f"/api/shops/{sq.shop_id}").json()
    assert shop["cursors"]["orders.change_time"]["value"]


def test_an_unknown_pipeline_is_422_naming_the_field(sq: Web) -> None:
    response = sq.client.post(f"/api/shops/{sq.shop_id}/run/orders.delete_all")

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "pipeline"
    assert "orders.fetch_new" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "pipeline, status",
    [("snapshot.orders", ExecutionStatus.COMPLETED), ("orders.fetch_new", ExecutionStatus.ERROR)],
    ids=["completed-snapshot", "failed-incremental-run"],
)
def test_retry_of_anything_but_a_failed_snapshot_is_409(sq: Web, pipeline: str, status: ExecutionStatus) -> None:
    execution_id = sq.execution(pipeline, status=status, error="boom" if status is ExecutionStatus.ERROR else None)
    jobs_before = sq.count(jobs)

    response = sq.client.post(f"/api/executions/{execution_id}/retry")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_retryable"
    assert sq.count(jobs) == jobs_before


def test_retry_of_a_failed_snapshot_queues_a_retry_execution(sq: Web) -> None:
    failed = sq.execution("snapshot.customers", status=ExecutionStatus.ERROR, error="download failed")

    response = sq.client.post(f"/api/executions/{failed}/retry")

    assert response.status_code == 202
    body = response.json()
    assert body["retry_of"] == failed and body["execution_id"] != failed
    retried = pipelines.get_execution(sq.app, body["execution_id"])
    assert (retried.pipeline, retried.trigger) == ("snapshot.customers", "retry")
    assert retried.status is ExecutionStatus.QUEUED


def test_a_snapshot_requested_over_http_completes_with_its_webhook_through_the_endpoint(sq: Web) -> None:
    """End to end: the web app serves, Shoptet's ``job:finished`` comes back to ``POST /webhooks/shoptet``."""
    server = LiveServer(sq.app, free_port()).start()
    try:
        url = f"{server.url}/webhooks/shoptet"
        pipelines.register_webhooks(sq.app, sq.shop_id, url, events=("job:finished",), renew_signature_key=True)
        response = httpx.post(f"{server.url}/api/shops/{sq.shop_id}/snapshots/orders", timeout=10)
        assert response.status_code == 202
        sq.work()
    finally:
        server.stop()

    execution = pipelines.get_execution(sq.app, response.json()["execution_id"])
    assert execution.status is ExecutionStatus.COMPLETED
    assert execution.counts.created == SHOP["orders"] == sq.count(orders)
    assert sq.count(webhook_events, webhook_events.c.event == "job:finished") == 1


# ---------------------------------------------------------------------------------------------- webhooks
def test_a_signed_order_webhook_is_recorded_and_enqueues_its_fetch(sq: Web) -> None:
    code = sq.sim.data.order_code(4)
    body = notification("order:update", code)
    jobs_before = sq.count(jobs)

    response = deliver(sq, body, sign(body, SIGNATURE_KEY))

    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] == "accepted" and answer["shop_id"] == sq.shop_id and answer["instance"] == code
    assert sq.count(jobs) == jobs_before + 1
    assert sq.app.get_job(answer["job_id"]).task == "shoptet.orders.fetch_one"
    sq.work()
    assert pipelines.get_execution(sq.app, answer["execution_id"]).status is ExecutionStatus.COMPLETED
    with sq.app.driver.read() as conn:
        assert store.find_order(conn, sq.shop_id, code) is not None


@pytest.mark.parametrize(
    "signature",
    [None, "", "0" * 40, sign(b"another body", SIGNATURE_KEY), sign(notification("order:create", "1"), "other-key")],
    ids=["missing", "empty", "garbage", "of-another-body", "another-key"],
)
def test_a_bad_signature_is_401_and_nothing_is_recorded_or_enqueued(sq: Web, signature: str | None) -> None:
    body = notification("order:create", "1")
    jobs_before = sq.count(jobs)

    response = deliver(sq, body, signature)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert sq.count(jobs) == jobs_before
    assert sq.count(webhook_events) == 0


def test_a_repeated_delivery_is_acknowledged_and_handled_once(sq: Web) -> None:
    body = notification("order:create", sq.sim.data.order_code(2))
    jobs_before = sq.count(jobs)

    first = deliver(sq, body, sign(body, SIGNATURE_KEY))
    second = deliver(sq, body, sign(body, SIGNATURE_KEY))

    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["status"] == "accepted" and second.json()["status"] == "duplicate"
    assert second.json()["job_id"] == first.json()["job_id"]  # the fetch already waiting absorbs it
    assert sq.count(jobs) == jobs_before + 1
    assert sq.count(webhook_events) == 1


@pytest.mark.parametrize("body", [b"{not json", b'{"event": "order:create"}'], ids=["not-json", "not-a-notification"])
def test_a_signed_but_malformed_body_is_400(sq: Web, body: bytes) -> None:
    jobs_before = sq.count(jobs)

    response = deliver(sq, body, sign(body, SIGNATURE_KEY))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_payload"
    assert sq.count(jobs) == jobs_before and sq.count(webhook_events) == 0


def test_the_webhook_needs_no_dashboard_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_WEB_TOKEN", "s3cret")
    with web_app(f"sqlite:///{tmp_path / 'c.db'}", tmp_path) as locked:
        body = notification("order:create", locked.sim.data.order_code(1))

        assert locked.client.get("/api/shops").status_code == 401
        assert deliver(locked, body, sign(body, SIGNATURE_KEY)).status_code == 200


def test_a_webhook_the_web_process_cannot_verify_is_503_so_shoptet_delivers_it_again(sq: Web, tmp_path: Path) -> None:
    """A web process started with the wrong credentials key cannot read the signature keys: that is our
    configuration, not Shoptet's request, and a 5xx makes Shoptet retry the delivery later."""
    misconfigured = Conveyor(sq.app.settings.database_url)
    install(misconfigured, data_dir=tmp_path / "other", secret_key=generate_key())
    if extend not in misconfigured.web_extensions:
        misconfigured.add_web_extension(extend)
    body = notification("order:create", sq.sim.data.order_code(1))
    try:
        response = client_for(misconfigured).post(
            "/webhooks/shoptet", content=body, headers={SIGNATURE_HEADER: sign(body, SIGNATURE_KEY)}
        )
    finally:
        misconfigured.close()

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "credentials_unavailable"
    assert sq.count(webhook_events) == 0


# ---------------------------------------------------------------------------------------------- CSRF
@pytest.mark.parametrize(
    "path",
    ["/api/shops/{shop}/snapshots/orders", "/api/shops/{shop}/run/orders.fetch_new", "/api/executions/{failed}/retry"],
)
def test_a_browser_post_without_the_csrf_token_is_refused(sq: Web, path: str) -> None:
    failed = sq.execution("snapshot.orders", status=ExecutionStatus.ERROR, error="boom")
    url = path.format(shop=sq.shop_id, failed=failed)
    jobs_before = sq.count(jobs)

    refused = sq.browser_post(url, token=False)

    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    assert sq.count(jobs) == jobs_before
    assert sq.browser_post(url).status_code == 202


def test_a_shop_of_a_platform_without_pipelines_is_listed_but_offers_no_actions(sq: Web) -> None:
    with sq.app.driver.begin() as conn:
        other = store.create_shop(
            conn, sq.pack.cipher, platform="prestashop", name="presta", base_url="https://p.example", credentials={}
        )

    listed = {s["name"]: s for s in sq.client.get("/api/shops").json()}
    refused = sq.client.post(f"/api/shops/{other.id}/run/orders.fetch_new")

    assert listed["presta"]["pipelines"] == [] and listed["acme"]["pipelines"]
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "unsupported_platform"
    assert "No pipelines for prestashop shops" in sq.page("/shops").text


# ---------------------------------------------------------------------------------------------- pages
def test_the_shops_page_without_shops_tells_how_to_add_one(no_shops: Web) -> None:
    response = no_shops.page("/shops")

    assert response.status_code == 200
    assert "No shops yet" in response.text
    assert "conveyor shoptet shops add NAME --url … --token …" in response.text


def test_shops_is_in_the_navigation_of_every_page(no_shops: Web) -> None:
    for path in ("/", "/jobs", "/shops"):
        assert re.search(r'<a href="/shops"[^>]*>Shops', no_shops.page(path).text), path
    assert re.search(r'<a href="/shops" aria-current="page">Shops', no_shops.page("/shops").text)


def test_the_shops_page_shows_each_shop_its_cursors_runs_and_buttons(sq: Web) -> None:
    with sq.app.driver.begin() as conn:
        store.set_cursor(conn, sq.shop_id, "orders.change_time", "2026-01-08T15:13:39+0100")
    sq.execution("orders.fetch_new", status=ExecutionStatus.COMPLETED, read=12, created=12)
    failed = sq.execution("snapshot.orders", status=ExecutionStatus.ERROR, error="SnapshotCorruptError: truncated")

    html = sq.page("/shops").text

    assert "acme" in html and f'href="/shops/{sq.shop_id}"' in html
    assert "orders.change_time" in html and "2026-01-08T15:13:39+0100" in html
    assert 'class="badge tone-ok"' in html and 'class="badge tone-bad"' in html
    assert "12 read" in html and "SnapshotCorruptError: truncated" in html
    for kind in ("orders", "products", "customers"):
        assert f'data-action="POST /api/shops/{sq.shop_id}/snapshots/{kind}"' in html
        assert f">Snapshot {kind}<" in html
    for pipeline in pipelines.PIPELINES:
        assert f'data-action="POST /api/shops/{sq.shop_id}/run/{pipeline}"' in html
    assert html.count(">Run now<") == len(pipelines.PIPELINES)
    assert f'data-action="POST /api/executions/{failed}/retry"' in html


def test_the_shop_page_is_its_pipeline_log(sq: Web) -> None:
    done = sq.execution("orders.fetch_new", status=ExecutionStatus.COMPLETED, read=7, created=4, updated=1, failed=2)
    with sq.app.driver.begin() as conn:
        store.record_errors(conn, done, [RecordError("2026000009", "negative quantity", kind="order")])
    failed = sq.execution("snapshot.products", status=ExecutionStatus.ERROR, error="download failed: HTTP 410")

    response = sq.page(f"/shops/{sq.shop_id}")

    assert response.status_code == 200
    html = response.text
    assert "Pipeline log" in html and f'data-execution="{done}"' in html and f'data-execution="{failed}"' in html
    assert f'<details class="trace" id="record-errors-{done}"' in html
    assert "2026000009" in html and "negative quantity" in html
    assert "download failed: HTTP 410" in html
    assert f'data-action="POST /api/executions/{failed}/retry"' in html
    assert f'data-action="POST /api/executions/{done}/retry"' not in html
    assert 'data-live-on="job retried"' in html


def test_a_running_execution_shows_its_jobs_progress_bar_for_live_updates(sq: Web) -> None:
    @sq.app.task(name="test.half_done")
    def half_done() -> None:
        current_job().progress(40, 100, "orders")

    job_id = half_done.enqueue()
    sq.work()
    with sq.app.driver.begin() as conn:
        store.start_execution(conn, sq.shop_id, "snapshot.orders", "manual", job_id=job_id)

    html = sq.page(f"/shops/{sq.shop_id}").text

    assert f'data-progress-for="{job_id}"' in html and 'aria-valuenow="40.0"' in html
    assert f'<span data-progress-text-for="{job_id}">40 of 100 orders</span>' in html
    assert sq.app.get_job(job_id).state is JobState.COMPLETED


def test_the_shop_page_has_a_live_fragment(sq: Web) -> None:
    sq.execution("orders.fetch_new", status=ExecutionStatus.COMPLETED)

    page = sq.page(f"/shops/{sq.shop_id}")
    fragment = sq.page(f"/shops/{sq.shop_id}", fragment=1)
    shops_fragment = sq.page("/shops", fragment=1)

    assert f'data-live-src="/shops/{sq.shop_id}?fragment=1"' in page.text
    assert fragment.status_code == 200 and "<html" not in fragment.text and "Pipeline log" in fragment.text
    assert shops_fragment.status_code == 200 and "<html" not in shops_fragment.text and "acme" in shops_fragment.text


def test_the_shop_page_pages_its_log_with_next_links(sq: Web) -> None:
    ids = [sq.execution("orders.fetch_new", status=ExecutionStatus.COMPLETED) for _ in range(55)]

    first = sq.page(f"/shops/{sq.shop_id}").text
    next_link = re.search(r'<a class="btn btn-sm" href="([^"]+)" rel="next">', first)
    assert next_link is not None
    second = sq.client.get(next_link.group(1).replace("&amp;", "&"), headers={"Accept": "text/html"}).text

    assert f'data-execution="{ids[-1]}"' in first and f'data-execution="{ids[4]}"' not in first
    assert f'data-execution="{ids[4]}"' in second and f'data-execution="{ids[-1]}"' not in second
    assert "End of list" in second


def test_an_unknown_shop_page_is_404(sq: Web) -> None:
    response = sq.page("/shops/999")

    assert response.status_code == 404
    assert "<html" in response.text and "shop #999" in response.text


def test_building_web_apps_again_adds_our_templates_once(sq: Web) -> None:
    from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader

    from conveyor.commerce.web.pages import TEMPLATES_DIR
    from conveyor.web.dashboard import templates

    def searched(loader: BaseLoader | None) -> list[str]:
        if isinstance(loader, FileSystemLoader):
            return [str(p) for p in loader.searchpath]
        if isinstance(loader, ChoiceLoader):
            return [p for inner in loader.loaders for p in searched(inner)]
        return []

    client_for(sq.app)
    client_for(sq.app)

    assert searched(templates.env.loader).count(str(TEMPLATES_DIR)) == 1


# ---------------------------------------------------------------------------------------------- in a browser
@pytest.mark.browser
def test_the_buttons_queue_runs_from_a_real_browser(sq: Web) -> None:
    """Chromium clicks "Run now" and "Snapshot orders": the script posts with the page's CSRF token, says so
    in a toast, and the page shows the queued runs without a reload."""
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    server = LiveServer(sq.app, free_port()).start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM)
            try:
                page = browser.new_page()
                page.on("dialog", lambda dialog: dialog.accept())
                page.goto(f"{server.url}/shops")
                row = page.locator('tr[data-pipeline="orders.fetch_new"]')
                expect(row).to_contain_text("never run")

                row.get_by_role("button", name="Run now").click()
                expect(page.locator(".toast")).to_contain_text("New and changed orders of acme queued")
                expect(page.locator('tr[data-pipeline="orders.fetch_new"]')).to_contain_text("queued", timeout=5000)

                snapshot_row = page.locator('tr[data-pipeline="snapshot.orders"]')
                snapshot_row.get_by_role("button", name="Snapshot orders").click()
                expect(page.locator('tr[data-pipeline="snapshot.orders"]')).to_contain_text("queued", timeout=5000)
            finally:
                browser.close()
    finally:
        server.stop()

    runs = {e.pipeline: e for e in pipelines.list_executions(sq.app, sq.shop_id)}
    assert runs["orders.fetch_new"].status is ExecutionStatus.QUEUED
    assert runs["snapshot.orders"].status is ExecutionStatus.QUEUED

"""The dashboard in a real browser: headless Chromium (Playwright) against the real web application under
uvicorn, with a real worker executing jobs in a background thread.

These check what only a browser can: the page script runs without errors, the live updates arrive over
server-sent events and change the page without a reload, buttons call the API with the CSRF token, and
the inline schedule editor shows validation errors next to the field.

Skipped with the reason when Chromium is missing, except under ``CI=true`` where that is a failure.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conveyor import Conveyor
from conveyor.engine.states import JobState
from tests.conftest import free_port
from tests.web.conftest import CHROMIUM, BackgroundWorker, LiveServer, register_dashboard_tasks, require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

#: Arguments for which the "flaky" task fails, once: a retried job then succeeds.
FAIL_ONCE: set[str] = set()


class Live:
    """Everything a browser test needs: the application, the server's URL and a browser."""

    def __init__(self, app: Conveyor, url: str, browser: Any) -> None:
        self.app, self.url, self.browser = app, url, browser

    def open(self, path: str) -> tuple[Any, list[str]]:
        """A new page at ``path``, connected to the event stream; and the list its console errors go to."""
        page = self.browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(self.url + path)
        page.wait_for_selector('[data-live-status][data-state="open"]', timeout=10_000)
        # A page that reloaded would lose this.
        page.evaluate("window.__sameDocument = true")
        return page, errors

    def wait_for_state(self, job_id: int, state: JobState, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while self.app.get_job(job_id).state != state:
            assert time.monotonic() < deadline, f"job {job_id} never reached {state}"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    db = Path(tmp_path_factory.mktemp("browser")) / "conveyor.db"
    app = Conveyor(f"sqlite:///{db}")
    app.migrate()
    register_dashboard_tasks(app)

    @app.task(name="flaky", max_attempts=1)
    def flaky(key: str) -> str:
        if key in FAIL_ONCE:
            FAIL_ONCE.discard(key)
            raise ConnectionError(f"{key}: 503 Service Unavailable")
        return key

    app.schedule("reports.nightly", task="ok", cron="0 3 * * *", description="Nightly report")
    app.schedule("rows.check", task="boom", cron="0 4 * * *", params={"kind": "value", "password": "s3cret"})
    server = LiveServer(app, free_port()).start()
    worker = BackgroundWorker(app, ["default", "imports"]).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            )
            try:
                yield Live(app, server.url, browser)
            finally:
                browser.close()
    finally:
        worker.stop()
        server.stop()
        app.close()


def test_every_page_opens_without_console_errors(live: Live) -> None:
    done = live.app.enqueue("ok", [1])
    live.wait_for_state(done, JobState.COMPLETED)
    batch = live.app.batch([live.app.get_task("ok").job(2)], name="browser batch")
    paths = ["/", "/jobs", f"/jobs/{done}", "/failed", "/schedules", "/schedules/reports.nightly", "/batches",
             f"/batches/{batch.id}", "/locks", "/jobs?state=discarded"]  # fmt: skip
    for path in paths:
        page, errors = live.open(path)
        page.wait_for_timeout(300)  # a stats event or two, and a fragment swap
        assert errors == [], (path, errors)
        assert page.evaluate("window.__sameDocument") is True
        page.close()


def test_retrying_a_failed_job_sends_it_back_to_its_queue_live(live: Live) -> None:
    FAIL_ONCE.add("order-1")
    job_id = live.app.enqueue("flaky", ["order-1"])
    live.wait_for_state(job_id, JobState.DISCARDED)

    page, errors = live.open("/jobs?state=discarded")
    row = page.locator(f'tr[data-job="{job_id}"]')
    assert row.count() == 1
    row.get_by_role("button", name="Retry").click()
    page.wait_for_selector(f'tr[data-job="{job_id}"]', state="detached", timeout=10_000)
    assert "back in its queue" in page.locator("[data-toasts]").inner_text()
    assert page.evaluate("window.__sameDocument") is True
    assert errors == []
    page.close()
    live.wait_for_state(job_id, JobState.COMPLETED)


def test_job_page_follows_a_retried_job_to_completion_without_a_reload(live: Live) -> None:
    FAIL_ONCE.add("order-2")
    job_id = live.app.enqueue("flaky", ["order-2"])
    live.wait_for_state(job_id, JobState.DISCARDED)

    page, errors = live.open(f"/jobs/{job_id}")
    assert page.locator(".page-head .badge").inner_text() == "discarded"
    page.get_by_role("button", name="Retry").click()
    page.wait_for_function(
        "document.querySelector('.page-head .badge').textContent.trim() === 'completed'", timeout=10_000
    )
    assert "Attempt 1" in page.inner_text("#main")  # the first attempt's error is still shown
    assert page.evaluate("window.__sameDocument") is True
    assert errors == []
    page.close()


def test_editing_a_schedule_inline_shows_errors_by_the_field_and_moves_next_runs(live: Live) -> None:
    page, _ = live.open("/schedules")
    row = page.locator('tr[data-schedule="reports.nightly"]')
    form = page.locator('[data-schedule-form="reports.nightly"]')
    before = row.locator("[data-next-runs]").inner_text()

    row.get_by_role("button", name="Edit").click()
    form.locator('input[name="cron"]').fill("*/10 * * *")
    form.get_by_role("button", name="Save").click()
    error = form.locator('[data-error-for="cron"]')
    error.wait_for(state="visible")
    assert "4 fields" in error.inner_text()
    assert form.locator('input[name="cron"]').get_attribute("aria-invalid") == "true"

    form.locator('input[name="cron"]').fill("*/10 * * * *")
    form.get_by_role("button", name="Save").click()
    page.wait_for_function(
        "document.querySelector('tr[data-schedule=\"reports.nightly\"] [data-cron]').textContent === '*/10 * * * *'",
        timeout=10_000,
    )
    after = row.locator("[data-next-runs]").inner_text()
    assert after != before and "in " in after
    assert "Every 10 minutes" in row.inner_text()
    assert page.evaluate("window.__sameDocument") is True
    page.close()


def test_running_job_progress_bar_moves_live(live: Live) -> None:
    job_id = live.app.enqueue("import_rows", kwargs={"total": 40, "pause": 0.1})
    live.wait_for_state(job_id, JobState.EXECUTING)

    page, errors = live.open(f"/jobs/{job_id}")
    fill = f'[data-progress-for="{job_id}"] .fill'
    page.wait_for_selector(fill, timeout=10_000)
    width = f"parseFloat(document.querySelector('{fill}').style.width)"
    page.wait_for_function(f"{width} > 0", timeout=10_000)
    first = page.evaluate(width)
    page.wait_for_function(f"{width} > {first}", timeout=10_000)
    assert "of 40 rows" in page.inner_text(f'[data-progress-text-for="{job_id}"]')
    page.wait_for_function(
        "document.querySelector('.page-head .badge').textContent.trim() === 'completed'", timeout=15_000
    )
    assert page.evaluate("window.__sameDocument") is True
    assert errors == []
    page.close()


def test_editing_only_the_cron_leaves_the_params_to_the_code(live: Live) -> None:
    page, errors = live.open("/schedules")
    row = page.locator('tr[data-schedule="rows.check"]')
    form = page.locator('[data-schedule-form="rows.check"]')
    row.get_by_role("button", name="Edit").click()
    form.locator('input[name="cron"]').fill("0 5 * * *")
    form.get_by_role("button", name="Save").click()
    page.wait_for_function(
        "document.querySelector('tr[data-schedule=\"rows.check\"] [data-cron]').textContent === '0 5 * * *'",
        timeout=10_000,
    )
    view = live.app.schedules.view("rows.check")
    assert view.overridden == frozenset({"cron"})
    assert view.params == {"kind": "value", "password": "s3cret"}
    assert errors == []
    page.close()


def test_changing_one_param_keeps_the_redacted_secret(live: Live) -> None:
    page, errors = live.open("/schedules")
    row = page.locator('tr[data-schedule="rows.check"]')
    form = page.locator('[data-schedule-form="rows.check"]')
    row.get_by_role("button", name="Edit").click()
    params = form.locator('textarea[name="params"]')
    shown = params.input_value()
    assert "s3cret" not in shown and "[redacted]" in shown
    params.fill(shown.replace('"value"', '"key"'))
    form.get_by_role("button", name="Save").click()
    page.wait_for_function(
        "document.querySelector('tr[data-schedule=\"rows.check\"]').textContent.includes('edited: cron, params')"
        " || document.querySelector('tr[data-schedule=\"rows.check\"]').textContent.includes('edited: params')",
        timeout=10_000,
    )
    assert live.app.schedules.view("rows.check").params == {"kind": "key", "password": "s3cret"}
    assert errors == []
    page.close()


def test_running_for_ticks_on_the_job_page(live: Live) -> None:
    job_id = live.app.enqueue("import_rows", kwargs={"total": 40, "pause": 0.1})
    live.wait_for_state(job_id, JobState.EXECUTING)
    page, errors = live.open(f"/jobs/{job_id}")
    elapsed = page.locator("[data-elapsed]")
    first = elapsed.inner_text()
    page.wait_for_function(f"document.querySelector('[data-elapsed]').textContent !== {first!r}", timeout=5_000)
    assert errors == []
    page.close()
    live.wait_for_state(job_id, JobState.COMPLETED)


def test_every_page_is_in_the_navigation_on_a_phone(live: Live) -> None:
    page = live.browser.new_page(viewport={"width": 360, "height": 740})
    page.goto(live.url + "/")
    links = page.locator("nav.nav a")
    assert links.count() >= 6
    for i in range(links.count()):
        box = links.nth(i).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360, links.nth(i).inner_text()
    page.close()


def test_the_api_docs_render_without_the_internet(live: Live) -> None:
    page = live.browser.new_page()
    outside: list[str] = []
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(live.url)
            else (outside.append(route.request.url), route.abort())
        ),
    )
    page.goto(live.url + "/api/docs")
    page.wait_for_selector(".opblock", timeout=15_000)  # one block per endpoint
    assert outside == []
    assert "/api/queues" in page.inner_text("body")
    page.close()

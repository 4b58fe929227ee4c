"""The dashboard's HTML pages, over httpx against the ASGI app, on SQLite and PostgreSQL; its SVG charts
and its Jinja filters."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy import update

from conveyor import Conveyor
from conveyor.store.schema import jobs
from conveyor.web import create_app
from conveyor.web.dashboard import NAV, add_nav_item, add_template_dir, charts, filters, render, templates
from conveyor.web.monitor import Monitor
from tests.web.conftest import Pages, pages_for, run_all

SVG = "{http://www.w3.org/2000/svg}"


def populate(app: Conveyor) -> dict[str, int]:
    """A little of everything: completed, failed (two error classes), waiting, progress, a schedule with
    a run, a batch with a failure, a held lock."""
    ok = app.enqueue("ok", [1])
    failed_value = app.enqueue("boom", kwargs={"kind": "value", "password": "hunter2"})
    failed_key = app.enqueue("boom", kwargs={"kind": "key"})
    progress = app.enqueue("import_rows", kwargs={"total": 8})
    app.schedule(
        "reports.nightly",
        task="ok",
        cron="0 3 * * *",
        timezone="Europe/Prague",
        params={"n": 7},
        description="Nightly report",
    )
    run = app.schedules.trigger("reports.nightly")
    batch = app.batch([app.get_task("ok").job(1), app.get_task("boom").job("value")], name="nightly sync")
    run_all(app)
    waiting = app.enqueue("ok", [2])
    app.lock("report:daily", ttl=600).acquire()
    return {
        "ok": ok,
        "failed_value": failed_value,
        "failed_key": failed_key,
        "progress": progress,
        "waiting": waiting,
        "run_job": int(run.job_id or 0),
        "batch": batch.id,
    }


def body(pages: Pages, path: str, status: int = 200, **params: object) -> str:
    r = pages.get(path, **params)
    assert r.status_code == status, (path, r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("text/html")
    return r.text


# ---------------------------------------------------------------------- every page, with data and empty
def test_every_page_renders_with_data(dash_app: Conveyor, pages: Pages) -> None:
    ids = populate(dash_app)
    expect = {
        "/": ["Queues", "imports", "default", "Last hour", "<svg"],
        "/jobs": ["import_rows", f"#{ids['waiting']}", "Newest first"],
        f"/jobs/{ids['failed_value']}": ["ValueError: bad row value", "Traceback", "Retry"],
        f"/jobs/{ids['progress']}": ["8 of 8 rows", f'data-progress-for="{ids["progress"]}"'],
        "/failed": ["ValueError", "KeyError", "Retry all"],
        "/schedules": ["reports.nightly", "Nightly report", "At 03:00", "Run now", "conveyor.prune"],
        "/schedules/reports.nightly": ["History", f"#{ids['run_job']}", "trigger"],
        "/batches": ["nightly sync", "Retry failed"],
        f"/batches/{ids['batch']}": ["nightly sync", "bad row value"],
        "/locks": ["report:daily"],
    }
    for path, needles in expect.items():
        html = body(pages, path)
        assert "<h1" in html and "</html>" in html, path
        for needle in needles:
            assert needle in html, (path, needle)


def test_every_page_renders_empty_with_a_hint_of_what_to_do(pages: Pages) -> None:
    expect = {
        "/": ["No jobs yet", "No workers running", "conveyor --app pkg.module:app work"],
        "/jobs": ["No jobs yet", "task.enqueue(...)"],
        "/jobs?state=discarded": ["No failed jobs", "retry them with one click"],
        "/failed": ["No failed jobs", "traceback"],
        "/schedules": ["conveyor.prune"],  # the built-in entry is always there
        "/batches": ["No batches yet", "dispatch_chunks"],
        "/locks": ["No locks held", "app.lock("],
    }
    for path, needles in expect.items():
        html = body(pages, path)
        for needle in needles:
            assert needle in html, (path, needle)


def test_a_missing_job_batch_or_schedule_is_a_404_page(pages: Pages) -> None:
    assert "Job #999 not found" in body(pages, "/jobs/999", 404)
    assert "Batch #999 not found" in body(pages, "/batches/999", 404)
    assert "Schedule not found" in body(pages, "/schedules/no.such.key", 404)


def test_a_bad_filter_or_cursor_is_explained_not_a_crash(pages: Pages) -> None:
    assert "unknown state" in body(pages, "/jobs", 400, state="sleeping")
    assert "invalid cursor" in body(pages, "/jobs", 400, cursor="not-a-cursor")


# ---------------------------------------------------------------------- live fragments
def test_each_page_points_its_live_region_at_its_own_fragment(dash_app: Conveyor, pages: Pages) -> None:
    ids = populate(dash_app)
    for path in (
        "/",
        "/jobs?state=discarded&queue=default",
        f"/jobs/{ids['ok']}",
        "/failed",
        "/schedules",
        "/schedules/reports.nightly",
        "/batches",
        f"/batches/{ids['batch']}",
        "/locks",
    ):
        html = body(pages, path)
        src = re.search(r'data-live-src="([^"]+)"', html)
        assert src, path
        url = urlparse(src.group(1).replace("&amp;", "&"))
        assert url.path == urlparse(path).path
        assert parse_qs(url.query)["fragment"] == ["1"]
        fragment = body(pages, url.path + "?" + url.query)
        assert "<html" not in fragment and '<nav class="nav"' not in fragment, path


def test_fragment_is_the_live_region_of_the_page(dash_app: Conveyor, pages: Pages) -> None:
    populate(dash_app)
    fragment = body(pages, "/jobs", state="discarded", fragment="1")
    assert fragment.lstrip().startswith('<div class="table-wrap">')
    assert "bad row value" in fragment and "import_rows" not in fragment


def test_every_response_carries_the_failed_count_for_the_navigation_badge(dash_app: Conveyor, pages: Pages) -> None:
    populate(dash_app)
    assert pages.get("/locks", fragment="1").headers["X-Conveyor-Failed"] == "3"
    assert re.search(r"data-failed-count[^>]*>3<", body(pages, "/"))


# ---------------------------------------------------------------------- jobs
def test_jobs_paginate_with_a_cursor_not_an_offset(dash_app: Conveyor, pages: Pages) -> None:
    dash_app.enqueue_many([{"task": "ok", "args": [n]} for n in range(60)])
    first = body(pages, "/jobs")
    assert first.count('<tr data-job="') == 50
    link = re.search(r'href="([^"]+)" rel="next"', first)
    assert link and "cursor=" in link.group(1) and "offset" not in link.group(1)
    second = body(pages, link.group(1).replace("&amp;", "&"))
    assert second.count('<tr data-job="') == 10
    assert "End of list" in second and "← Newest" in second


def test_jobs_filter_by_state_queue_and_task_and_search_arguments(dash_app: Conveyor, pages: Pages) -> None:
    ids = populate(dash_app)
    discarded = body(pages, "/jobs", state="discarded")
    assert f'data-job="{ids["failed_value"]}"' in discarded and f'data-job="{ids["ok"]}"' not in discarded
    imports = body(pages, "/jobs", queue="imports")
    assert f'data-job="{ids["progress"]}"' in imports and f'data-job="{ids["ok"]}"' not in imports
    by_task = body(pages, "/jobs", task="boom")
    assert by_task.count('<tr data-job="') == 3  # two alone, one in the batch
    assert f'data-job="{ids["waiting"]}"' in body(pages, "/jobs", q=str(ids["waiting"]))
    by_text = body(pages, "/jobs", q='"key"')
    assert by_text.count('<tr data-job="') == 1 and f'data-job="{ids["failed_key"]}"' in by_text


def test_job_page_shows_every_attempt_with_its_traceback_and_hides_secrets(dash_app: Conveyor, pages: Pages) -> None:
    ids = populate(dash_app)
    html = body(pages, f"/jobs/{ids['failed_value']}")
    assert "hunter2" not in html and "[redacted]" in html
    assert html.count('<details class="trace"') == 1 and "Attempt 1" in html
    assert f'data-action="POST /api/jobs/{ids["failed_value"]}/retry"' in html


def test_waiting_job_offers_cancel_not_retry(dash_app: Conveyor, pages: Pages) -> None:
    ids = populate(dash_app)
    html = body(pages, f"/jobs/{ids['waiting']}")
    assert f'data-action="POST /api/jobs/{ids["waiting"]}/cancel"' in html and "/retry" not in html


def test_pages_escape_job_arguments(dash_app: Conveyor, pages: Pages) -> None:
    job_id = dash_app.enqueue("ok", kwargs={"n": "<script>alert(1)</script>"})
    for path in ("/jobs", f"/jobs/{job_id}"):
        html = body(pages, path)
        assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html


# ---------------------------------------------------------------------- failed, schedules, batches, login
def test_failed_page_groups_by_task_and_error_class_and_lists_a_group(dash_app: Conveyor, pages: Pages) -> None:
    ids = populate(dash_app)
    html = body(pages, "/failed")
    assert 'data-group="boom|ValueError"' in html and 'data-group="boom|KeyError"' in html
    assert "{&#34;error_class&#34;: &#34;ValueError&#34;, &#34;task&#34;: &#34;boom&#34;}" in html  # retry-all filter
    group = body(pages, "/failed", task="boom", error_class="KeyError")
    listed = set(re.findall(r'<tr data-job="(\d+)"', group))
    assert listed == {str(ids["failed_key"])}


def test_schedules_page_has_an_inline_editor_per_schedule(dash_app: Conveyor, pages: Pages) -> None:
    populate(dash_app)
    html = body(pages, "/schedules")
    assert 'data-schedule-form="reports.nightly"' in html
    assert 'name="cron" value="0 3 * * *"' in html and 'data-error-for="cron"' in html
    assert 'data-schedule-toggle="reports.nightly" checked' in html
    assert "Europe/Prague" in html


def test_batch_page_shows_counts_and_its_failed_jobs(dash_app: Conveyor, pages: Pages) -> None:
    ids = populate(dash_app)
    html = body(pages, f"/batches/{ids['batch']}")
    assert f'data-action="POST /api/batches/{ids["batch"]}/retry-failed"' in html
    assert "Retry 1 failed" in html and "bad row value" in html


def test_login_page_asks_for_what_is_configured(sqlite_url: str) -> None:
    cases = [
        ({"web_token": "t0ken"}, ['name="token"'], ['name="password"']),
        ({"web_user": "ops", "web_password": "pw"}, ['name="username"', 'name="password"'], ['name="token"']),
    ]
    for settings, present, absent in cases:
        app = Conveyor(sqlite_url, **settings)
        app.migrate()
        p = pages_for(app)
        try:
            html = body(p, "/login", next="/failed", error="invalid")
            assert 'name="csrf_token"' in html and 'name="next" value="/failed"' in html and "not right" in html
            assert all(s in html for s in present) and not any(s in html for s in absent)
            assert p.get("/failed").status_code == 303  # not signed in: sent to the login page
        finally:
            p.close()
            app.close()


def test_login_page_without_credentials_goes_to_the_overview(pages: Pages) -> None:
    r = pages.get("/login")
    assert r.status_code == 303 and r.headers["location"].endswith("/")


def test_another_pack_can_add_a_page_in_the_same_layout(dash_app: Conveyor, tmp_path: Path) -> None:
    (tmp_path / "shops.html").write_text(
        '{% extends "base.html" %}{% block content %}<h1>Shops</h1><p>{{ shops|length|number }} shops</p>{% endblock %}'
    )
    nav, loader = list(NAV), templates.env.loader
    try:
        add_nav_item("shops", "Shops", "/shops")
        add_template_dir(tmp_path)
        asgi = create_app(dash_app, monitor=Monitor(dash_app, interval=0.0), start_monitor=False)

        @asgi.get("/shops", response_class=HTMLResponse)
        def shops(request: Request) -> HTMLResponse:
            return render(request, "shops.html", None, active="shops", title="Shops", shops=list(range(1200)))

        p = Pages(asgi)
        try:
            html = body(p, "/shops")
        finally:
            p.close()
        assert "1\u202f200 shops" in html
        assert re.search(r'<a href="/shops" aria-current="page">Shops', html)
        assert html.index('href="/locks"') < html.index('href="/shops"')
    finally:
        NAV[:] = nav
        templates.env.loader = loader


def test_actions_post_to_the_json_api_with_the_csrf_token(dash_app: Conveyor, pages: Pages) -> None:
    ids = populate(dash_app)
    html = body(pages, f"/jobs/{ids['failed_key']}")
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert token and token.group(1) == pages.client.cookies.get("conveyor_csrf")
    r = pages.post(f"/api/jobs/{ids['failed_key']}/retry")
    assert r.status_code == 200, r.text
    assert "available" in body(pages, f"/jobs/{ids['failed_key']}")


# ---------------------------------------------------------------------- charts
def _points(n: int, step: float, completed: int = 3, failed: int = 1) -> list[dict[str, float]]:
    t0 = 1_790_000_000.0
    return [{"t": t0 + i * step, "completed": completed * (i % 5), "failed": failed * (i % 2)} for i in range(n)]


def test_throughput_chart_is_valid_svg_with_axes_labels_and_a_tooltip_per_bar() -> None:
    svg = ET.fromstring(str(charts.hour_chart(_points(60, 60))))
    assert svg.tag == f"{SVG}svg" and svg.get("viewBox")
    texts = ["".join(t.itertext()) for t in svg.iter(f"{SVG}text")]
    assert "now" in texts and "−60 min" in texts and "0" in texts
    bars = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "bar"]
    assert len(bars) == 60
    tips = [b.find(f"{SVG}title") for b in bars]
    assert all(t is not None and "completed" in (t.text or "") and "UTC" in (t.text or "") for t in tips)
    assert any(r.get("class") == "c-bad" for r in svg.iter(f"{SVG}rect"))


def test_day_chart_labels_hours_and_colours_come_from_css_classes() -> None:
    svg = ET.fromstring(str(charts.day_chart(_points(24, 3600))))
    texts = ["".join(t.itertext()) for t in svg.iter(f"{SVG}text")]
    assert "−24 h" in texts and "−12 h" in texts
    for rect in svg.iter(f"{SVG}rect"):
        assert rect.get("class") in {"hit", "c-ok", "c-bad"}


def test_empty_chart_says_so() -> None:
    svg = ET.fromstring(str(charts.hour_chart(_points(60, 60, completed=0, failed=0))))
    assert "No jobs finished this hour" in "".join(svg.itertext())


def test_chart_escapes_its_title() -> None:
    svg = charts.throughput_chart([], bucket_seconds=60, title="<b>&")
    assert "<b>" not in str(svg)
    ET.fromstring(str(svg))


@pytest.mark.parametrize(("span", "step"), [(0, 1), (7, 2), (20, 5), (95, 50), (1234, 500), (40_000, 10_000)])
def test_y_axis_steps_are_round_numbers(span: float, step: float) -> None:
    assert charts.nice_step(span) == step


# ---------------------------------------------------------------------- filters
def test_relative_times_read_like_speech() -> None:
    now = 1_790_000_000.0
    assert filters.reltime(now - 2, now) == "just now"
    assert filters.reltime(now - 42, now) == "42 s ago"
    assert filters.reltime(now - 190, now) == "3 min ago"
    assert filters.reltime(now + 7300, now) == "in 2 h"
    assert filters.reltime(None) == "—"


def test_durations_use_the_largest_sensible_units() -> None:
    assert filters.duration(0.25) == "250 ms"
    assert filters.duration(3.25) == "3.2 s"
    assert filters.duration(252) == "4 min 12 s"
    assert filters.duration(7500) == "2 h 5 min"
    assert filters.duration(7500, precise=False) == "2 h"
    assert filters.duration(90000) == "1 d 1 h"


def test_numbers_have_thin_space_thousands() -> None:
    assert filters.number(1234567) == "1\u202f234\u202f567"
    assert filters.number(12.345) == "12.3"
    assert filters.compact(1234) == "1.2k" and filters.compact(56000) == "56k" and filters.compact(950) == "950"


def test_badges_colour_states_and_escape_text() -> None:
    assert 'class="badge tone-bad"' in filters.badge("discarded")
    assert 'class="badge tone-muted"' in filters.badge("skipped (overlapping)")
    assert "<i>" not in filters.badge("<i>")


def test_times_render_as_time_elements_with_the_exact_instant() -> None:
    tag = filters.time_tag(1_790_000_000.0)
    assert tag.startswith('<time datetime="2026-09-21T') and 'data-ts="1790000000.000"' in tag
    assert filters.isotime(0) == "1970-01-01 00:00:00 UTC"
    assert filters.zoned(1_790_000_000.0, "Europe/Prague", "%H:%M") == "16:13"
    assert filters.zoned(1_790_000_000.0, "Mars/Olympus", "%H:%M") == "14:13 UTC"


def test_progress_words_and_eta() -> None:
    p = {"done": 1500, "total": 4000, "message": "rows", "rate": 12.5, "eta": 200}
    assert filters.progress_words(p) == "1\u202f500 of 4\u202f000 rows"
    assert filters.eta_words(p, "executing") == "12.5/s · about 3 min left"
    assert filters.eta_words(p, "completed") == ""
    assert filters.progress_words(None) == "no progress reported yet"


def test_as_list_reads_lists_json_and_commas() -> None:
    assert filters.as_list('["a", "b"]') == ["a", "b"]
    assert filters.as_list("a, b") == ["a", "b"]
    assert filters.as_list(['["a"]']) == ["a"]


def test_a_job_that_killed_its_worker_says_so_on_its_page(dash_app: Conveyor, pages: Pages) -> None:
    job_id = dash_app.enqueue("ok", [1])
    with dash_app.transaction() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(crashes=2))
    assert "killed its worker 2 times" in body(pages, f"/jobs/{job_id}")
    assert pages.get(f"/api/jobs/{job_id}").json()["crashes"] == 2

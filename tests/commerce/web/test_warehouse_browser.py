"""A real Chromium creates a draft receipt on the Documents page, posts it, and sees the stock change: the
page's form and buttons post to the JSON API with the CSRF token, and the pages show the result."""

from __future__ import annotations

import pytest

from conveyor.commerce import warehouse
from tests.commerce.web.conftest import Web
from tests.conftest import free_port
from tests.web.conftest import CHROMIUM, LiveServer, require_chromium

pytestmark = pytest.mark.browser


def test_a_draft_created_and_posted_in_the_browser_moves_stock(web: Web) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    warehouse.add_warehouse(web.app, "MAIN", "Praha")
    item = warehouse.add_item(web.app, "ABC-1", "Hrnek modrý")
    server = LiveServer(web.app, free_port()).start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM)
            try:
                page = browser.new_page()
                page.on("dialog", lambda dialog: dialog.accept())
                page.goto(f"{server.url}/documents")
                form = page.locator("form[data-new-document]")
                form.locator("select[name=type]").select_option("PZ")

                form.locator("textarea[name=lines]").fill("NOPE-1:3")
                form.get_by_role("button", name="Create draft").click()
                expect(form.locator('[data-error-for="lines"]')).to_contain_text("no catalogue item with SKU 'NOPE-1'")

                form.locator("textarea[name=lines]").fill("ABC-1:7:89.90")
                form.get_by_role("button", name="Create draft").click()
                page.wait_for_url(f"{server.url}/documents/*")
                expect(page.locator("h1")).to_contain_text("PZ draft #")
                expect(page.locator("[data-ledger]")).to_contain_text("Nothing yet")

                page.get_by_role("button", name="Post", exact=True).click()
                expect(page.locator("h1")).to_contain_text("PZ/")
                expect(page.locator("[data-ledger]")).to_contain_text("+7")

                page.goto(f"{server.url}/catalog/{item.id}")
                expect(page.locator('tr[data-warehouse="MAIN"] [data-on-hand]')).to_have_text("7")
            finally:
                browser.close()
    finally:
        server.stop()
    assert [lv.on_hand for lv in warehouse.stock_levels(web.app, "ABC-1")] == [7]

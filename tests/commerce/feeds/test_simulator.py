"""The feed simulator serves realistic supplier feeds: deterministic, valid EANs, cp1250 CSV, XML, validators,
changes over time, access control and every fault it promises.

Every test talks to a real server on loopback (``serve_in_thread``) with httpx, as a feed importer would.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import tracemalloc
from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import Element, fromstring  # the simulator's own output: trusted

import httpx
import pytest
from typer.testing import CliRunner

from conveyor.commerce.feeds.simulator import (
    CSV_COLUMNS,
    FAULTS,
    FORMATS,
    MALFORMED_KINDS,
    TEXT_STOCK_VALUES,
    FeedView,
    SimulatorConfig,
    create_app,
    serve_in_thread,
)
from conveyor.commerce.feeds.simulator.formats import render
from conveyor.commerce.sim import cli as sim_cli

G = "{http://base.google.com/ns/1.0}"
FEED = "/feeds/alfa/stock.csv"


def ean13_is_valid(code: str) -> bool:
    """GS1 check, written independently of the simulator: digits weighted 1,3,1,3… sum to a multiple of 10."""
    if not re.fullmatch(r"\d{13}", code):
        return False
    total = sum(int(digit) * (1 if position % 2 == 0 else 3) for position, digit in enumerate(code[:12]))
    return (total + int(code[12])) % 10 == 0


def csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("cp1250"), newline=""), delimiter=";"))


@pytest.fixture(scope="module")
def feeds() -> Iterator[httpx.Client]:
    """One shared simulator for tests that only read."""
    config = SimulatorConfig(items=400, seed=5, text_stock_share=0.3)
    with serve_in_thread(config) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield client


def serve(**config: Any) -> Any:
    """A simulator of its own, for tests that change it or configure it differently."""
    return serve_in_thread(SimulatorConfig(**{"items": 200, "seed": 5, **config}))


# --- content ---------------------------------------------------------------------------------------------------


def test_the_same_seed_serves_the_same_bytes_and_etag() -> None:
    bodies = []
    for _ in range(2):
        with serve(seed=11) as base:
            response = httpx.get(base + FEED)
            bodies.append((response.content, response.headers["etag"]))
    assert bodies[0] == bodies[1]
    with serve(seed=12) as base:
        other = httpx.get(base + FEED)
    assert other.content != bodies[0][0]
    assert other.headers["etag"] != bodies[0][1]


def test_csv_is_cp1250_with_semicolons_quoted_names_and_decimal_commas(feeds: httpx.Client) -> None:
    response = feeds.get(FEED)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=windows-1250"
    with pytest.raises(UnicodeDecodeError):
        response.content.decode("utf-8")  # really cp1250, not UTF-8
    assert b"\r\n" in response.content
    rows = csv_rows(response.content)
    assert tuple(rows[0]) == CSV_COLUMNS
    assert CSV_COLUMNS == ("kód", "ean", "název", "výrobce", "skladem", "dodací_lhůta", "nákupní_cena")
    data = rows[1:]
    assert len(data) == 400
    assert all(len(row) == 7 for row in data)
    names = " ".join(row[2] for row in data)
    assert set("ěščřžýáíéůťň") <= set(names), "Czech diacritics"
    assert set("ąęłńóśźż") & set(names), "Polish diacritics"
    assert any('12"' in row[2] for row in data), "a name with a double quote, escaped by CSV quoting"
    assert all(re.fullmatch(r"\d+,\d{2}", row[6]) for row in data)
    assert all(row[5].isdigit() for row in data)
    assert all(re.fullmatch(r"[A-Z]{3}-\d{7}", row[0]) for row in data)


def test_every_ean_has_a_valid_check_digit_and_is_unique(feeds: httpx.Client) -> None:
    eans = [row[1] for row in csv_rows(feeds.get(FEED).content)[1:]]
    assert all(ean13_is_valid(ean) for ean in eans), [ean for ean in eans if not ean13_is_valid(ean)]
    assert len(set(eans)) == len(eans)
    assert {ean[:3] for ean in eans} == {"859", "590"}  # Czech and Polish GS1 prefixes


def test_skus_are_unique_and_every_supplier_lists_the_same_items_with_its_own_offer(feeds: httpx.Client) -> None:
    alfa = csv_rows(feeds.get("/feeds/alfa/stock.csv").content)[1:]
    beta = csv_rows(feeds.get("/feeds/beta/stock.csv").content)[1:]
    assert len({row[0] for row in alfa}) == len(alfa)
    assert [row[:4] for row in alfa] == [row[:4] for row in beta]  # SKU, EAN, name, maker
    assert [row[4:] for row in alfa] != [row[4:] for row in beta]  # stock, delivery days, price


def test_stock_is_a_number_or_the_text_real_feeds_use(feeds: httpx.Client) -> None:
    stocks = [row[4] for row in csv_rows(feeds.get(FEED).content)[1:]]
    assert all(stock.isdigit() or stock in TEXT_STOCK_VALUES for stock in stocks)
    texts = {stock for stock in stocks if not stock.isdigit()}
    assert {"skladem", "na dotaz"} <= texts
    assert {">5", "5+"} & texts
    assert "0" in stocks, "some items are out of stock"


def test_gzip_variants_are_the_same_feeds_compressed(feeds: httpx.Client) -> None:
    for name in ("stock.csv", "heureka.xml", "google.xml"):
        plain = feeds.get(f"/feeds/alfa/{name}")
        packed = feeds.get(f"/feeds/alfa/{name}.gz")
        assert packed.headers["content-type"] == "application/gzip"
        assert "content-encoding" not in packed.headers  # a .gz file, not transport compression
        assert packed.content[:2] == b"\x1f\x8b"
        assert gzip.decompress(packed.content) == plain.content


def test_heureka_xml_lists_every_item_as_a_shopitem(feeds: httpx.Client) -> None:
    response = feeds.get("/feeds/alfa/heureka.xml")
    assert response.headers["content-type"] == "application/xml; charset=utf-8"
    shop = fromstring(response.content)
    assert shop.tag == "SHOP"
    items = shop.findall("SHOPITEM")
    csv_data = csv_rows(feeds.get(FEED).content)[1:]
    assert len(items) == len(csv_data)
    for item, row in zip(items, csv_data, strict=True):
        assert item.findtext("ITEM_ID") == row[0]
        assert item.findtext("EAN") == row[1]
        assert item.findtext("PRODUCTNAME") == row[2]
        assert item.findtext("MANUFACTURER") == row[3]
        assert item.findtext("STOCK_QUANTITY") == row[4]
        assert item.findtext("DELIVERY_DATE") == row[5]
        assert item.findtext("PRICE") == row[6].replace(",", ".")
    assert any(item.findtext("MANUFACTURER") == "Dřevo & Hračky s.r.o." for item in items)


def test_google_merchant_rss_uses_the_g_namespace(feeds: httpx.Client) -> None:
    response = feeds.get("/feeds/alfa/google.xml")
    assert response.headers["content-type"] == "application/rss+xml; charset=utf-8"
    rss = fromstring(response.content)
    items: list[Element] = rss.findall("channel/item")
    assert len(items) == 400
    csv_data = {row[0]: row for row in csv_rows(feeds.get(FEED).content)[1:]}
    for item in items:
        row = csv_data[item.findtext(f"{G}id") or ""]
        assert item.findtext("title") == row[2]
        assert item.findtext(f"{G}gtin") == row[1]
        assert item.findtext(f"{G}cost_of_goods_sold") == row[6].replace(",", ".") + " CZK"
        assert item.findtext(f"{G}max_handling_time") == row[5]
        availability = item.findtext(f"{G}availability")
        assert availability == {"0": "out_of_stock", "na dotaz": "backorder"}.get(row[4], "in_stock")
        # Google's quantity is a number: text stock ("skladem", ">5") is left to the availability.
        assert item.findtext(f"{G}quantity") == (row[4] if row[4].isdigit() else None)


def test_an_empty_feed_is_still_a_well_formed_file() -> None:
    with serve(items=0) as base:
        assert csv_rows(httpx.get(base + FEED).content) == [list(CSV_COLUMNS)]
        assert fromstring(httpx.get(base + "/feeds/alfa/heureka.xml").content).findall("SHOPITEM") == []
        assert gzip.decompress(httpx.get(base + "/feeds/alfa/google.xml.gz").content).endswith(b"</rss>\n")


def test_a_feed_streams_in_memory_that_does_not_grow_with_its_size() -> None:
    def peak_while_rendering(items: int) -> tuple[int, int]:
        view = FeedView(1, items, "alfa")
        tracemalloc.start()
        try:
            size = sum(len(chunk) for chunk in render(view, FORMATS["stock.csv.gz"], rows_per_chunk=1_000))
            return size, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small_size, small_peak = peak_while_rendering(3_000)
    large_size, large_peak = peak_while_rendering(15_000)
    assert large_size > 4 * small_size
    assert large_peak < 1.5 * small_peak, f"{small_peak:,} bytes for 3,000 items, {large_peak:,} for 15,000"


# --- validators and changes ------------------------------------------------------------------------------------


def test_if_none_match_with_the_current_etag_answers_304(feeds: httpx.Client) -> None:
    first = feeds.get(FEED)
    again = feeds.get(FEED, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert feeds.get(FEED, headers={"If-None-Match": '"something-else"'}).status_code == 200
    assert feeds.get(FEED, headers={"If-None-Match": "W/" + first.headers["etag"]}).status_code == 304


def test_every_format_and_supplier_has_its_own_etag(feeds: httpx.Client) -> None:
    tags = {feeds.get(f"/feeds/{who}/{name}").headers["etag"] for who in ("alfa", "beta") for name in FORMATS}
    assert len(tags) == 2 * len(FORMATS)


def test_advance_changes_a_share_of_items_and_the_etag() -> None:
    with serve(items=1_000, change_share=0.05) as base, httpx.Client(base_url=base) as client:
        before = client.get(FEED)
        advanced = client.post("/_sim/advance")
        assert advanced.json()["generation"] == 1
        after = client.get(FEED, headers={"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200
        assert after.headers["etag"] != before.headers["etag"]
        old, new = csv_rows(before.content)[1:], csv_rows(after.content)[1:]
        assert [row[:4] for row in old] == [row[:4] for row in new]  # same items
        changed = sum(a != b for a, b in zip(old, new, strict=True))
        assert 25 <= changed <= 50  # 50 items got a new offer; a few drew the same values again
        assert client.get(FEED, headers={"If-None-Match": after.headers["etag"]}).status_code == 304


def test_two_simulators_advanced_alike_serve_the_same_bytes() -> None:
    bodies = []
    for _ in range(2):
        with serve(seed=3) as base:
            httpx.post(base + "/_sim/advance", params={"generations": 3})
            response = httpx.get(base + FEED)
            bodies.append((response.content, response.headers["etag"]))
    assert bodies[0] == bodies[1]


def test_if_modified_since_answers_304_until_the_next_generation() -> None:
    with serve() as base, httpx.Client(base_url=base) as client:
        first = client.get(FEED)
        since = {"If-Modified-Since": first.headers["last-modified"]}
        assert client.get(FEED, headers=since).status_code == 304
        client.post("/_sim/advance")
        # The next generation always carries a later date, even within the same second.
        after = client.get(FEED, headers=since)
        assert after.status_code == 200
        assert after.headers["last-modified"] != first.headers["last-modified"]


def test_changes_fall_due_every_change_every_seconds() -> None:
    now = [1_760_000_000.0]
    app = create_app(SimulatorConfig(items=100, change_every=60.0, change_share=0.1), clock=lambda: now[0])
    with serve_in_thread(app=app) as base, httpx.Client(base_url=base) as client:
        first = client.get(FEED)
        now[0] += 59
        assert client.get(FEED).headers["etag"] == first.headers["etag"]
        now[0] += 1
        second = client.get(FEED)
        assert second.headers["etag"] != first.headers["etag"]
        assert second.headers["last-modified"] == "Thu, 09 Oct 2025 08:54:20 GMT"  # the tick, not the request
        now[0] += 125
        assert client.get("/_sim/stats").json()["generation"] == 3


def test_etag_0_serves_the_same_bytes_without_validators(feeds: httpx.Client) -> None:
    with_tag = feeds.get(FEED)
    without = feeds.get(FEED, params={"etag": "0"}, headers={"If-None-Match": with_tag.headers["etag"]})
    assert without.status_code == 200  # conditional headers are ignored: there is nothing to compare with
    assert without.content == with_tag.content
    assert "etag" not in without.headers
    assert "last-modified" not in without.headers


def test_a_simulator_configured_without_etag_never_sends_validators() -> None:
    with serve(etag=False) as base:
        response = httpx.get(base + FEED, headers={"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"})
    assert response.status_code == 200
    assert "etag" not in response.headers and "last-modified" not in response.headers


# --- access ----------------------------------------------------------------------------------------------------


def test_basic_auth_is_required_when_configured() -> None:
    with serve(username="eshop", password="tajné-heslo") as base:
        missing = httpx.get(base + FEED)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith('Basic realm="supplier feeds"')
        assert httpx.get(base + FEED, auth=("eshop", "wrong")).status_code == 401
        assert httpx.get(base + FEED, headers={"Authorization": "Basic !!!"}).status_code == 401
        assert httpx.get(base + FEED, auth=("eshop", "tajné-heslo")).status_code == 200
        # Auth comes first: a 401 does not reveal whether a feed exists.
        assert httpx.get(base + "/feeds/alfa/nope.csv").status_code == 401


def test_an_api_key_header_is_required_when_configured() -> None:
    with serve(api_key="k-123", api_key_header="X-Feed-Key") as base:
        assert httpx.get(base + FEED).status_code == 401
        assert "www-authenticate" not in httpx.get(base + FEED).headers
        assert httpx.get(base + FEED, headers={"X-Feed-Key": "nope"}).status_code == 401
        assert httpx.get(base + FEED, headers={"X-Feed-Key": "k-123"}).status_code == 200


def test_unknown_feeds_and_suppliers_are_404() -> None:
    with serve(suppliers=("alfa", "beta")) as base:
        assert httpx.get(base + "/feeds/beta/stock.csv").status_code == 200
        unknown_supplier = httpx.get(base + "/feeds/gama/stock.csv")
        assert unknown_supplier.status_code == 404
        assert "no supplier 'gama'" in unknown_supplier.text
        unknown_file = httpx.get(base + "/feeds/alfa/stock.json")
        assert unknown_file.status_code == 404
        assert "stock.csv" in unknown_file.text  # lists the feeds there are
        index = httpx.get(base + "/").json()
        assert f"{base}/feeds/beta/heureka.xml.gz" in index["feeds"]


# --- faults ----------------------------------------------------------------------------------------------------


def test_fault_500_answers_a_server_error(feeds: httpx.Client) -> None:
    assert feeds.get(FEED, params={"fault": "500"}).status_code == 500


def test_fault_401_refuses_even_an_open_feed(feeds: httpx.Client) -> None:
    assert feeds.get(FEED, params={"fault": "401"}).status_code == 401


def test_fault_html200_serves_an_html_error_page_with_status_200(feeds: httpx.Client) -> None:
    response = feeds.get(FEED, params={"fault": "html200"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text.startswith("<!DOCTYPE html>")
    assert "etag" not in response.headers


def test_fault_garbage_serves_binary_bytes_under_the_feeds_content_type(feeds: httpx.Client) -> None:
    response = feeds.get("/feeds/alfa/stock.csv.gz", params={"fault": "garbage"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/gzip"
    assert len(response.content) == 64 * 1024
    assert b"\x00" in response.content
    with pytest.raises(gzip.BadGzipFile):
        gzip.decompress(response.content)


def test_fault_malformed_breaks_a_share_of_rows_in_every_way(feeds: httpx.Client) -> None:
    clean = csv_rows(feeds.get(FEED).content)[1:]
    malformed = feeds.get(FEED, params={"fault": "malformed"})
    assert malformed.headers["etag"] != feeds.get(FEED).headers["etag"]  # different content, different tag
    rows = csv_rows(malformed.content)[1:]
    view = FeedView(5, 400, "alfa", malformed_share=0.05)
    seen = set()
    for i, (good, bad) in enumerate(zip(clean, rows, strict=True)):
        kind = view.malformed_kind(i)
        if kind is None:
            assert bad == good
            continue
        seen.add(kind)
        if kind == "non-numeric stock":
            assert not bad[4].lstrip("-").isdigit() and bad[4] not in TEXT_STOCK_VALUES
        elif kind == "negative stock":
            assert int(bad[4]) < 0
        elif kind == "bad EAN check digit":
            assert bad[1][:12] == good[1][:12] and not ean13_is_valid(bad[1])
        elif kind == "missing SKU":
            assert bad[0] == ""
        else:
            assert bad[0] == clean[i - 1][0]  # the SKU of the item before it
    assert seen == set(MALFORMED_KINDS)


def test_fault_slow_sends_the_headers_then_holds_the_body_back() -> None:
    with (
        serve(slow_seconds=2.0) as base,
        httpx.Client(timeout=httpx.Timeout(5.0, read=0.2)) as client,
        client.stream("GET", base + FEED, params={"fault": "slow"}) as response,
    ):
        assert response.status_code == 200  # headers came at once
        with pytest.raises(httpx.ReadTimeout):
            response.read()


def test_fault_truncated_declares_the_full_length_and_closes_half_way(feeds: httpx.Client) -> None:
    full = len(feeds.get(FEED).content)
    with feeds.stream("GET", FEED, params={"fault": "truncated"}) as response:
        assert int(response.headers["content-length"]) == full
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()
        assert response.num_bytes_downloaded == full // 2


def test_faults_can_be_configured_for_every_request() -> None:
    with serve(faults=("500",)) as base:
        assert httpx.get(base + FEED).status_code == 500
        assert httpx.get(base + "/feeds/beta/heureka.xml").status_code == 500


def test_several_faults_combine(feeds: httpx.Client) -> None:
    with (
        feeds.stream("GET", "/feeds/alfa/stock.csv.gz", params={"fault": ["malformed", "truncated"]}) as response,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        response.read()
    assert feeds.get(FEED, params={"fault": "html200,500"}).status_code == 500  # 500 takes precedence


def test_an_unknown_fault_is_a_400_naming_the_known_ones(feeds: httpx.Client) -> None:
    response = feeds.get(FEED, params={"fault": "slowly"})
    assert response.status_code == 400
    assert response.text == f"unknown fault slowly; known faults: {', '.join(FAULTS)}\n"


def test_stats_count_requests_304s_and_bytes() -> None:
    with serve() as base, httpx.Client(base_url=base) as client:
        first = client.get(FEED)
        client.get(FEED, headers={"If-None-Match": first.headers["etag"]})
        client.get(FEED, params={"fault": "500"})
        stats = client.get("/_sim/stats").json()
    assert stats["feed_requests"] == 3
    assert stats["not_modified"] == 1
    assert stats["bytes_sent"] == len(first.content)
    assert stats["by_status"] == {"200": 1, "304": 1, "500": 1}
    assert stats["by_fault"] == {"500": 1}
    assert stats["by_feed"] == {"alfa/stock.csv": 3}


# --- configuration and command line ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"items": -1}, "items must not be negative"),
        ({"change_share": 1.5}, "change_share must be between 0 and 1, got 1.5"),
        ({"change_every": 0}, "change_every must be positive"),
        ({"faults": ("500", "boom")}, "unknown fault(s) boom (known: 401, 500, html200"),
        ({"suppliers": ("a/b",)}, "supplier name(s) 'a/b' cannot be a URL path segment"),
        ({"username": "u"}, "set both username and password"),
    ],
)
def test_a_bad_configuration_says_what_is_wrong(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="invalid feed simulator configuration") as info:
        SimulatorConfig(**settings)
    assert message in str(info.value)


def test_the_command_line_builds_the_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[SimulatorConfig, str, int]] = []
    monkeypatch.setattr(
        "conveyor.commerce.feeds.simulator.run",
        lambda config, host, port: started.append((config, host, port)),
    )
    result = CliRunner().invoke(
        sim_cli,
        ["feeds", "--items", "50", "--seed", "4", "--port", "9999", "--fault", "slow,malformed", "--fault", "500",
         "--change-every", "1m", "--latency", "50ms", "--supplier", "alfa", "--no-etag", "--api-key", "k"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config, host, port = started[0]
    assert (host, port) == ("127.0.0.1", 9999)
    assert config.items == 50 and config.seed == 4 and config.suppliers == ("alfa",)
    assert config.faults == ("slow", "malformed", "500")
    assert config.change_every == 60.0 and config.latency == 0.05 and config.etag is False
    assert "http://127.0.0.1:9999/feeds/alfa/" in result.output
    assert "X-Api-Key: k" in result.output


def test_the_command_line_rejects_an_unknown_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("conveyor.commerce.feeds.simulator.run", lambda *a, **k: pytest.fail("should not start"))
    result = CliRunner().invoke(sim_cli, ["feeds", "--fault", "explode"])
    assert result.exit_code == 2
    assert "unknown fault(s) explode" in " ".join(result.output.replace("│", " ").split())

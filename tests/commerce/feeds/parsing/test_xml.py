"""XML feeds: Heureka, Google Merchant, configured item paths, encodings, and documents that are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.commerce.feeds.errors import FeedEncodingError, FeedFormatError
from conveyor.commerce.feeds.parsing import open_feed
from tests.commerce.feeds.parsing.files import CZECH, POLISH, ean13, good_rows, read_all, write

HEUREKA = f"""<?xml version="1.0" encoding="windows-1250"?>
<SHOP>
  <SHOPITEM>
    <ITEM_ID>AB-1</ITEM_ID>
    <PRODUCTNAME>{CZECH}</PRODUCTNAME>
    <EAN>{ean13(1)}</EAN>
    <PRODUCTNO>MFR-77</PRODUCTNO>
    <DELIVERY_DATE>0</DELIVERY_DATE>
    <PARAM><PARAM_NAME>Barva</PARAM_NAME><VAL>modrá</VAL></PARAM>
    <PARAM><PARAM_NAME>Velikost</PARAM_NAME><VAL>XL</VAL></PARAM>
    <DELIVERY><DELIVERY_ID>PPL</DELIVERY_ID><DELIVERY_PRICE>99</DELIVERY_PRICE></DELIVERY>
    <DESCRIPTION><![CDATA[<p>Popis &amp; více</p>]]></DESCRIPTION>
  </SHOPITEM>
  <SHOPITEM>
    <ITEM_ID>AB-2</ITEM_ID>
    <PRODUCTNAME>Šroub &amp; matice</PRODUCTNAME>
    <DELIVERY_DATE>2026-12-03</DELIVERY_DATE>
  </SHOPITEM>
</SHOP>
"""

GOOGLE = f"""<?xml version="1.0"?>
<rss xmlns:g="http://base.google.com/ns/1.0" version="2.0">
  <channel>
    <title>Sklad</title>
    <link>https://example.pl</link>
    <item>
      <g:id>PL-1</g:id>
      <title>{POLISH}</title>
      <g:gtin>{ean13(2)}</g:gtin>
      <g:mpn>X-1</g:mpn>
      <g:availability>in_stock</g:availability>
      <g:price>123.50 PLN</g:price>
    </item>
    <item>
      <g:id>PL-2</g:id>
      <g:availability>out_of_stock</g:availability>
      <g:price>9.99 PLN</g:price>
    </item>
  </channel>
</rss>
"""


def test_heureka_shop_items_are_read_with_their_direct_children(tmp_path: Path) -> None:
    with open_feed(write(tmp_path / "heureka.xml", HEUREKA, "cp1250")) as feed:
        assert (feed.format, feed.item_path, feed.encoding) == ("xml", "SHOP/SHOPITEM", "cp1250")
        assert feed.headers == [
            "ITEM_ID", "PRODUCTNAME", "EAN", "PRODUCTNO", "DELIVERY_DATE", "PARAM", "DELIVERY", "DESCRIPTION"
        ]  # fmt: skip
        rows = good_rows(feed)
    first = rows[0][1]
    assert rows[0][0] == 1 and rows[1][0] == 2  # an item's "line" is its ordinal
    assert first["PRODUCTNAME"] == CZECH
    assert first["DESCRIPTION"] == "<p>Popis &amp; více</p>"
    assert first["PARAM"] == ""  # grandchildren are not read
    assert rows[1][1] == {"ITEM_ID": "AB-2", "PRODUCTNAME": "Šroub & matice", "DELIVERY_DATE": "2026-12-03"}


def test_google_merchant_rss_keeps_the_namespace_prefix(tmp_path: Path) -> None:
    with open_feed(write(tmp_path / "google.xml", GOOGLE)) as feed:
        assert feed.item_path == "rss/channel/item"
        assert feed.headers == ["g:id", "title", "g:gtin", "g:mpn", "g:availability", "g:price"]
        rows = good_rows(feed)
    assert rows[0][1]["title"] == POLISH
    assert rows[1][1] == {"g:id": "PL-2", "g:availability": "out_of_stock", "g:price": "9.99 PLN"}


def test_heureka_availability_feed_item_attributes_are_columns(tmp_path: Path) -> None:
    xml = """<item_list>
      <item id="536234275543"><stock_quantity>13</stock_quantity>
        <delivery_time orderDeadline="2011-09-10 12:00">2011-09-11 13:00</delivery_time>
        <depot id="434"><stock_quantity>2</stock_quantity></depot></item>
      <item id="536234275544"><stock_quantity>0</stock_quantity></item>
    </item_list>"""
    with open_feed(write(tmp_path / "availability.xml", xml)) as feed:
        assert feed.headers == ["@id", "stock_quantity", "delivery_time", "depot"]
        rows = good_rows(feed)
    assert rows[0][1]["stock_quantity"] == "13"  # the item's own, not the depot's
    assert rows[1][1] == {"@id": "536234275544", "stock_quantity": "0"}


def test_a_configured_item_path_is_used(tmp_path: Path) -> None:
    xml = "<export><meta><x>1</x></meta><products><product><code>A</code></product>" + (
        "<product><code>B</code></product></products></export>"
    )
    with open_feed(write(tmp_path / "feed.xml", xml), item_path="products/product") as feed:
        assert [row["code"] for _, row in good_rows(feed)] == ["A", "B"]
    with open_feed(write(tmp_path / "feed.xml", xml), item_path="/export/products/product") as feed:
        assert len(good_rows(feed)) == 2


def test_an_unknown_layout_is_discovered_as_the_shallowest_repeating_element(tmp_path: Path) -> None:
    items = "".join(f"<zbozi><kod>K{i}</kod><sklad><mnozstvi>{i}</mnozstvi></sklad></zbozi>" for i in range(3))
    with open_feed(write(tmp_path / "feed.xml", f"<katalog><polozky>{items}</polozky></katalog>")) as feed:
        assert feed.item_path == "katalog/polozky/zbozi"
        assert [row["kod"] for _, row in good_rows(feed)] == ["K0", "K1", "K2"]


def test_repeated_children_keep_their_first_value(tmp_path: Path) -> None:
    xml = "<SHOP><SHOPITEM><ITEM_ID>1</ITEM_ID><IMGURL>a</IMGURL><IMGURL>b</IMGURL></SHOPITEM></SHOP>"
    with open_feed(write(tmp_path / "feed.xml", xml)) as feed:
        assert good_rows(feed) == [(1, {"ITEM_ID": "1", "IMGURL": "a"})]


def test_no_items_at_the_configured_path_says_what_the_root_is(tmp_path: Path) -> None:
    with pytest.raises(FeedFormatError) as caught:
        open_feed(write(tmp_path / "feed.xml", HEUREKA, "cp1250"), item_path="products/product")
    assert str(caught.value) == (
        "no <product> items in the XML (item path 'products/product'); its root element is <SHOP>: "
        "configure the item path"
    )


@pytest.mark.parametrize("encoding", ["utf-8", "cp1250", "iso-8859-2"])
def test_xml_declaration_encoding_is_honoured(tmp_path: Path, encoding: str) -> None:
    xml = f'<?xml version="1.0" encoding="{encoding}"?><SHOP><SHOPITEM><N>{CZECH}</N></SHOPITEM></SHOP>'
    with open_feed(write(tmp_path / "feed.xml", xml, encoding)) as feed:
        assert good_rows(feed) == [(1, {"N": CZECH})]


def test_xml_without_a_declaration_in_cp1250_is_detected(tmp_path: Path) -> None:
    with open_feed(write(tmp_path / "feed.xml", f"<SHOP><SHOPITEM><N>{CZECH}</N></SHOPITEM></SHOP>", "cp1250")) as feed:
        assert feed.encoding == "cp1250"
        assert good_rows(feed) == [(1, {"N": CZECH})]


def test_a_declared_encoding_overrides_a_wrong_xml_declaration(tmp_path: Path) -> None:
    xml = f'<?xml version="1.0" encoding="utf-8"?><SHOP><SHOPITEM><N>{POLISH}</N></SHOPITEM></SHOP>'
    with open_feed(write(tmp_path / "feed.xml", xml, "iso-8859-2"), encoding="iso-8859-2") as feed:
        assert good_rows(feed) == [(1, {"N": POLISH})]


def test_an_xml_declaration_that_lies_about_utf8_names_the_line(tmp_path: Path) -> None:
    xml = f'<?xml version="1.0" encoding="utf-8"?>\n<SHOP>\n<SHOPITEM><N>{CZECH}</N></SHOPITEM></SHOP>'
    with pytest.raises(FeedEncodingError) as caught:
        read_all(write(tmp_path / "feed.xml", xml, "cp1250"))
    assert str(caught.value) == (
        "line 3: the bytes do not decode as utf-8 (as the XML declaration says): declare the encoding of the "
        "import task (cp1250? iso-8859-2?)"
    )


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    lol = '<?xml version="1.0"?>\n<!DOCTYPE SHOP [\n <!ENTITY lol "lol">\n'
    lol += "".join(f' <!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">\n' for i in range(1, 10))
    lol += "]>\n<SHOP><SHOPITEM><N>&lol9;</N></SHOPITEM></SHOP>"
    with pytest.raises(FeedFormatError) as caught:
        open_feed(write(tmp_path / "feed.xml", lol))
    assert str(caught.value) == "the XML declares entities; refused (entity expansion attack?)"


def test_external_entities_are_refused(tmp_path: Path) -> None:
    xxe = '<?xml version="1.0"?><!DOCTYPE SHOP [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    xxe += "<SHOP><SHOPITEM><N>&xxe;</N></SHOPITEM></SHOP>"
    with pytest.raises(FeedFormatError, match=r"^the XML declares entities; refused \(entity expansion attack\?\)$"):
        open_feed(write(tmp_path / "feed.xml", xxe), item_path="SHOP/SHOPITEM")


def test_parameter_entities_and_external_dtds_are_never_fetched(tmp_path: Path) -> None:
    xml = '<?xml version="1.0"?><!DOCTYPE SHOP SYSTEM "http://127.0.0.1:9/never.dtd">'
    xml += "<SHOP><SHOPITEM><N>1</N></SHOPITEM><SHOPITEM><N>2</N></SHOPITEM></SHOP>"
    with open_feed(write(tmp_path / "feed.xml", xml)) as feed:
        assert len(good_rows(feed)) == 2
    pe = '<?xml version="1.0"?><!DOCTYPE SHOP [<!ENTITY % ext SYSTEM "file:///etc/passwd"> %ext;]><SHOP/>'
    with pytest.raises(FeedFormatError, match=r"^the XML declares entities"):
        open_feed(write(tmp_path / "pe.xml", pe))


def test_malformed_xml_names_line_and_column(tmp_path: Path) -> None:
    xml = "<SHOP>\n<SHOPITEM><N>1</N></SHOPITEM>\n<SHOPITEM><N>2</X></SHOPITEM>\n</SHOP>"
    with pytest.raises(FeedFormatError) as caught:
        read_all(write(tmp_path / "feed.xml", xml))
    assert str(caught.value) == "the XML is not well-formed: mismatched tag at line 3, column 17"


def test_xml_cut_short_fails_after_the_items_before_the_cut(tmp_path: Path) -> None:
    xml = "<SHOP>\n" + "".join(f"<SHOPITEM><N>{i}</N></SHOPITEM>\n" for i in range(100)) + "<SHOPITEM><N>1"
    feed = open_feed(write(tmp_path / "feed.xml", xml))
    seen = []
    with feed, pytest.raises(FeedFormatError) as caught:
        for _, row in feed.rows():
            seen.append(row)
    assert len(seen) == 100
    assert str(caught.value) == (
        "the XML ends early (no element found at line 102, column 15): the download was cut short? Nothing is "
        "imported from an incomplete feed"
    )


def test_leading_blank_lines_before_the_declaration_are_tolerated(tmp_path: Path) -> None:
    xml = '\n\n<?xml version="1.0"?>\n<SHOP>\n<SHOPITEM><N>1</N></SHOPITEM>\n<SHOPITEM><N>2</X></SHOPITEM></SHOP>'
    with pytest.raises(FeedFormatError, match=r"mismatched tag at line 6, column 17$"):
        read_all(write(tmp_path / "feed.xml", xml))


def test_an_element_text_over_the_limit_is_refused(tmp_path: Path) -> None:
    xml = "<SHOP><SHOPITEM><N>1</N></SHOPITEM><SHOPITEM><D>" + "x" * 5000 + "</D></SHOPITEM></SHOP>"
    with pytest.raises(FeedFormatError) as caught:
        read_all(write(tmp_path / "feed.xml", xml), max_line_bytes=1000)
    assert str(caught.value) == (
        "item 2: the value of <D> is longer than 1,000 characters (the limit is max_line_bytes)"
    )


def test_declaring_xml_for_a_csv_feed_says_so(tmp_path: Path) -> None:
    with pytest.raises(FeedFormatError) as caught:
        open_feed(write(tmp_path / "feed.csv", "sku;stock\nA;1\n"), format="xml")
    assert str(caught.value) == (
        "the import task says XML but the feed does not start with '<' (it starts 'sku;stock'): "
        "set the format to CSV (or auto)"
    )


def test_gzipped_xml_is_read(tmp_path: Path) -> None:
    with open_feed(write(tmp_path / "feed", GOOGLE, compress="gzip")) as feed:
        assert (feed.format, feed.compression) == ("xml", "gzip")
        assert len(good_rows(feed)) == 2


@pytest.mark.parametrize(("encoding", "text"), [("cp1250", CZECH), ("iso-8859-2", POLISH), ("utf-8", POLISH)])
def test_an_ascii_start_of_an_undeclared_xml_is_settled_by_the_first_other_bytes(
    tmp_path: Path, encoding: str, text: str
) -> None:
    items = "".join(f"<SHOPITEM><N>plain {i}</N></SHOPITEM>\n" for i in range(3000))  # > the 64 KB sample
    path = write(tmp_path / "feed.xml", f"<SHOP>\n{items}<SHOPITEM><N>{text}</N></SHOPITEM></SHOP>", encoding)
    with open_feed(path) as feed:
        last = good_rows(feed)[-1]
        assert (feed.encoding, last) == ({"iso-8859-2": "iso8859-2"}.get(encoding, encoding), (3001, {"N": text}))

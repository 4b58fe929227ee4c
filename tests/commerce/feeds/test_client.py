"""The feed client downloads a supplier's feed to a file — streamed, checksummed, conditional — and every
failure is one message saying what to check, with nothing left behind in the download directory.

Downloads go over real HTTP to the feed simulator on loopback.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conveyor.commerce.feeds.client import Download, Validators, download
from conveyor.commerce.feeds.errors import FeedDownloadError
from conveyor.commerce.feeds.simulator import SimulatorConfig, serve_in_thread

FEED = "/feeds/alfa/stock.csv"


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    """One shared simulator for tests that do not change it."""
    with serve_in_thread(SimulatorConfig(items=300, seed=5)) as url:
        yield url


def serve(**config: Any) -> Any:
    return serve_in_thread(SimulatorConfig(**{"items": 300, "seed": 5, **config}))


def left_in(directory: Path) -> list[str]:
    """Everything in the download directory, temporary files included."""
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def fails(source: str | os.PathLike[str], dest: Path, **kwargs: Any) -> FeedDownloadError:
    """Download expecting a FeedDownloadError; check nothing was left behind; return the error."""
    with pytest.raises(FeedDownloadError) as info:
        download(source, dest, **kwargs)
    assert left_in(dest) == [], "a failed download must leave nothing behind"
    return info.value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- downloading -----------------------------------------------------------------------------------------------


def test_a_feed_is_downloaded_to_a_file_with_its_checksum_size_and_validators(base: str, tmp_path: Path) -> None:
    expected = httpx.get(base + FEED)
    got = download(base + FEED, tmp_path)
    assert isinstance(got, Download) and not got.unchanged
    assert got.path is not None and got.path.parent == tmp_path
    assert got.path.read_bytes() == expected.content
    assert got.sha256 == hashlib.sha256(expected.content).hexdigest()
    assert got.size == len(expected.content)
    assert got.path.name == f"feed-{got.sha256[:16]}.csv"
    assert got.etag == expected.headers["etag"]
    assert got.last_modified == expected.headers["last-modified"]
    assert got.content_type == "text/csv; charset=windows-1250"
    assert got.status == 200
    assert got.source == base + FEED
    assert got.elapsed > 0
    assert left_in(tmp_path) == [got.path.name]  # no temporary file left over


def test_the_download_directory_is_created_and_the_file_can_be_named(base: str, tmp_path: Path) -> None:
    dest = tmp_path / "feeds" / "6"
    got = download(base + FEED, dest, filename="latest.csv")
    assert got.path == dest / "latest.csv"
    assert left_in(dest) == ["latest.csv"]


def test_with_the_previous_validators_an_unchanged_feed_is_not_downloaded(base: str, tmp_path: Path) -> None:
    first = download(base + FEED, tmp_path / "1")
    again = download(base + FEED, tmp_path / "2", previous=first.validators)
    assert again.unchanged
    assert again.status == 304
    assert (again.path, again.sha256, again.size) == (None, None, 0)
    assert again.validators == first.validators  # what to send next time
    assert left_in(tmp_path / "2") == []


def test_last_modified_alone_makes_the_request_conditional(base: str, tmp_path: Path) -> None:
    first = download(base + FEED, tmp_path)
    again = download(base + FEED, tmp_path, previous=Validators(last_modified=first.last_modified))
    assert again.unchanged


def test_a_changed_feed_is_downloaded_again_with_new_validators(tmp_path: Path) -> None:
    with serve() as url:
        first = download(url + FEED, tmp_path / "1")
        httpx.post(url + "/_sim/advance")
        second = download(url + FEED, tmp_path / "2", previous=first.validators)
    assert not second.unchanged
    assert second.etag != first.etag
    assert second.sha256 != first.sha256


def test_identical_content_served_without_validators_has_the_same_sha256(base: str, tmp_path: Path) -> None:
    first = download(base + FEED + "?etag=0", tmp_path / "1")
    second = download(base + FEED + "?etag=0", tmp_path / "2", previous=first.validators)
    assert not second.unchanged  # the server cannot tell: the caller compares checksums
    assert first.etag is None and first.last_modified is None
    assert second.sha256 == first.sha256


def test_a_gzipped_feed_is_stored_as_published(base: str, tmp_path: Path) -> None:
    got = download(base + "/feeds/alfa/stock.csv.gz", tmp_path)
    assert got.path is not None and got.path.name.endswith(".csv.gz")
    assert got.path.read_bytes()[:2] == b"\x1f\x8b"
    assert gzip.decompress(got.path.read_bytes()) == httpx.get(base + FEED).content
    assert got.content_type == "application/gzip"


def test_basic_auth_and_api_key_headers_are_sent(tmp_path: Path) -> None:
    with serve(username="eshop", password="tajné") as url:
        assert download(url + FEED, tmp_path / "1", auth=("eshop", "tajné")).size > 0
    with serve(api_key="k-1") as url:
        assert download(url + FEED, tmp_path / "2", headers={"X-Api-Key": "k-1"}).size > 0


def test_what_the_server_sends_with_status_200_is_downloaded_for_the_parser_to_judge(base: str, tmp_path: Path) -> None:
    got = download(base + FEED + "?fault=html200", tmp_path)
    assert got.content_type == "text/html; charset=utf-8"
    assert got.path is not None and got.path.read_bytes().startswith(b"<!DOCTYPE html>")


# --- local files -----------------------------------------------------------------------------------------------


def test_a_local_path_is_copied_with_its_checksum(tmp_path: Path) -> None:
    source = tmp_path / "supplier" / "sklad.csv"
    source.parent.mkdir()
    source.write_bytes("kód;ean\nMIK-1;8593526687647\n".encode("cp1250"))
    for given in (str(source), source, source.as_uri()):
        dest = tmp_path / f"dest-{type(given).__name__}-{str(given)[:4]}"
        got = download(given, dest)
        assert got.path is not None and got.path.read_bytes() == source.read_bytes()
        assert got.path.parent == dest and got.path.suffix == ".csv"
        assert got.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
        assert got.status is None and got.source == str(source)
        assert got.content_type == "text/csv"


def test_an_untouched_local_file_is_unchanged_and_a_rewritten_one_is_not(tmp_path: Path) -> None:
    source = tmp_path / "feed.csv"
    source.write_bytes(b"a;b\n1;2\n")
    first = download(source, tmp_path / "1")
    assert download(source, tmp_path / "2", previous=first.validators).unchanged
    source.write_bytes(b"a;b\n1;3\n")
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 1_000_000))
    assert not download(source, tmp_path / "3", previous=first.validators).unchanged


# --- errors: each one message, nothing left behind -------------------------------------------------------------


def test_an_unreachable_host_says_where_it_could_not_connect(tmp_path: Path) -> None:
    port = free_port()
    error = fails(f"http://127.0.0.1:{port}/feeds/alfa/stock.csv", tmp_path)
    assert str(error) == f"cannot connect to 127.0.0.1:{port}: Connection refused"
    assert error.status is None


def test_missing_credentials_are_asked_for(tmp_path: Path) -> None:
    with serve(username="eshop", password="tajné") as url:
        error = fails(url + FEED, tmp_path)
    assert str(error) == (
        "the feed asks for credentials (HTTP 401) and none were given: set a user/password or an API key header"
    )
    assert error.status == 401


def test_refused_credentials_say_to_check_them(tmp_path: Path) -> None:
    with serve(username="eshop", password="tajné") as url:
        error = fails(url + FEED, tmp_path, auth=("eshop", "wrong"))
    assert str(error) == "the feed refused the credentials (HTTP 401): check the user/password or header"
    assert error.status == 401


def test_a_missing_feed_says_to_check_the_address(base: str, tmp_path: Path) -> None:
    error = fails(base + "/feeds/alfa/stock.json", tmp_path)
    assert str(error) == f"no feed at this URL (HTTP 404): check the address {base}/feeds/alfa/stock.json"
    assert error.status == 404


def test_a_server_error_says_to_try_again_later(base: str, tmp_path: Path) -> None:
    error = fails(base + FEED + "?fault=500", tmp_path)
    assert str(error) == (
        f"the feed server failed (HTTP 500) for {base}{FEED}?…: try again later, and tell the supplier if it persists"
    )
    assert error.status == 500


def test_a_body_cut_short_says_how_much_arrived_and_leaves_no_file(base: str, tmp_path: Path) -> None:
    full = len(httpx.get(base + FEED).content)
    error = fails(base + FEED + "?fault=truncated", tmp_path)
    assert str(error).startswith(f"the download was cut short: {full // 2:,} of {full:,} bytes from {base}{FEED}?…")
    assert re.search(r"\d,\d{3} of \d{1,3},\d{3} bytes", str(error))  # thousands separators


def test_a_cut_short_gzip_feed_leaves_no_file(base: str, tmp_path: Path) -> None:
    error = fails(base + "/feeds/alfa/heureka.xml.gz?fault=truncated", tmp_path)
    assert "the download was cut short" in str(error)


def test_a_server_that_stops_sending_times_out_with_a_message(tmp_path: Path) -> None:
    with serve(slow_seconds=1.5) as url:
        error = fails(url + FEED + "?fault=slow", tmp_path, timeout=0.2)
    assert str(error) == (
        f"the feed at {url}{FEED}?… sent nothing for 0.2 s (timeout) after 0 bytes: the server is slow or stuck; "
        "try again later or raise the timeout"
    )


def test_a_download_over_its_total_time_limit_stops(tmp_path: Path) -> None:
    with serve(slow_seconds=0.5) as url:
        error = fails(url + FEED + "?fault=slow", tmp_path, timeout=5, total_timeout=0.1)
    assert "took longer than 0.1 s (total_timeout)" in str(error)


def test_a_feed_over_max_bytes_is_refused(base: str, tmp_path: Path) -> None:
    error = fails(base + FEED, tmp_path, max_bytes=1_000)
    assert str(error) == (
        f"the feed at {base}{FEED} is over the limit of 1,000 bytes: raise max_bytes if it really is that big"
    )


def test_a_declared_length_over_max_bytes_is_refused_before_reading(base: str, tmp_path: Path) -> None:
    full = len(httpx.get(base + FEED).content)
    error = fails(base + FEED + "?fault=truncated", tmp_path, max_bytes=1_000)  # declares Content-Length
    assert str(error).startswith(f"the feed at {base}{FEED}?… is {full:,} bytes, over the limit of 1,000 bytes")


def test_a_missing_local_file_says_to_check_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "feed.csv"
    error = fails(str(missing), tmp_path / "dest")
    assert str(error) == f"no feed file at {missing}: check the path (it is read on the machine the worker runs on)"
    assert str(fails(missing.as_uri(), tmp_path / "dest")) == str(error)


def test_a_directory_is_not_a_feed_file(tmp_path: Path) -> None:
    (tmp_path / "feeds").mkdir()
    error = fails(tmp_path / "feeds", tmp_path / "dest")
    assert str(error) == f"{tmp_path / 'feeds'} is a directory, not a feed file: name the file itself"


def test_a_download_directory_that_cannot_be_written_is_named(base: str, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(FeedDownloadError, match=f"^cannot write the download to {re.escape(str(not_a_dir))}: "):
        download(base + FEED, not_a_dir)


def test_an_unsupported_scheme_names_the_ones_that_work(tmp_path: Path) -> None:
    error = fails("ftp://feeds.example.com/stock.csv", tmp_path)
    assert str(error) == (
        "cannot download 'ftp://feeds.example.com/stock.csv': the 'ftp' scheme is not supported; use an http:// "
        "or https:// URL, a file:// URL or a local path"
    )
    assert "only files on this machine" in str(fails("file://server/share/feed.csv", tmp_path))


def test_credentials_in_the_url_never_appear_in_messages(base: str, tmp_path: Path) -> None:
    url = base.replace("http://", "http://eshop:s3cret@") + "/feeds/alfa/nope.csv?key=t0ken"
    error = fails(url, tmp_path)
    assert "s3cret" not in str(error) and "t0ken" not in str(error) and "eshop" not in str(error)
    assert str(error).endswith(f"check the address {base}/feeds/alfa/nope.csv?…")

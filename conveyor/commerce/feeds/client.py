"""Download a supplier's feed to a file: streamed, checksummed, conditional, with errors a user can act on.

```python
from conveyor.commerce.feeds.client import Validators, download

got = download("https://b2b.example.cz/export/stock.csv", "/var/lib/conveyor/feeds/6",
               previous=Validators(etag=last.etag, last_modified=last.last_modified),
               auth=("eshop", "secret"))          # or headers={"X-Api-Key": "…"}
if got.unchanged:                                  # 304: nothing downloaded, nothing to import
    ...
else:
    parse(got.path)                                # got.sha256 == last run's? the content did not change
```

Why it works like this:

* **Never the whole feed in memory.** The body streams to a temporary file in ``dest_dir`` while its SHA-256 and
  size are computed; only a complete body is renamed to its final name. Any failure removes the temporary file,
  so a half-downloaded feed can never be imported.
* **Conditional GET.** The previous run's ``ETag``/``Last-Modified`` go out as ``If-None-Match``/
  ``If-Modified-Since``; a 304 returns ``Download(unchanged=True)`` with no file, in one round trip. Servers
  without validators still re-send identical bytes: compare ``sha256`` with the previous run's to skip those.
* **Local files too.** A path or ``file://`` URL is copied the same way (so the import reads a snapshot the
  supplier cannot overwrite mid-run). A local file's ETag is its size and modification time in nanoseconds,
  as nginx builds one, so an untouched file is ``unchanged`` without being read.
* **The file is the feed as published.** A ``.gz`` feed stays gzipped (the parser unpacks it); only transport
  compression (``Content-Encoding``) is undone. ``max_bytes`` counts the bytes written, so a compressed
  transfer cannot expand past it.
* **Synchronous.** Feed imports run in worker threads; ``timeout`` bounds each network wait (connect, and
  each read), ``total_timeout`` the whole download.

Every failure is a :class:`~conveyor.commerce.feeds.errors.FeedDownloadError` whose message says what to check
(``status`` holds the HTTP status when there was one). Credentials never appear in messages or logs: URLs are
shown without user info or query string.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import mimetypes
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import httpx

from conveyor.commerce.feeds.errors import FeedDownloadError

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_TIMEOUT", "USER_AGENT", "Download", "Validators", "download"]

log = logging.getLogger("conveyor.commerce.feeds")

#: Feeds larger than this are refused unless the caller raises ``max_bytes`` (real feeds are at most a few
#: hundred MB; a bigger answer is usually a misconfigured server streaming something else).
DEFAULT_MAX_BYTES = 2 * 1024**3
#: Seconds to wait for a connection, and for each read of the body.
DEFAULT_TIMEOUT = 60.0
USER_AGENT = "Conveyor feed importer (+https://github.com/conveyor)"
_CHUNK = 1024 * 1024
_SAFE_SUFFIX = re.compile(r"^(\.[A-Za-z0-9]{1,8}){1,2}$")


@dataclass(frozen=True)
class Validators:
    """What a server said identifies a feed's content: sent back on the next run to ask "has it changed?"."""

    etag: str | None = None
    #: An HTTP date, kept as the server wrote it (it is only ever sent back).
    last_modified: str | None = None

    def request_headers(self) -> dict[str, str]:
        """``If-None-Match``/``If-Modified-Since`` for a conditional GET."""
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass(frozen=True)
class Download:
    """The result of one download: a file (``path``) with its checksum, or ``unchanged`` and no file."""

    #: The source as shown to users: the URL without user info or query string, or the local path.
    source: str
    #: The server answered 304 (or the local file's size and mtime match): nothing was downloaded.
    unchanged: bool
    path: Path | None
    sha256: str | None
    size: int
    etag: str | None
    last_modified: str | None
    content_type: str | None
    #: Seconds from the request to the file in place.
    elapsed: float
    #: The HTTP status (200, 304…); None for a local file.
    status: int | None = None

    @property
    def validators(self) -> Validators:
        """What to pass as ``previous`` next time."""
        return Validators(self.etag, self.last_modified)


def download(
    source: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    *,
    previous: Validators | None = None,
    auth: tuple[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    total_timeout: float | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    filename: str | None = None,
    client: httpx.Client | None = None,
) -> Download:
    """Fetch the feed at ``source`` (an http(s) URL, a ``file://`` URL or a local path) into ``dest_dir``.

    ``previous`` makes the request conditional. ``auth`` is a (user, password) for HTTP basic auth; ``headers``
    are sent as well (an API key, say ``{"X-Api-Key": "…"}``). The file is named ``filename`` or, by default,
    ``feed-<first 16 hex of its sha256><the URL's suffix>`` (``feed-3fa2….csv.gz``); ``dest_dir`` is created
    if missing. ``client`` lets a caller reuse connections; redirects are followed either way.

    Raises :class:`FeedDownloadError` with a message saying what to check; nothing is left in ``dest_dir``
    then.
    """
    started = time.monotonic()
    if isinstance(source, os.PathLike):
        return _copy_local(Path(source), Path(dest_dir), previous, max_bytes, filename, started)
    text = source.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return _fetch(
            text, Path(dest_dir), previous, auth, headers, timeout, total_timeout, max_bytes, filename, client, started
        )
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise FeedDownloadError(
                f"file URL {text!r} names the host {parts.netloc!r}: only files on this machine can be read "
                "(use file:///path or a plain path)"
            )
        return _copy_local(
            Path(url2pathname(unquote(parts.path))), Path(dest_dir), previous, max_bytes, filename, started
        )
    if scheme == "" or (len(scheme) == 1 and os.name == "nt"):  # a plain path (or a Windows drive letter)
        return _copy_local(Path(text), Path(dest_dir), previous, max_bytes, filename, started)
    raise FeedDownloadError(
        f"cannot download {_shown(text)!r}: the {scheme!r} scheme is not supported; use an http:// or https:// "
        "URL, a file:// URL or a local path"
    )


# ---------------------------------------------------------------------------------------------------------------
# HTTP


def _fetch(
    url: str,
    dest_dir: Path,
    previous: Validators | None,
    auth: tuple[str, str] | None,
    extra_headers: Mapping[str, str] | None,
    timeout: float,
    total_timeout: float | None,
    max_bytes: int | None,
    filename: str | None,
    client: httpx.Client | None,
    started: float,
) -> Download:
    shown = _shown(url)
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise FeedDownloadError(f"{shown!r} is not a valid feed URL: {exc}") from None
    host = target.host or "?"
    port = target.port or (443 if target.scheme == "https" else 80)
    request_headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    request_headers.update(extra_headers or {})
    if previous is not None:
        request_headers.update(previous.request_headers())
    has_credentials = bool(auth or extra_headers or target.userinfo)

    own_client = client is None
    http = client if client is not None else httpx.Client()
    received = 0  # bytes off the wire, for "cut short" messages
    expected: int | None = None
    content_encoding = "identity"
    try:
        with http.stream(
            "GET",
            target,
            headers=request_headers,
            auth=auth,
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
        ) as response:
            status = response.status_code
            etag = response.headers.get("etag")
            last_modified = response.headers.get("last-modified")
            if status == 304:
                if previous is None:
                    raise FeedDownloadError(
                        f"{shown} answered 304 Not Modified to a request that was not conditional: the server "
                        "is misconfigured; ask the supplier to fix it",
                        status=304,
                    )
                elapsed = time.monotonic() - started
                log.info("feed %s unchanged (HTTP 304) in %.2f s", shown, elapsed)
                return Download(
                    source=shown,
                    unchanged=True,
                    path=None,
                    sha256=None,
                    size=0,
                    etag=etag or previous.etag,
                    last_modified=last_modified or previous.last_modified,
                    content_type=response.headers.get("content-type"),
                    elapsed=elapsed,
                    status=304,
                )
            if not 200 <= status < 300:
                raise _status_error(response, shown, has_credentials)
            expected = _content_length(response)
            content_encoding = response.headers.get("content-encoding", "identity")
            if max_bytes is not None and expected is not None and expected > max_bytes and not _encoded(response):
                raise FeedDownloadError(
                    f"the feed at {shown} is {expected:,} bytes, over the limit of {max_bytes:,} bytes: raise "
                    "max_bytes if it really is that big",
                    status=status,
                )

            def body() -> Iterator[bytes]:
                nonlocal received
                for chunk in response.iter_bytes():
                    received = response.num_bytes_downloaded
                    yield chunk
                received = response.num_bytes_downloaded

            path, sha256, size = _write(
                body(), dest_dir, filename, _url_suffix(target.path), max_bytes, total_timeout, started, shown
            )
            content_type = response.headers.get("content-type")
    except FeedDownloadError:
        raise
    except httpx.ConnectTimeout:
        raise FeedDownloadError(f"cannot connect to {host}:{port}: no answer within {timeout:g} s") from None
    except httpx.ConnectError as exc:
        reason = _reason(exc)
        if "CERTIFICATE_VERIFY_FAILED" in reason:
            reason += " (the server's TLS certificate is not trusted here: ask the supplier to fix it)"
        raise FeedDownloadError(f"cannot connect to {host}:{port}: {reason}") from None
    except httpx.ReadTimeout:
        raise FeedDownloadError(
            f"the feed at {shown} sent nothing for {timeout:g} s (timeout) after {received:,} bytes: the server "
            "is slow or stuck; try again later or raise the timeout"
        ) from None
    except httpx.TimeoutException as exc:
        raise FeedDownloadError(f"the download of {shown} timed out ({type(exc).__name__})") from None
    except httpx.RemoteProtocolError as exc:
        if expected is not None:
            message = f"the download was cut short: {received:,} of {expected:,} bytes"
        else:
            message = f"the download was cut short after {received:,} bytes ({_reason(exc)})"
        raise FeedDownloadError(
            f"{message} from {shown}: the server closed the connection before the end; try again, and tell the "
            "supplier if it keeps happening"
        ) from None
    except httpx.DecodingError as exc:
        raise FeedDownloadError(
            f"the compressed transfer from {shown} is corrupt after {received:,} bytes (Content-Encoding "
            f"{content_encoding}): {_reason(exc)}"
        ) from None
    except httpx.TooManyRedirects:
        raise FeedDownloadError(f"{shown} redirects too many times (a redirect loop?): check the URL") from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise FeedDownloadError(f"{shown!r} is not a valid feed URL: {_reason(exc)}") from None
    except httpx.HTTPError as exc:
        raise FeedDownloadError(
            f"the connection to {host}:{port} failed after {received:,} bytes: {_reason(exc)}; try again later"
        ) from None
    finally:
        if own_client:
            http.close()
    elapsed = time.monotonic() - started
    log.info("downloaded feed %s: %s bytes in %.2f s (sha256 %s)", shown, f"{size:,}", elapsed, sha256[:16])
    return Download(
        source=shown,
        unchanged=False,
        path=path,
        sha256=sha256,
        size=size,
        etag=etag,
        last_modified=last_modified,
        content_type=content_type,
        elapsed=elapsed,
        status=status,
    )


def _status_error(response: httpx.Response, shown: str, has_credentials: bool) -> FeedDownloadError:
    status = response.status_code
    label = f"HTTP {status}"
    if status in (401, 403):
        if has_credentials:
            message = f"the feed refused the credentials ({label}): check the user/password or header"
        else:
            message = (
                f"the feed asks for credentials ({label}) and none were given: set a user/password or an API key header"
            )
    elif status in (404, 410):
        message = f"no feed at this URL ({label}): check the address {shown}"
    elif status == 429:
        retry = response.headers.get("retry-after")
        message = f"the feed server is limiting requests ({label}): try again later" + (
            f" (it asks to wait {retry})" if retry else ""
        )
    elif status >= 500:
        message = f"the feed server failed ({label}) for {shown}: try again later, and tell the supplier if it persists"
    else:
        message = f"the feed server refused the request ({label}) for {shown}: check the URL and its parameters"
    return FeedDownloadError(message, status=status)


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _encoded(response: httpx.Response) -> bool:
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    return encoding not in ("", "identity")


def _reason(exc: BaseException) -> str:
    """An exception's message without errno noise: "[Errno 111] Connection refused" → "Connection refused"."""
    text = str(exc) or type(exc).__name__
    return re.sub(r"\[Errno -?\d+\]\s*", "", text)


def _shown(url: str) -> str:
    """The URL as it may appear in messages and logs: no user info (credentials) and no query (API keys)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}" + ("?…" if parts.query else "")


def _url_suffix(path: str) -> str:
    suffix = "".join(PurePosixPath(unquote(path)).suffixes[-2:])
    return suffix if _SAFE_SUFFIX.match(suffix) else ""


# ---------------------------------------------------------------------------------------------------------------
# Local files


def _copy_local(
    path: Path,
    dest_dir: Path,
    previous: Validators | None,
    max_bytes: int | None,
    filename: str | None,
    started: float,
) -> Download:
    shown = str(path)
    try:
        handle: BinaryIO = path.open("rb")
    except FileNotFoundError:
        raise FeedDownloadError(
            f"no feed file at {shown}: check the path (it is read on the machine the worker runs on)"
        ) from None
    except IsADirectoryError:
        raise FeedDownloadError(f"{shown} is a directory, not a feed file: name the file itself") from None
    except PermissionError:
        raise FeedDownloadError(
            f"cannot read {shown}: permission denied (the worker runs as a user who may not read it)"
        ) from None
    except OSError as exc:
        raise FeedDownloadError(f"cannot read {shown}: {exc.strerror or exc}") from None
    with handle:
        stat = os.fstat(handle.fileno())
        etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
        last_modified = formatdate(stat.st_mtime, usegmt=True)
        content_type = mimetypes.guess_type(path.name)[0]
        if previous is not None and previous.etag == etag:
            elapsed = time.monotonic() - started
            log.info("feed %s unchanged (same size and modification time)", shown)
            return Download(shown, True, None, None, 0, etag, last_modified, content_type, elapsed)
        if max_bytes is not None and stat.st_size > max_bytes:
            raise FeedDownloadError(
                f"the feed file {shown} is {stat.st_size:,} bytes, over the limit of {max_bytes:,} bytes: raise "
                "max_bytes if it really is that big"
            )

        def body() -> Iterator[bytes]:
            while chunk := handle.read(_CHUNK):
                yield chunk

        try:
            target, sha256, size = _write(
                body(), dest_dir, filename, _url_suffix(path.name), max_bytes, None, started, shown
            )
        except OSError as exc:  # _write reports its own failures as FeedDownloadError: this one is reading
            raise FeedDownloadError(f"cannot read {shown}: {exc.strerror or exc}") from None
    elapsed = time.monotonic() - started
    log.info("copied feed %s: %s bytes in %.2f s (sha256 %s)", shown, f"{size:,}", elapsed, sha256[:16])
    return Download(shown, False, target, sha256, size, etag, last_modified, content_type, elapsed)


# ---------------------------------------------------------------------------------------------------------------
# Writing


def _write(
    chunks: Iterator[bytes],
    dest_dir: Path,
    filename: str | None,
    suffix: str,
    max_bytes: int | None,
    total_timeout: float | None,
    started: float,
    shown: str,
) -> tuple[Path, str, int]:
    """Stream ``chunks`` into a temporary file in ``dest_dir``, hashing as it goes; rename it when complete.

    Whatever goes wrong (including the caller's chunks raising), the temporary file is removed.
    """
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=dest_dir, prefix=".feed-", suffix=".part")
    except OSError as exc:
        raise FeedDownloadError(f"cannot write the download to {dest_dir}: {exc.strerror or exc}") from None
    temp = Path(temp_name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise FeedDownloadError(
                        f"the feed at {shown} is over the limit of {max_bytes:,} bytes: raise max_bytes if it "
                        "really is that big"
                    )
                if total_timeout is not None and time.monotonic() - started > total_timeout:
                    raise FeedDownloadError(
                        f"the download of {shown} took longer than {total_timeout:g} s (total_timeout) after "
                        f"{size:,} bytes: try again later or raise total_timeout"
                    )
                digest.update(chunk)
                with _writing(dest_dir):
                    out.write(chunk)
            with _writing(dest_dir):
                out.flush()
        sha256 = digest.hexdigest()
        final = dest_dir / (filename or f"feed-{sha256[:16]}{suffix}")
        with _writing(dest_dir):
            os.replace(temp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    return final, sha256, size


@contextlib.contextmanager
def _writing(dest_dir: Path) -> Iterator[None]:
    """Report a failed write (disk full, permissions) as the download's error, naming the directory."""
    try:
        yield
    except OSError as exc:
        raise FeedDownloadError(f"cannot write the download to {dest_dir}: {exc.strerror or exc}") from None

"""The side channel every peer's task calls: ``body()`` = the workload's task body, then one timestamp line.

``mark()`` costs one ``write(2)`` of 18 bytes to a file opened with ``O_APPEND`` (atomic for such a small
write, so processes and forked children can share it). The driver counts finished jobs as
``file size // LINE`` and reads the first and last timestamps when the queue is drained.

``BENCH_BODY`` picks the task body, the same for every library:

* ``noop`` (default): nothing besides the mark;
* ``incr``: one Redis ``INCR bench:incr`` round trip on a plain socket (RESP written by hand, so every
  venv runs the very same code with no client library), as a stand-in for the network round trip any
  real task makes; one connection per thread, as a task would keep. Redis: ``BENCH_INCR_ADDR``
  (``host:port``, default ``127.0.0.1:6379``), db ``BENCH_INCR_DB`` (default 13, the benchmark's scratch db).
"""

from __future__ import annotations

import os
import socket
import threading
import time

LINE = 18  # "%17.6f\n": epoch seconds with microseconds, fixed width until the year 2286
INCR_KEY = b"bench:incr"
_INCR = b"*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n" % (len(INCR_KEY), INCR_KEY)
_fd: int | None = None
_local = threading.local()  # .sock = (pid, socket): one per thread; a forked child opens its own
_body = os.environ.get("BENCH_BODY", "noop")


def mark() -> None:
    global _fd
    if _fd is None:
        _fd = os.open(os.environ["BENCH_MARK_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(_fd, b"%17.6f\n" % time.time())


def incr() -> int:
    """One ``INCR`` round trip to Redis; returns the new value."""
    pid = os.getpid()
    held = getattr(_local, "sock", None)
    if held is None or held[0] != pid:
        host, _, port = os.environ.get("BENCH_INCR_ADDR", "127.0.0.1:6379").rpartition(":")
        s = socket.create_connection((host, int(port)))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        db = os.environ.get("BENCH_INCR_DB", "13").encode()
        s.sendall(b"*2\r\n$6\r\nSELECT\r\n$%d\r\n%s\r\n" % (len(db), db))
        if _reply(s) != b"+OK\r\n":
            raise RuntimeError(f"redis refused SELECT {db.decode()}")
        held = _local.sock = (pid, s)
    s = held[1]
    s.sendall(_INCR)
    reply = _reply(s)
    if not reply.startswith(b":"):
        raise RuntimeError(f"unexpected reply to INCR: {reply!r}")
    return int(reply[1:-2])


def _reply(s: socket.socket) -> bytes:
    reply = b""
    while not reply.endswith(b"\r\n"):
        chunk = s.recv(64)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        reply += chunk
    return reply


def body() -> None:
    """The task body of every library in the benchmark: the mark (task start), then the workload."""
    mark()
    if _body == "incr":
        incr()


def count(path: str) -> int:
    try:
        return os.stat(path).st_size // LINE
    except FileNotFoundError:
        return 0


def stamps(path: str) -> list[float]:
    with open(path, "rb") as f:
        data = f.read()
    return [float(data[i : i + LINE]) for i in range(0, len(data) - LINE + 1, LINE)]


def last_stamp(path: str) -> float:
    with open(path, "rb") as f:
        f.seek(-LINE, os.SEEK_END)
        return float(f.read(LINE))

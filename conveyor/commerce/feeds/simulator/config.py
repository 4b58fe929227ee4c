"""The feed simulator's settings: the feed's size and seed, how it changes over time, access, and faults."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["FAULTS", "SimulatorConfig"]

#: Faults the simulator can inject, in the order they take effect when several are asked for at once:
#: ``401`` (credentials refused), ``500`` (server error), ``html200`` (an HTML error page with status 200),
#: ``garbage`` (binary bytes with status 200) answer instead of the feed; ``malformed`` breaks a share of rows;
#: ``slow`` holds the body back for ``slow_seconds`` after the headers; ``truncated`` declares the full
#: Content-Length and closes the connection half-way through the body.
FAULTS = ("401", "500", "html200", "garbage", "malformed", "slow", "truncated")

_SUPPLIER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that shapes one simulated set of supplier feeds. Times are seconds.

    Every supplier serves the same ``items`` items (same SKUs and EANs, so a catalogue can link them) with its
    own stock, delivery days and purchase prices. ``suppliers`` limits which names exist (empty: any name in
    ``/feeds/{supplier}/…`` is a supplier). Same ``seed``, same feeds.

    Changes: every ``change_every`` seconds (None: only on ``POST /_sim/advance``) a new *generation* begins, in
    which a ``change_share`` of items get new stock and prices (which ones follows from the seed and the
    generation number, so two simulators that advanced equally serve the same bytes). ``text_stock_share`` of
    items show their stock as text (``skladem``, ``>5``, ``5+``, ``na dotaz``…).

    Validators: with ``etag`` (default) every feed carries an ``ETag`` (a hash of seed, items, supplier, format
    and generation) and ``Last-Modified`` (when the generation began) and answers conditional requests with
    304; without it, neither header is sent and every request gets the whole feed (``?etag=0`` does the same
    for one request).

    Access: with ``username``/``password`` a feed needs HTTP basic auth; with ``api_key`` it needs the header
    ``api_key_header`` (either is enough when both are set); otherwise feeds are open.

    Faults (see ``FAULTS``) apply to every feed request; ``?fault=a,b`` adds some to one request.
    ``malformed_share`` is the share of rows a ``malformed`` feed breaks. ``latency`` is added to every feed
    request before it answers.
    """

    seed: int = 1
    items: int = 1_000
    suppliers: tuple[str, ...] = ()
    change_share: float = 0.02
    change_every: float | None = None
    text_stock_share: float = 0.1
    etag: bool = True
    username: str | None = None
    password: str | None = None
    api_key: str | None = None
    api_key_header: str = "X-Api-Key"
    latency: float = 0.0
    faults: tuple[str, ...] = ()
    malformed_share: float = 0.05
    slow_seconds: float = 2.0
    rows_per_chunk: int = 2_000

    def __post_init__(self) -> None:
        problems = []
        if self.items < 0:
            problems.append("items must not be negative")
        if self.rows_per_chunk < 1:
            problems.append("rows_per_chunk must be at least 1")
        for name in ("change_share", "text_stock_share", "malformed_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        for name in ("latency", "slow_seconds"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must not be negative")
        if self.change_every is not None and self.change_every <= 0:
            problems.append("change_every must be positive (or None for changes only on POST /_sim/advance)")
        unknown = [fault for fault in self.faults if fault not in FAULTS]
        if unknown:
            problems.append(f"unknown fault(s) {', '.join(unknown)} (known: {', '.join(FAULTS)})")
        bad_names = [name for name in self.suppliers if not _SUPPLIER_NAME.match(name)]
        if bad_names:
            problems.append(
                f"supplier name(s) {', '.join(map(repr, bad_names))} cannot be a URL path segment: "
                "use letters, digits, '.', '_' and '-'"
            )
        if (self.username is None) != (self.password is None):
            problems.append("set both username and password for basic auth, or neither")
        if self.api_key is not None and not self.api_key_header.strip():
            problems.append("api_key_header must name a header")
        if problems:
            raise ValueError("invalid feed simulator configuration: " + "; ".join(problems))

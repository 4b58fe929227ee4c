"""Jinja filters for the dashboard: how times, durations, numbers and states read on screen.

The backend hands templates JSON-ready values (epoch seconds, plain ints, state names); every decision
about how they look lives here, once, so the pages, their live fragments and the tests agree. Times are
rendered as ``<time>`` elements carrying the exact instant, so the page script can keep "3 min ago"
fresh and show the reader's local time on hover without another request.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from markupsafe import Markup

#: U+202F NARROW NO-BREAK SPACE: the thin separator typographers use for thousands ("12 345"); it never
#: wraps and does not read as a decimal mark in any locale, unlike "," or ".".
THIN_SPACE = "\u202f"

#: Tone (colour family) of every state or status word the pages show, so a colour always means one thing:
#: green done, red failed for good, amber in progress or retrying, blue waiting, grey inert.
TONES: dict[str, str] = {
    "completed": "ok",
    "succeeded": "ok",
    "success": "ok",
    "finished": "ok",
    "ok": "ok",
    "discarded": "bad",
    "failed": "bad",
    "error": "bad",
    "orphaned": "bad",
    "executing": "run",
    "running": "run",
    "retryable": "warn",
    "retrying": "warn",
    "paused": "warn",
    "expired": "warn",
    "skipped": "muted",
    "cancelled": "muted",
    "disabled": "muted",
    "unsupported": "muted",
    "scheduled": "info",
    "available": "info",
    "queued": "info",
    "pending": "info",
    "waiting": "info",
    "enqueued": "info",
    "held": "run",
    "cancelling": "warn",
    "stale": "warn",
    "enabled": "ok",
    "deleted": "muted",
    "unknown": "muted",
    "-": "muted",
}

#: What a state means, shown on hover: operators coming from other queues do not all share our words.
STATE_HINTS: dict[str, str] = {
    "scheduled": "waiting for its run time",
    "available": "ready, waiting for a worker",
    "executing": "running on a worker now",
    "retryable": "failed an attempt, will retry after a back-off",
    "completed": "finished successfully",
    "discarded": "failed for good: in the failed store, retry it to run again",
    "cancelled": "cancelled before it finished",
}


def _now() -> float:
    return time.time()


def as_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def isotime(ts: float | None) -> str:
    """Absolute UTC time, to the second: what logs and the CLI print, so it can be searched for."""
    if ts is None:
        return "—"
    return as_datetime(ts).strftime("%Y-%m-%d %H:%M:%S UTC")


def zoned(ts: float | None, tz: str | None = None, fmt: str = "%a %d %b %H:%M") -> str:
    """Wall-clock time in a schedule's own time zone ("Tue 24 Nov 08:00"): a cron of "0 8 * * *" in
    Europe/Prague should read 08:00, not 07:00 UTC. Unknown zones fall back to UTC, labelled as such."""
    if ts is None:
        return "—"
    try:
        zone = ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return as_datetime(ts).strftime(fmt) + " UTC"
    return datetime.fromtimestamp(ts, zone).strftime(fmt)


def reltime(ts: float | None, now: float | None = None) -> str:
    """ "3 min ago" / "in 5 min": how far an instant is from now, at the precision a human needs."""
    if ts is None:
        return "—"
    now = _now() if now is None else now
    delta = ts - now
    if abs(delta) < 5:
        return "just now"
    text = duration(abs(delta), precise=False)
    return f"in {text}" if delta > 0 else f"{text} ago"


def duration(seconds: float | None, precise: bool = True) -> str:
    """A span of time in the largest sensible units: "850 ms", "12.3 s", "4 min 12 s", "2 h 5 min", "3 d 4 h".

    ``precise=False`` keeps only the largest unit ("4 min"), for relative times where the rest is noise."""
    if seconds is None or (isinstance(seconds, float) and not math.isfinite(seconds)):
        return "—"
    s = float(seconds)
    if s < 0:
        return "−" + duration(-s, precise)
    if s < 1:
        return f"{round(s * 1000)} ms"
    if s < 10 and precise:
        return f"{s:.1f} s"
    if s < 60:
        return f"{int(s)} s"
    units = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
    parts: list[str] = []
    rest = int(s)
    for name, size in units:
        if rest >= size:
            parts.append(f"{rest // size} {name}")
            rest %= size
        if parts and (len(parts) == 2 or not precise):
            break
    return " ".join(parts)


def number(n: float | int | None) -> str:
    """An integer with thin-space thousands ("12 345"); a float keeps one decimal under 100 ("3.5")."""
    if n is None:
        return "—"
    if isinstance(n, float) and not n.is_integer():
        return f"{n:.1f}" if abs(n) < 100 else number(round(n))
    return f"{int(n):,}".replace(",", THIN_SPACE)


def compact(n: float | int | None) -> str:
    """A short count for chart axes and tight cells: 950, 1.2k, 34k, 1.5M."""
    if n is None:
        return "—"
    v = float(n)
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= size:
            scaled = v / size
            return f"{scaled:.1f}".rstrip("0").rstrip(".") + suffix if scaled < 10 else f"{round(scaled)}{suffix}"
    return str(round(v)) if v.is_integer() or abs(v) >= 10 else f"{v:.1f}"


def percent(done: float | None, total: float | None) -> float:
    """``done / total`` in percent, clamped to 0..100; 0 when the total is unknown (an indeterminate bar)."""
    if not done or not total or total <= 0:
        return 0.0
    return max(0.0, min(100.0, 100.0 * float(done) / float(total)))


def tone(word: str | None) -> str:
    """The colour family of a state or status; the first word decides ("skipped (overlapping)" → muted)."""
    if not word:
        return "muted"
    key = str(word).lower().split(" ")[0].split("(")[0].strip(":")
    return TONES.get(key, "muted")


def badge(word: str | None, title: str | None = None) -> Markup:
    """A coloured pill for a state or status word (job states, batch states, schedule statuses)."""
    text = str(word) if word else "—"
    hint = title if title is not None else STATE_HINTS.get(text, "")
    title_attr = Markup(' title="{}"').format(hint) if hint else Markup("")
    return Markup('<span class="badge tone-{}"{}>{}</span>').format(tone(word), title_attr, text)


def time_tag(ts: float | None, mode: str = "relative") -> Markup:
    """A ``<time>`` element: relative text ("3 min ago") or absolute UTC, always with the exact instant in
    ``datetime``/``data-ts`` so the page script can refresh the text and show local time on hover."""
    if ts is None:
        return Markup('<span class="muted">—</span>')
    iso = as_datetime(ts).isoformat(timespec="seconds").replace("+00:00", "Z")
    text = reltime(ts) if mode == "relative" else isotime(ts)
    return Markup('<time datetime="{}" data-ts="{}" data-mode="{}" title="{}">{}</time>').format(
        iso, f"{ts:.3f}", mode, isotime(ts), text
    )


def pretty_json(value: Any) -> str:
    """Arguments and results as indented JSON, keys in their given order (they are the caller's order)."""
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def error_class(error: str | None) -> str:
    """The exception class of an error line ("ValueError: bad row" → "ValueError")."""
    if not error:
        return ""
    head = error.split(":", 1)[0].strip()
    return head if head and " " not in head else ""


def as_list(value: Any) -> list[Any]:
    """A list given as a list, a JSON array or a comma-separated string (a worker's queues are stored as
    JSON text), so templates need not care which."""
    if isinstance(value, list | tuple):
        return [item for v in value for item in (as_list(v) if isinstance(v, str) and v.startswith("[") else [v])]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                loaded = json.loads(text)
            except ValueError:
                loaded = None
            if isinstance(loaded, list):
                return loaded
        return [part.strip() for part in text.split(",") if part.strip()]
    return [] if value is None else [value]


def first_line(text: str | None, limit: int = 160) -> str:
    """The first line of a message, cut to ``limit`` characters: tables show the gist, detail pages all."""
    if not text:
        return ""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def progress_words(p: dict[str, Any] | None) -> str:
    """ "40 of 100 rows" / "40 rows" / the message alone; the page script writes the same words on updates."""
    if not p:
        return "no progress reported yet"
    done, total, message = p.get("done"), p.get("total"), p.get("message")
    if done is None:
        return str(message or "")
    text = f"{number(done)} of {number(total)}" if total else number(done)
    return f"{text} {message}" if message else text


def eta_words(p: dict[str, Any] | None, state: str | None = None) -> str:
    """Rate and time left ("12.5/s · about 4 min left"), empty once the job is no longer running."""
    if not p or (state is not None and state != "executing"):
        return ""
    parts = []
    rate, eta = p.get("rate"), p.get("eta")
    if rate:
        parts.append(f"{number(float(rate))}/s")
    if eta is not None:
        parts.append(f"about {duration(float(eta), precise=False)} left")
    return " · ".join(parts)


FILTERS: dict[str, Callable[..., Any]] = {
    "isotime": isotime,
    "zoned": zoned,
    "reltime": reltime,
    "duration": duration,
    "number": number,
    "compact": compact,
    "percent": percent,
    "tone": tone,
    "badge": badge,
    "time_tag": time_tag,
    "pretty_json": pretty_json,
    "error_class": error_class,
    "first_line": first_line,
    "as_list": as_list,
}

#: Plain functions templates call (``badge(state)``, ``percent(a, b)``) rather than pipe through.
GLOBALS: dict[str, Callable[..., Any]] = {
    "badge": badge,
    "percent": percent,
    "progress_words": progress_words,
    "eta_words": eta_words,
}

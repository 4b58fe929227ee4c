"""Cron evaluation in a time zone, with the classic (Vixie) cron rule for daylight-saving changes.

croniter parses the expression and iterates *wall-clock* times (naive datetimes, where DST does not exist);
this module maps each matching wall-clock time to real instants:

* a wall-clock time that exists once fires once;
* a repeated wall-clock time (autumn fall-back) fires at its **first** occurrence when the hour field is
  fixed (``30 2 * * *``), and at **both** occurrences when the hour is a wildcard or stepped (``0 * * * *``,
  ``0 */2 * * *``): those schedules fire every real hour;
* a wall-clock time skipped by spring-forward fires once at the first valid instant after the gap (03:00 in
  Europe/Prague) when the hour is fixed, and not at all when the hour is a wildcard or stepped (the real hour
  it named did not exist, and the schedule still fires in every real hour there was).

croniter on a time-zone-aware start fires a fixed-hour job twice on the fall-back day; iterating wall-clock
time and mapping it here is what avoids that. Times are epoch seconds, as everywhere in Conveyor.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

from conveyor.scheduler.errors import InvalidCronError, UnknownTimezoneError

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
#: Longer than any daylight-saving shift (2 h at most, historically): how far the order of real instants may
#: differ from the order of wall-clock times.
_MARGIN = timedelta(hours=3)
_MARGIN_S = _MARGIN.total_seconds()
#: Transitions of one zone are much further apart than this, so equal offsets at both ends of a shorter span
#: mean no transition inside it.
_NO_TRANSITION_SPAN_S = 20 * 86400.0
_SECOND = timedelta(seconds=1)


def normalize_cron(expr: str) -> str:
    """The canonical five-field form of ``expr`` (aliases expanded, whitespace collapsed)."""
    text = " ".join(str(expr).split())
    return ALIASES.get(text.lower(), text)


def validate_cron(expr: str) -> str:
    """Return the normalized expression or raise :class:`InvalidCronError`."""
    text = normalize_cron(expr)
    fields = text.split(" ")
    if len(fields) != 5:
        why = f"it has {len(fields)} field{'s' if len(fields) != 1 else ''}" if text else "it is empty"
        raise InvalidCronError(expr, why)
    try:
        it = croniter(text, datetime(2000, 1, 1))
        it.get_next(datetime)
    except CroniterBadDateError:
        raise InvalidCronError(expr, "it never fires (no such date)") from None
    except (CroniterBadCronError, CroniterError, ValueError, KeyError) as exc:
        raise InvalidCronError(expr, str(exc) or type(exc).__name__) from None
    return text


def get_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` or :class:`UnknownTimezoneError`."""
    try:
        return _zone(str(name))
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise UnknownTimezoneError(name) from None


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    if not name or name.startswith(("/", ".")) or ".." in name:
        raise ValueError(name)
    return ZoneInfo(name)


class Cron:
    """A cron expression in a time zone: ``Cron("30 2 * * *", "Europe/Prague").next_after(ts)``.

    Construction validates both (raising :class:`InvalidCronError` / :class:`UnknownTimezoneError`).
    Not thread-safe (it keeps a croniter iterator); use :func:`compile_cron` for a per-thread cached one.
    """

    __slots__ = ("_it", "expr", "fixed_hour", "timezone", "tz")

    def __init__(self, expr: str, timezone: str = "UTC") -> None:
        self.expr = validate_cron(expr)
        self.tz = get_zone(timezone)
        self.timezone = timezone
        hour = self.expr.split(" ")[1]
        #: The DST rule differs for "fixed" hours (``2``, ``1,13``, ``9-17``) and wildcard/stepped ones.
        self.fixed_hour = "*" not in hour and "/" not in hour
        self._it = croniter(self.expr, datetime(2000, 1, 1))

    def __repr__(self) -> str:
        return f"Cron({self.expr!r}, {self.timezone!r})"

    # ------------------------------------------------------------------ mapping wall-clock to instants
    def _wall(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, self.tz).replace(tzinfo=None, fold=0)

    def _offset(self, ts: float) -> timedelta:
        off = datetime.fromtimestamp(ts, self.tz).utcoffset()
        assert off is not None
        return off

    def instants(self, wall: datetime) -> list[float]:
        """The instants at which a matching wall-clock time fires (0, 1 or 2 of them), by the DST rule."""
        first = wall.replace(tzinfo=self.tz, fold=0).timestamp()
        second = wall.replace(tzinfo=self.tz, fold=1).timestamp()
        if first == second:
            return [first]
        if first < second:  # repeated wall-clock time (fall-back): first and second occurrence
            return [first] if self.fixed_hour else [first, second]
        # Skipped wall-clock time (spring-forward): ``second`` lies before the gap, ``first`` after it.
        return [self._gap_end(second, first)] if self.fixed_hour else []

    def _gap_end(self, before: float, after: float) -> float:
        """The transition instant between ``before`` (old offset) and ``after`` (new offset), to the second."""
        old = self._offset(before)
        lo, hi = int(before), int(after)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._offset(mid) == old:
                lo = mid
            else:
                hi = mid
        return float(hi)

    # ------------------------------------------------------------------ iteration
    def _simple(self, a: float, b: float) -> bool:
        """Whether wall-clock time is a fixed shift of real time on [a - margin, b + margin]."""
        return b - a < _NO_TRANSITION_SPAN_S and self._offset(a - _MARGIN_S) == self._offset(b + _MARGIN_S)

    def next_after(self, ts: float) -> float:
        """The first firing instant strictly after ``ts``."""
        w0 = self._wall(ts)
        it = self._it
        it.set_current(w0, force=True)
        w = it.get_next(datetime)
        c = _naive_ts(w) - self._offset(ts).total_seconds()
        if c > ts and self._simple(ts, c):
            return c
        # Near a transition: scan wall-clock times from a margin before, keep the smallest instant > ts,
        # stop once later wall-clock times cannot map before it.
        it.set_current(w0 - _MARGIN, force=True)
        best: float | None = None
        while True:
            w = it.get_next(datetime)
            if best is not None and w > self._wall(best) + _MARGIN:
                return best
            for t in self.instants(w):
                if t > ts and (best is None or t < best):
                    best = t

    def prev_at_or_before(self, ts: float) -> float:
        """The last firing instant at or before ``ts``."""
        w0 = self._wall(ts)
        it = self._it
        it.set_current(w0.replace(microsecond=0) + _SECOND, force=True)
        w = it.get_prev(datetime)
        c = _naive_ts(w) - self._offset(ts).total_seconds()
        if c <= ts and self._simple(c, ts):
            return c
        it.set_current(w0 + _MARGIN, force=True)
        best: float | None = None
        while True:
            w = it.get_prev(datetime)
            if best is not None and w < self._wall(best) - _MARGIN:
                return best
            for t in self.instants(w):
                if t <= ts and (best is None or t > best):
                    best = t

    def between(self, start: float, end: float) -> list[float]:
        """Every firing instant in ``(start, end]``, in order."""
        out = []
        t = self.next_after(start)
        while t <= end:
            out.append(t)
            t = self.next_after(t)
        return out

    def matches_wall(self, wall: datetime) -> bool:
        """Whether a wall-clock time matches the expression (ignoring DST)."""
        return bool(croniter.match(self.expr, wall.replace(tzinfo=None)))


_EPOCH = datetime(1970, 1, 1)


def _naive_ts(w: datetime) -> float:
    """A naive datetime read as if it were UTC, in epoch seconds."""
    return (w - _EPOCH).total_seconds()


@lru_cache(maxsize=20_000)
def compile_cron(expr: str, timezone: str) -> Cron:
    """A cached :class:`Cron` (parsing costs more than evaluating). Single-threaded use only."""
    return Cron(expr, timezone)


def interval_at(cron: Cron, slot: float) -> float:
    """Seconds from ``slot`` to the slot after it: the default catch-up window."""
    return cron.next_after(slot) - slot


# ---------------------------------------------------------------------- helpers for declaring schedules
def every_minutes(n: int) -> str:
    """``*/n * * * *`` (n must divide 60 for evenly spaced runs; 1..59)."""
    if not isinstance(n, int) or not 1 <= n <= 59:
        raise InvalidCronError(f"every_minutes({n!r})", "n must be an integer from 1 to 59")
    return "* * * * *" if n == 1 else f"*/{n} * * * *"


def hourly(at: int = 0) -> str:
    """Every hour at minute ``at``."""
    if not isinstance(at, int) or not 0 <= at <= 59:
        raise InvalidCronError(f"hourly(at={at!r})", "the minute must be from 0 to 59")
    return f"{at} * * * *"


def _hhmm(at: str, helper: str) -> tuple[int, int]:
    try:
        hh, mm = str(at).split(":")
        h, m = int(hh), int(mm)
    except ValueError:
        raise InvalidCronError(f"{helper}({at!r})", "the time must look like 'hh:mm', e.g. '02:00'") from None
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise InvalidCronError(f"{helper}({at!r})", "hours are 0-23 and minutes 0-59")
    return h, m


def daily_at(at: str) -> str:
    """Every day at ``'hh:mm'`` (wall-clock time in the schedule's time zone)."""
    h, m = _hhmm(at, "daily_at")
    return f"{m} {h} * * *"


_DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}


def weekly(day: str | int = "mon", at: str = "00:00") -> str:
    """Every week on ``day`` (``'mon'``…``'sun'`` or 0–6, Sunday = 0) at ``'hh:mm'``."""
    if isinstance(day, int) and not isinstance(day, bool):
        if not 0 <= day <= 6:
            raise InvalidCronError(f"weekly({day!r})", "the day must be 0-6 (Sunday = 0) or 'mon'…'sun'")
        d = day
    else:
        key = str(day).strip().lower()[:3]
        if key not in _DAYS:
            raise InvalidCronError(f"weekly({day!r})", "the day must be 0-6 (Sunday = 0) or 'mon'…'sun'")
        d = _DAYS[key]
    h, m = _hhmm(at, "weekly")
    return f"{m} {h} * * {d}"

"""Cron evaluation and the DST rule, checked against croniter + zoneinfo and a brute-force oracle."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.scheduler.cron import Cron, daily_at, every_minutes, hourly, weekly
from conveyor.scheduler.errors import InvalidCronError, UnknownTimezoneError

PRAGUE = "Europe/Prague"
ZONES = ["Europe/Prague", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "UTC"]


def _day(zone: str, y: int, m: int, d: int) -> tuple[float, float]:
    tz = ZoneInfo(zone)
    start = datetime(y, m, d, tzinfo=tz).timestamp()
    end = (datetime(y, m, d, tzinfo=tz) + timedelta(days=1)).replace(tzinfo=tz).timestamp()
    return start, end


def _fires_on(expr: str, zone: str, y: int, m: int, d: int) -> list[float]:
    start, end = _day(zone, y, m, d)
    return Cron(expr, zone).between(start - 1, end - 1)


def _local(ts: float, zone: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(zone)).strftime("%H:%M%z")


def test_fixed_hour_job_fires_once_at_first_valid_instant_on_spring_forward_day() -> None:
    fired = _fires_on("30 2 * * *", PRAGUE, 2025, 3, 30)
    assert [_local(t, PRAGUE) for t in fired] == ["03:00+0200"]


def test_fixed_hour_job_fires_once_at_first_occurrence_on_fall_back_day() -> None:
    fired = _fires_on("30 2 * * *", PRAGUE, 2025, 10, 26)
    assert [_local(t, PRAGUE) for t in fired] == ["02:30+0200"]


def test_hourly_job_fires_23_times_on_spring_forward_and_25_on_fall_back() -> None:
    assert len(_fires_on("0 * * * *", PRAGUE, 2025, 3, 30)) == 23
    assert len(_fires_on("0 * * * *", PRAGUE, 2025, 10, 26)) == 25


def test_stepped_hour_job_skips_the_hour_that_did_not_exist() -> None:
    # croniter maps 02:00 to 03:00 here; a stepped hour fires every real matching hour, and 02:00 was none.
    fired = _fires_on("0 */2 * * *", PRAGUE, 2025, 3, 30)
    assert len(fired) == 11
    assert "03:00+0200" not in [_local(t, PRAGUE) for t in fired]


def test_several_skipped_times_of_a_fixed_hour_fire_once_at_the_gap_end() -> None:
    assert [_local(t, PRAGUE) for t in _fires_on("*/20 2 * * *", PRAGUE, 2025, 3, 30)] == ["03:00+0200"]


def test_prev_and_next_agree_with_each_other_across_transitions() -> None:
    for expr in ("30 2 * * *", "*/20 * * * *", "0 */2 * * *"):
        cron = Cron(expr, PRAGUE)
        for day in ((2025, 3, 30), (2025, 10, 26)):
            for t in _fires_on(expr, PRAGUE, *day):
                assert cron.prev_at_or_before(t) == t
                assert cron.prev_at_or_before(t + 59) == t
                assert cron.next_after(t - 0.5) == t


# ---------------------------------------------------------------------- croniter + zoneinfo, whole years
def _croniter_tz(expr: str, zone: str, start: float, end: float) -> list[float]:
    it = croniter(expr, datetime.fromtimestamp(start, ZoneInfo(zone)))
    out = []
    while (t := it.get_next(float)) <= end:
        out.append(t)
    return out


@cache
def _transition_days(zone: str, year: int) -> frozenset[tuple[int, int, int]]:
    """Local dates on which the zone's UTC offset changes."""
    tz = ZoneInfo(zone)
    days = set()
    t = datetime(year, 1, 1, tzinfo=UTC).timestamp()
    end = datetime(year + 1, 1, 1, tzinfo=UTC).timestamp()
    prev = datetime.fromtimestamp(t, tz).utcoffset()
    while t < end:
        t += 1800
        d = datetime.fromtimestamp(t, tz)
        if d.utcoffset() != prev:
            prev = d.utcoffset()
            days |= {(x.year, x.month, x.day) for x in (d, datetime.fromtimestamp(t - 1800, tz))}
    return frozenset(days)


def _allowed_difference(cron: Cron, t: float) -> bool:
    """Where croniter fires and the rule says not to: the second occurrence of a repeated time for a fixed
    hour, or a gap-end instant for a wildcard/stepped hour whose wall-clock time does not match."""
    dt = datetime.fromtimestamp(t, cron.tz)
    wall = dt.replace(tzinfo=None)
    if cron.fixed_hour:
        return wall.replace(tzinfo=cron.tz, fold=0).timestamp() != t  # a second occurrence
    return not cron.matches_wall(wall)


@pytest.mark.parametrize(
    ("expr", "zone"),
    [
        ("30 2 * * *", "Europe/Prague"),
        ("0 * * * *", "Europe/Prague"),
        ("*/30 * * * *", "America/New_York"),
        ("30 1 * * *", "America/New_York"),
        ("15 2,3 * * 0", "Australia/Sydney"),
        ("0 2 * * *", "Australia/Lord_Howe"),
        ("45 */3 * * *", "Australia/Lord_Howe"),
        ("0 0 1 * *", "Europe/Prague"),
        ("20 4 * * 1-5", "UTC"),
    ],
)
def test_a_whole_year_matches_croniter_except_where_the_dst_rule_says_otherwise(expr: str, zone: str) -> None:
    start = datetime(2025, 1, 1, tzinfo=ZoneInfo(zone)).timestamp()
    end = datetime(2026, 1, 1, tzinfo=ZoneInfo(zone)).timestamp()
    cron = Cron(expr, zone)
    ours = set(cron.between(start, end))
    theirs = set(_croniter_tz(expr, zone, start, end))
    transition_days = _transition_days(zone, 2025)
    for t in ours ^ theirs:
        d = datetime.fromtimestamp(t, ZoneInfo(zone))
        assert (d.year, d.month, d.day) in transition_days, f"{expr} in {zone}: differs at {d}"
    assert ours - theirs == set() or not cron.fixed_hour  # we only ever fire less than croniter for fixed hours
    for t in theirs - ours:
        assert _allowed_difference(cron, t), f"{expr} in {zone}: croniter fires at {datetime.fromtimestamp(t, cron.tz)}"
    for t in ours - theirs:  # e.g. Lord Howe's half-hour gap: the gap end is our first valid instant
        assert cron.fixed_hour, f"{expr} in {zone}: we fire at {datetime.fromtimestamp(t, cron.tz)}"


# ---------------------------------------------------------------------- brute force around transitions
def _matcher(expr: str) -> Callable[[datetime], bool]:
    """A plain cron matcher over croniter's expanded fields (day-of-month OR day-of-week, as in cron)."""
    fields, _ = croniter.expand(expr)
    sets = [None if f == ["*"] else {int(x) for x in f} for f in fields]
    minute, hour, dom, month, dow = sets

    def match(w: datetime) -> bool:
        if (minute and w.minute not in minute) or (hour and w.hour not in hour):
            return False
        if month and w.month not in month:
            return False
        d_ok = dom is None or w.day in dom
        w_ok = dow is None or (w.isoweekday() % 7) in dow or (7 in dow and w.isoweekday() == 7)
        return (d_ok or w_ok) if (dom is not None and dow is not None) else (d_ok and w_ok)

    return match


def _oracle(cron: Cron, start: float, end: float) -> list[float]:
    """Every real minute whose wall-clock time matches, then the DST rule applied, independently of Cron."""
    tz = cron.tz
    matches = _matcher(cron.expr)
    fired: set[float] = set()
    t = start - start % 60 + 60
    while t <= end:
        d = datetime.fromtimestamp(t, tz)
        wall = d.replace(tzinfo=None)
        if matches(wall):
            second_pass = wall.replace(tzinfo=tz, fold=0).timestamp() != t
            if not (cron.fixed_hour and second_pass):
                fired.add(t)
        # A fixed hour's wall-clock times skipped by this minute's jump fire at the jump.
        prev = datetime.fromtimestamp(t - 60, tz).replace(tzinfo=None)
        if cron.fixed_hour and wall - prev > timedelta(minutes=1):
            w = prev + timedelta(minutes=1)
            while w < wall:
                if matches(w):
                    fired.add(t)
                    break
                w += timedelta(minutes=1)
        t += 60
    return sorted(fired)


# Minute-level crons (``*``) are covered by the explicit tests above; here they would only cost time.
minutes = st.sampled_from(["*/15", "*/20", "0", "30", "0,30", "5-10", "59"])
hours = st.one_of(st.just("*"), st.sampled_from(["*/2", "*/3", "2", "1", "3", "1,2", "2-3", "0-3", "2,14", "1-23/2"]))


@settings(max_examples=30, deadline=None)
@given(
    minute=minutes,
    hour=hours,
    dow=st.sampled_from(["*", "0", "1-5", "0,6"]),
    zone=st.sampled_from(["Europe/Prague", "America/New_York", "Australia/Lord_Howe", "America/Santiago"]),
)
def test_random_crons_follow_the_rule_around_every_transition_of_a_year(
    minute: str, hour: str, dow: str, zone: str
) -> None:
    expr = f"{minute} {hour} * * {dow}"
    cron = Cron(expr, zone)
    tz = ZoneInfo(zone)
    for y, m, d in sorted(_transition_days(zone, 2025)):
        day = datetime(y, m, d)
        start = (day - timedelta(hours=6)).replace(tzinfo=tz).timestamp()
        end = (day + timedelta(hours=30)).replace(tzinfo=tz).timestamp()
        assert cron.between(start, end) == _oracle(cron, start, end), f"{expr} in {zone} around {day:%Y-%m-%d}"


# ---------------------------------------------------------------------- helpers and bad input
def test_helpers_build_cron_expressions() -> None:
    assert every_minutes(5) == "*/5 * * * *"
    assert every_minutes(1) == "* * * * *"
    assert hourly(at=15) == "15 * * * *"
    assert daily_at("02:00") == "0 2 * * *"
    assert weekly("fri", at="18:30") == "30 18 * * 5"
    assert weekly(0) == "0 0 * * 0"


@pytest.mark.parametrize("bad", ["", "* * * *", "61 * * * *", "* * * * * *", "0 0 30 2 *", "@reboot", "abc"])
def test_invalid_cron_is_a_clear_error(bad: str) -> None:
    with pytest.raises(InvalidCronError, match="invalid cron expression"):
        Cron(bad)


@pytest.mark.parametrize("bad", ["Mars/Base", "", "../etc/passwd", "Europe/Prag"])
def test_unknown_timezone_is_a_clear_error(bad: str) -> None:
    with pytest.raises(UnknownTimezoneError, match="unknown timezone"):
        Cron("* * * * *", bad)


@pytest.mark.parametrize("call", [lambda: every_minutes(0), lambda: daily_at("25:00"), lambda: weekly("xyz")])
def test_helpers_refuse_bad_values(call: object) -> None:
    with pytest.raises(InvalidCronError):
        call()  # type: ignore[operator]

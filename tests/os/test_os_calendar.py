"""pynix.os.calendar against the real ``systemd-analyze`` (run live, nothing copied).

Every spec below is given to both: systemd-analyze must accept exactly the specs
pynix accepts, print the same normalized form, and list the same elapses from
several base times (month ends, leap years, year ends, the DST change days of
Europe/Paris), in UTC and in Europe/Paris; pynix's iterations feed each result
back as the next ``when``, as systemd-analyze does.  Calls are batched (many
specs per systemd-analyze run) to keep the file fast.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import needs
from pynix.os.calendar import CalendarError, CalendarSpec, parse_calendar, parse_timespan

ANALYZE = shutil.which("systemd-analyze")
ITERATIONS = 6


@pytest.fixture(autouse=True)
def _need_analyze() -> None:
    if ANALYZE is None:
        needs.unavailable("systemd-analyze (the oracle of pynix.os.calendar) is not installed")


# --------------------------------------------------------------------------- the oracle

_STAMP = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC$")


class Result:
    """What systemd-analyze said about one spec."""

    def __init__(self, normalized: str, elapses: list[datetime]) -> None:
        self.normalized = normalized
        self.elapses = elapses


def analyze_calendar(specs: list[str], base: str, tz: str) -> dict[str, Result | None]:
    """One systemd-analyze run for many specs; None for the specs it rejects."""
    assert ANALYZE is not None
    proc = subprocess.run(
        [ANALYZE, "calendar", f"--iterations={ITERATIONS}", f"--base-time={base}", "--", *specs],
        capture_output=True, text=True, env={**os.environ, "TZ": tz, "LC_ALL": "C.UTF-8"},
        check=False,
    )
    out: dict[str, Result | None] = {}
    current: Result | None = None
    original = ""
    for line in proc.stdout.splitlines():
        key, _, value = line.lstrip().partition(": ")
        if key == "Original form":
            original = value
        elif key == "Normalized form":
            current = Result(value, [])
            out[original or value] = current  # no "Original form" line when they are equal
            original = ""
        elif current is not None and (key == "Next elapse" or key.startswith("Iter. #")):
            if value != "never":
                current.elapses.append(_utc(value))
        elif current is not None and key == "(in UTC)":
            current.elapses[-1] = _utc(value)
    failed = re.findall(r"Failed to parse calendar specification '(.*)':", proc.stderr)
    for spec in failed:
        out[spec] = None
    missing = [s for s in specs if s not in out]
    assert not missing, f"systemd-analyze said nothing about {missing}: {proc.stderr}"
    return out


def _utc(value: str) -> datetime:
    m = _STAMP.search(value)
    if m is None:  # printed in a local zone with no "(in UTC)" line following (yet)
        return datetime.min.replace(tzinfo=UTC)
    return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def pynix_elapses(spec: CalendarSpec, base: datetime, tz: str) -> list[datetime]:
    when = base.astimezone(ZoneInfo(tz))
    got = []
    for _ in range(ITERATIONS):
        nxt = spec.next_after(when)
        if nxt is None:
            break
        assert nxt.tzinfo is not None and nxt > when
        got.append(nxt)
        when = nxt
    # systemd-analyze prints whole seconds
    return [g.astimezone(UTC).replace(microsecond=0) for g in got]


def compare(specs: list[str], bases: list[str], tzs: list[str]) -> int:
    """Compare pynix and systemd-analyze on every spec x base x zone; the cases compared."""
    cases = 0
    problems: list[str] = []
    for tz in tzs:
        for base in bases:
            base_dt = datetime.strptime(base, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            oracle = analyze_calendar(specs, base + " UTC", tz)
            for text in specs:
                cases += 1
                want = oracle[text]
                try:
                    spec = parse_calendar(text)
                except CalendarError:
                    if want is not None:
                        problems.append(f"{text!r}: pynix rejects it, systemd accepts it")
                    continue
                if want is None:
                    problems.append(f"{text!r}: systemd rejects it, pynix accepts it "
                                    f"as {spec.normalized()!r}")
                    continue
                if spec.normalized() != want.normalized:
                    problems.append(f"{text!r}: normalized {spec.normalized()!r}, "
                                    f"systemd {want.normalized!r}")
                got = pynix_elapses(spec, base_dt, tz)
                if got != want.elapses:
                    problems.append(
                        f"{text!r} from {base} TZ={tz}: pynix "
                        f"{[str(g) for g in got]}, systemd {[str(w) for w in want.elapses]}"
                    )
    assert not problems, "\n".join(problems)
    return cases


# --------------------------------------------------------------------------- the specs

VALID = [
    # shorthands
    "minutely", "hourly", "daily", "weekly", "monthly", "quarterly", "semiannually",
    "yearly", "annually", "Hourly", "semi-annually", "biannually",
    # weekdays
    "Mon", "Mon *-*-* 12:00", "mon,wed 12:00", "Mon..Fri 09:30", "Mon-Wed 08:00:05",
    "Saturday,Sunday 10:00", "Tue..Thu,Sat 23:59:59", "Mon,Tue,Wed 00:00", "Wed, 17:48",
    "Fri *-*-13 18:00", "Mon *-02-29", "Sun *-*-01..07 03:00",
    # dates
    "2026-02-28", "26-02-28", "2028-02-29 12:00", "*-02-29", "*-*-31", "*-12-31 23:59:59",
    "*-01,04,07,10-01", "*-1/2-1,15", "2026..2028-*-28", "2026,2030-06-15 06:30",
    "10-15", "03-05 08:05:40", "*-*-28..31 12:00", "2027-*-* 00:00", "99-01-01",
    # end of month
    "*-*~01", "*-02~03", "*-*~01,02 22:00", "*-*~1..7", "*-*~01/2", "Mon *-*~01..07",
    # times
    "12:00", "05:40", "08:05:40", "*:0/15", "*:20/15", "*:*:*", "*:*:10..40/5",
    "1,3,5:00:00", "12,14,13,12:20,10,30", "0..23/6:00", "9..17:00,30", "*:59:59",
    "00:00:01.5", "12:00:00.25/0.5", "*:*:0/7.5", "*:*:59.999999",
    # time zones
    "12:00 UTC", "12:00 utc", "*-*-* 02:30 Europe/Paris", "daily Europe/Paris",
    "Mon..Fri 09:00 America/New_York", "12:00 Etc/UTC", "*:30 Europe/Paris",
    "*-*~01 23:00 Asia/Tokyo", "2026-03-29 02:30 Europe/Paris",
    # DST-sensitive in local time
    "*-*-* 02:30", "*-*-* *:30", "*-*-* 02:*:00", "*-*-* 02,03:00/20", "03-29 02:00",
    # timestamps and the never-again
    "@1700000000", "@1800000000", "2020-*-* 00:00", "2199-12-31 23:59:59",
]

INVALID = [
    "", "bogus", "*/15", "*-*-* *:*/15", "Fri..Mon", "Mond 12:00", "25:00", "Mon *-*-* 25:00",
    "12:60", "*-13-01", "*-*-32", "2026-02-30x", "5..3:00", "0/60:00", "*-02~03..01",
    "12", "Mon..", "Mon.Wed", "12:00:00.", "*-*~29", "1969-01-01", "2200-01-01",
    "12:00:60", "00:00:10.5..11", "Mon,,Tue", " 12:00", "12:00 Not/AZone", "*:0/0",
    "*-*-* 12:00 UTC UTC", "Monday..Tuesday..Friday", "1..5..7:00", "12:00:00:00",
]

BASES = [
    "2026-01-01 00:00:00", "2026-01-31 23:59:59", "2028-02-28 12:00:00",
    "2027-12-31 23:59:30", "2026-03-29 00:30:00", "2026-10-24 23:50:00",
    "2026-10-25 01:10:00", "2026-03-08 06:30:00", "2026-11-01 05:30:00",
]


# a zone abbreviation is a zone name of its own only where it is not the local zone's
UTC_ONLY = ["12:00 CET", "*-*-* 12:00 EST5EDT", "@-0", "@ 5", "Mon @5", "*-*~05/2", "*-*-28/3"]


def test_valid_and_invalid_specs_in_utc() -> None:
    cases = compare(VALID + INVALID + UTC_ONLY, BASES, ["UTC"])
    assert cases >= 60 * len(BASES)


def test_specs_in_local_zones_with_dst() -> None:
    # Lord Howe Island moves its clocks by 30 minutes
    compare(VALID + INVALID, BASES, ["Europe/Paris", "America/New_York", "Australia/Lord_Howe"])


def test_error_message_names_text_and_problem() -> None:
    with pytest.raises(CalendarError, match=r"'Mon \*-\*-\* 25:00': hour 25 is out of range"):
        parse_calendar("Mon *-*-* 25:00")


def test_result_zone() -> None:
    when = datetime(2026, 6, 1, tzinfo=ZoneInfo("America/New_York"))
    paris = parse_calendar("12:00 Europe/Paris").next_after(when)
    assert paris is not None and paris.tzinfo == ZoneInfo("Europe/Paris")
    assert paris == datetime(2026, 6, 1, 12, tzinfo=ZoneInfo("Europe/Paris"))
    utc = parse_calendar("12:00 UTC").next_after(when)
    assert utc is not None and utc.utcoffset() == timedelta(0)
    local = parse_calendar("12:00").next_after(when)
    assert local is not None and local.tzinfo is when.tzinfo and local.hour == 12
    assert parse_calendar("2020-01-01").next_after(when) is None
    with pytest.raises(ValueError):
        parse_calendar("daily").next_after(datetime(2026, 1, 1))


# --------------------------------------------------------------------------- time spans

SPANS = [
    "10", "10s", "5min", "1h 30min", "1h30min", "2d", "1w", "500ms", "1.5h", "0", "1y",
    "1 year", "2 years", "1month", "3M", "1m", "1 minute", "2minutes", "90sec",
    "3seconds", "1second", "10msec", "250us", "250usec", "250μs", "1hr", "2hours", "1hour",
    "3days", "1day", "2weeks", "1week", "1.25 s", ".5s", "  5min  ", "1h 1m 1s 1ms 1us",
    "5 5", "1.000001s", "0.5ms", "infinity", "+5s", "12.34s.56",
]
BAD_SPANS = ["", "bogus", "-5s", "5 parsecs", "1.s", "1..2s", "5min bogus", "infinity 5",
             "12.34.56", "1h-"]


def _analyze_timespan(text: str) -> int | None:
    assert ANALYZE is not None
    proc = subprocess.run([ANALYZE, "timespan", "--", text], capture_output=True, text=True,
                          env={**os.environ, "LC_ALL": "C.UTF-8"}, check=False)
    m = re.search(r"μs: (\d+)", proc.stdout)
    return int(m.group(1)) if proc.returncode == 0 and m else None


def test_timespans() -> None:
    problems = []
    for text in SPANS + BAD_SPANS:
        want = _analyze_timespan(text)
        try:
            got: float | None = parse_timespan(text)
        except CalendarError:
            got = None
        if want is None or got is None:
            if (want is None) != (got is None):
                problems.append(f"{text!r}: pynix {got}, systemd {want}")
        elif want == 2**64 - 1:
            if got != float("inf"):
                problems.append(f"{text!r}: pynix {got}, systemd infinity")
        elif got != want / 1_000_000:  # the float nearest to the exact microseconds
            problems.append(f"{text!r}: pynix {got}, systemd {want} us")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- random specs


def _value(lo: int, hi: int, width: int) -> st.SearchStrategy[str]:
    n = st.integers(lo, hi).map(lambda v: f"{v:0{width}d}")
    rng = st.tuples(st.integers(lo, hi), st.integers(lo, hi)).map(
        lambda t: f"{min(t):0{width}d}..{max(t):0{width}d}")
    rep = st.tuples(st.integers(lo, hi), st.integers(1, max(1, (hi - lo) // 2))).map(
        lambda t: f"{t[0]:0{width}d}/{t[1]}")
    rng_rep = st.tuples(st.integers(lo, hi), st.integers(lo, hi), st.integers(1, 9)).map(
        lambda t: f"{min(t[:2]):0{width}d}..{max(t[:2]):0{width}d}/{t[2]}")
    one = st.one_of(n, rng, rep, rng_rep)
    return st.one_of(st.just("*"), st.lists(one, min_size=1, max_size=3).map(",".join))


_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_weekdays = st.one_of(
    st.just(""),
    st.lists(st.sampled_from(_DAYS), min_size=1, max_size=3).map(lambda d: ",".join(d) + " "),
    st.tuples(st.integers(0, 6), st.integers(0, 6)).map(
        lambda t: f"{_DAYS[min(t)]}..{_DAYS[max(t)]} "),
)
_date = st.one_of(
    st.just(""),
    st.tuples(_value(2025, 2032, 4), _value(1, 12, 2), _value(1, 31, 2)).map(
        lambda t: f"{t[0]}-{t[1]}-{t[2]} "),
    st.tuples(_value(1, 12, 2), _value(1, 31, 2)).map(lambda t: f"{t[0]}-{t[1]} "),
    st.tuples(_value(1, 12, 2), _value(1, 20, 2)).map(lambda t: f"*-{t[0]}~{t[1]} "),
)
_time = st.one_of(
    st.just(""),
    st.tuples(_value(0, 23, 2), _value(0, 59, 2)).map(lambda t: f"{t[0]}:{t[1]}"),
    st.tuples(_value(0, 23, 2), _value(0, 59, 2), _value(0, 59, 2)).map(
        lambda t: f"{t[0]}:{t[1]}:{t[2]}"),
)
_zone = st.sampled_from(["", " UTC", " Europe/Paris", " America/New_York"])
_specs = st.tuples(_weekdays, _date, _time, _zone).map(lambda t: (t[0] + t[1] + t[2]).strip()
                                                        + t[3]).filter(lambda s: s.strip() != "")
_bases = st.sampled_from(BASES)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(_specs, min_size=1, max_size=4), base=_bases,
       tz=st.sampled_from(["UTC", "Europe/Paris"]))
def test_random_specs(specs: list[str], base: str, tz: str) -> None:
    compare(list(dict.fromkeys(specs)), [base], [tz])

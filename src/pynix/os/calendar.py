"""systemd calendar events (``OnCalendar=``) and time spans, as systemd 252 computes them.

The grammar and the meaning are those of systemd.time(7); where the manual page
and ``systemd-analyze calendar`` disagree, this module follows systemd-analyze
(tests/os/test_os_calendar.py compares the two live).

A calendar event is ``[WEEKDAYS] [DATE] [TIME] [TIME ZONE]``, or one of the
shorthands (``minutely``, ``hourly``, ``daily``, ``weekly``, ``monthly``,
``quarterly``, ``semiannually``, ``yearly``/``annually``, with systemd's
spelling variants), or ``@SECONDS`` (one instant, in UTC).  Each date and time
field is ``*`` or a comma-separated list of ``VALUE``, ``START..STOP`` and
``START[..STOP]/STEP``; ``*`` cannot take a step (systemd rejects ``*/15``:
write ``0/15``).  Seconds may have up to six decimals.  Two-digit years mean
1970-2069.  ``~`` instead of the last ``-`` of a date counts days from the end
of the month (``*-*~01`` is the last day, ``*-02~03`` the third-to-last day of
February).  A trailing ``UTC`` or IANA zone name makes the event use that zone.

The next elapse is computed the way systemd does it: field by field on the
broken-down local ("wall clock") time, from the year down to the seconds, with
each candidate checked by normalising it through ``mktime()``.  That fixes how
daylight-saving changes behave:

* a wall-clock time that does not exist (in the spring-forward gap, e.g.
  02:30 on the last Sunday of March in Europe/Paris) is skipped: ``02:30``
  daily does not elapse that day, ``*:30`` elapses at 01:30 and then 03:30;
* a wall-clock time that exists twice (the fall-back overlap) elapses once:
  systemd works on wall-clock time, so after 02:59 comes 03:00.  Which of
  the two instants is used is what glibc's ``mktime()`` picks for an unknown
  DST flag: the one with the UTC offset of its previous result, which in
  practice is the offset in effect at the time the search started from.  So
  ``02:30`` daily from the day before elapses at 02:30 CEST (the first one);
  ``*:30`` from inside the second 02:xx hour elapses at 02:30 CET;
* a candidate that normalises to a later wall-clock time (02:00 in the gap
  becomes 03:00) is continued from there, as systemd does since its
  ``tm_within_bounds()`` (so ``02,03:00/20`` elapses at 03:00 on that day).

Not supported: a trailing local time zone *abbreviation* of the machine (such
as ``CET`` when the machine's zone is Europe/Paris, which systemd takes as "the
local zone with daylight saving off"): such a word is taken as a zone name if
the zone database has it (``CET`` is a zone of its own there), which is what
systemd does on a machine whose zone does not use that abbreviation.  If
systemd gives up on a search after 1000 steps (it logs "Infinite loop in
calendar calculation"), :meth:`CalendarSpec.next_after` returns ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = ["CalendarError", "CalendarSpec", "parse_calendar", "parse_timespan"]

USEC_PER_SEC = 1_000_000
_INT_MAX = 2**31 - 1
_MIN_YEAR = 1970
_MAX_YEAR = 2199
_ALL_WEEKDAYS = 127
_MAX_COMPONENTS = 240
_MAX_ITERATIONS = 1000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# systemd refuses to compute from instants it could not print (year 9999 and later)
_USEC_FORMATTABLE_MAX = 253_402_214_399_999_999

_WEEKDAY_NAMES = (
    ("Monday", 0), ("Mon", 0), ("Tuesday", 1), ("Tue", 1), ("Wednesday", 2), ("Wed", 2),
    ("Thursday", 3), ("Thu", 3), ("Friday", 4), ("Fri", 4), ("Saturday", 5), ("Sat", 5),
    ("Sunday", 6), ("Sun", 6),
)
_WEEKDAY_SHORT = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class CalendarError(ValueError):
    """A calendar event or time span systemd would not accept."""


class _Invalid(Exception):
    """Internal: what is wrong, without the text (added by the caller)."""


@dataclass(frozen=True)
class _Component:
    """One element of a field's list: ``start[..stop][/repeat]`` (-1 / 0: absent).

    Seconds are kept in microseconds, as systemd does.
    """

    start: int
    stop: int = -1
    repeat: int = 0


_Chain = tuple[_Component, ...] | None  # None: "*"


# --------------------------------------------------------------------------- parsing


class _Parser:
    """Walks the text left to right, as systemd's parser does."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def skip_spaces(self) -> None:
        while self.peek() == " ":
            self.i += 1

    def at_end(self) -> bool:
        return self.i >= len(self.s)


def _fraction_usec(p: _Parser) -> int:
    """Up to six decimals (the seventh rounds), further digits ignored."""
    digits = ""
    while p.peek().isdigit() and p.peek().isascii():
        digits += p.peek()
        p.i += 1
    if not digits:
        raise _Invalid("a decimal point must be followed by digits")
    value = int((digits[:6]).ljust(6, "0"))
    if len(digits) > 6 and digits[6] >= "5":
        value += 1
    return value


def _decimal(p: _Parser, usec: bool, what: str) -> int:
    m = re.compile(r"[0-9]+").match(p.s, p.i)
    if m is None:
        got = p.peek() or "end of text"
        raise _Invalid(f"expected a number in the {what} field, got {got!r}")
    value = int(m.group())
    p.i = m.end()
    if usec:
        value *= USEC_PER_SEC
        if p.peek() == "." and p.peek(1) != ".":
            p.i += 1
            value += _fraction_usec(p)
    if value > _INT_MAX:
        raise _Invalid(f"number {m.group()} in the {what} field is too large")
    return value


def _component_list(p: _Parser, usec: bool, what: str) -> list[_Component]:
    comps: list[_Component] = []
    while True:
        if len(comps) > _MAX_COMPONENTS:
            raise _Invalid(f"too many values in the {what} field")
        start = _decimal(p, usec, what)
        stop = -1
        repeat = 0
        if p.peek() == "." and p.peek(1) == ".":
            p.i += 2
            stop = _decimal(p, usec, what)
            repeat = USEC_PER_SEC if usec else 1
        if p.peek() == "/":
            p.i += 1
            repeat = _decimal(p, usec, what)
            if repeat == 0:
                raise _Invalid(f"repetition of 0 in the {what} field")
        elif usec and stop >= 0 and start + repeat > stop:
            raise _Invalid(f"range in the {what} field is shorter than a second")
        if p.peek() not in ("", " ", ",", "-", "~", ":"):
            raise _Invalid(f"unexpected {p.peek()!r} in the {what} field")
        comps.append(_Component(start, stop, repeat))
        if p.peek() != ",":
            return comps
        p.i += 1


def _chain(p: _Parser, usec: bool, what: str) -> _Chain:
    if p.peek() == "*":
        p.i += 1
        if usec:
            return (_Component(0, -1, USEC_PER_SEC),)
        return None
    return tuple(_component_list(p, usec, what))


def _const(value: int) -> _Chain:
    return (_Component(value),)


@dataclass
class _Fields:
    weekdays: int = 0
    end_of_month: bool = False
    utc: bool = False
    timezone: str | None = None
    year: _Chain = None
    month: _Chain = None
    day: _Chain = None
    hour: _Chain = None
    minute: _Chain = None
    second: _Chain = None


def _parse_weekdays(p: _Parser, f: _Fields) -> None:
    first = True
    left = -1
    while True:
        rest = p.s[p.i:]
        for name, nr in _WEEKDAY_NAMES:  # noqa: B007 (used after the loop)
            if rest[: len(name)].lower() == name.lower():
                break
        else:
            if first:
                return
            raise _Invalid(f"expected a weekday at {rest!r}")
        after = rest[len(name): len(name) + 1]
        if after not in ("", "-", ".", ",", " "):
            raise _Invalid(f"unknown weekday {rest.split(' ')[0]!r}")
        f.weekdays |= 1 << nr
        if left >= 0:
            if left > nr:
                raise _Invalid(
                    f"weekday range {_WEEKDAY_SHORT[left]}..{_WEEKDAY_SHORT[nr]} goes backwards"
                )
            for j in range(left + 1, nr):
                f.weekdays |= 1 << j
        p.i += len(name)
        if p.at_end():
            return
        if p.peek() == " ":
            p.skip_spaces()
            return
        if p.peek() == ".":
            if left >= 0:
                raise _Invalid("a weekday range cannot continue into another range")
            if p.peek(1) != ".":
                raise _Invalid("a weekday range needs '..'")
            left = nr
            p.i += 2
        elif p.peek() == "-":
            if left >= 0:
                raise _Invalid("a weekday range cannot continue into another range")
            left = nr
            p.i += 1
        elif p.peek() == ",":
            left = -1
            p.i += 1
        if p.peek() in ("", " "):
            p.skip_spaces()
            if left >= 0:
                raise _Invalid("weekday range without an end")
            return
        first = False


def _date_separator(p: _Parser, f: _Fields) -> None:
    """The '-' between date parts, or '~' (counted from the end of the month)."""
    if p.peek() == "~":
        f.end_of_month = True
    elif p.peek() != "-":
        raise _Invalid(f"unexpected {p.peek()!r} in the date")
    p.i += 1


def _parse_date(p: _Parser, f: _Fields) -> bool:
    """Parse the date part, if there is one; True if the whole spec is done (``@``)."""
    if p.at_end():
        return False
    if p.peek() == "@":
        m = re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)").match(p.s, p.i + 1)
        if m is None:
            raise _Invalid("'@' must be followed by seconds since 1970")
        seconds = int(m.group(2))
        if seconds >= 2**64:
            raise _Invalid("timestamp out of range")
        if m.group(1) == "-":
            seconds = -seconds
        if not 0 <= seconds <= _USEC_FORMATTABLE_MAX // USEC_PER_SEC:
            raise _Invalid(f"timestamp @{m.group(1)}{m.group(2)} is out of range")
        tm = datetime(1970, 1, 1) + timedelta(seconds=seconds)
        f.year, f.month, f.day = _const(tm.year), _const(tm.month), _const(tm.day)
        f.hour, f.minute = _const(tm.hour), _const(tm.minute)
        f.second = _const(tm.second * USEC_PER_SEC)
        f.utc = True
        p.i = m.end()
        return True
    start = p.i
    first = _chain(p, False, "year or month")
    if p.peek() in ("", ":"):
        p.i = start  # it was the hour
        return False
    _date_separator(p, f)
    second = _chain(p, False, "month or day")
    if p.peek() in ("", " "):
        p.skip_spaces()
        f.month, f.day = first, second
        return False
    if f.end_of_month:
        raise _Invalid("'~' must come before the day")
    _date_separator(p, f)
    third = _chain(p, False, "day")
    if p.peek() not in ("", " "):
        raise _Invalid(f"unexpected {p.peek()!r} after the date")
    p.skip_spaces()
    f.year, f.month, f.day = first, second, third
    return False


def _parse_time(p: _Parser, f: _Fields) -> None:
    if p.at_end():
        f.hour, f.minute, f.second = _const(0), _const(0), _const(0)
        return
    hour = _chain(p, False, "hour")
    if p.peek() != ":":
        got = repr(p.peek()) if p.peek() else "end of text"
        raise _Invalid(f"expected ':' after the hour, got {got}")
    p.i += 1
    minute = _chain(p, False, "minute")
    if p.at_end():
        f.hour, f.minute, f.second = hour, minute, _const(0)
        return
    if p.peek() != ":":
        raise _Invalid(f"unexpected {p.peek()!r} after the minute")
    p.i += 1
    second = _chain(p, True, "second")
    if not p.at_end():
        raise _Invalid(f"unexpected {p.s[p.i:]!r} after the time")
    f.hour, f.minute, f.second = hour, minute, second


_SHORTHANDS: dict[str, tuple[int, _Chain, _Chain, bool]] = {
    # name: (weekdays, month, day, hour and minute are 00)
    "minutely": (0, None, None, False),
    "hourly": (0, None, None, False),
    "daily": (0, None, None, True),
    "monthly": (0, None, _const(1), True),
    "weekly": (1, None, None, True),
    "yearly": (0, _const(1), _const(1), True),
    "annually": (0, _const(1), _const(1), True),
    "anually": (0, _const(1), _const(1), True),
    "quarterly": (0, tuple(_Component(m) for m in (1, 4, 7, 10)), _const(1), True),
    "semiannually": (0, (_Component(1), _Component(7)), _const(1), True),
    "semi-annually": (0, (_Component(1), _Component(7)), _const(1), True),
    "biannually": (0, (_Component(1), _Component(7)), _const(1), True),
    "bi-annually": (0, (_Component(1), _Component(7)), _const(1), True),
}

_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*")


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo | None:
    """The zone if the zone database has one of that name (systemd's test), else None."""
    if not _ZONE_NAME.fullmatch(name) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return None


def _full_year(y: int) -> int:
    return y + 2000 if 0 <= y < 70 else y + 1900 if 70 <= y < 100 else y


def _normalize_chain(chain: _Chain, is_year: bool = False) -> _Chain:
    if chain is None:
        return None
    out: set[_Component] = set()
    for c in chain:
        start, stop, repeat = c.start, c.stop, c.repeat
        if is_year:  # two-digit years: 00-69 -> 2000-2069, 70-99 -> 1970-1999
            start, stop = _full_year(start), _full_year(stop)
        if stop > start and repeat > 0:
            stop -= (stop - start) % repeat
        if (stop > start and start + repeat > stop) or start == stop:
            repeat, stop = 0, -1
        out.add(_Component(start, stop, repeat))
    return tuple(sorted(out, key=lambda c: (c.start, c.stop, c.repeat)))


def _check_chain(chain: _Chain, what: str, lo: int, hi: int, end_of_month: bool = False) -> None:
    if chain is None:
        return
    if end_of_month:
        hi -= 3
    scale = USEC_PER_SEC if what == "second" else 1
    for c in chain:
        shown = _fmt_value(c.start, 1, what == "second")
        if not lo <= c.start <= hi:
            if end_of_month:
                raise _Invalid(f"day ~{shown} is out of range (1..{hi})")
            raise _Invalid(f"{what} {shown} is out of range")
        if c.repeat > hi - lo:
            raise _Invalid(f"{what} repetition /{_fmt_value(c.repeat, 1, scale > 1)} is too large")
        # at least one repetition must fit (counting backwards from the month's end)
        if c.stop < 0 and c.repeat > 0 and (
            (c.start - c.repeat < lo) if end_of_month else (c.start + c.repeat > hi)
        ):
                raise _Invalid(f"{what} {shown}/{_fmt_value(c.repeat, 1, scale > 1)} "
                               "never repeats")
        if c.stop >= 0:
            if not lo <= c.stop <= hi:
                raise _Invalid(f"{what} {_fmt_value(c.stop, 1, scale > 1)} is out of range")
            if c.stop < c.start:
                raise _Invalid(f"{what} range {shown}..{_fmt_value(c.stop, 1, scale > 1)} "
                               "goes backwards")


def _fmt_value(v: int, width: int, usec: bool) -> str:
    if not usec:
        return f"{v:0{width}d}"
    s = f"{v // USEC_PER_SEC:0{width}d}"
    if v % USEC_PER_SEC:
        s += f".{v % USEC_PER_SEC:06d}"
    return s


def _fmt_chain(chain: _Chain, width: int, usec: bool = False) -> str:
    if chain is None:
        return "*"
    if usec and len(chain) == 1 and chain[0] == _Component(0, -1, USEC_PER_SEC):
        return "*"
    one = USEC_PER_SEC if usec else 1
    parts = []
    for c in chain:
        s = _fmt_value(c.start, width, usec)
        if c.stop > 0:
            s += ".." + _fmt_value(c.stop, width, usec)
        if c.repeat > 0 and not (c.stop > 0 and c.repeat == one):
            s += "/" + _fmt_value(c.repeat, 1, usec)
        parts.append(s)
    return ",".join(parts)


def _fmt_weekdays(bits: int) -> str:
    runs: list[tuple[int, int]] = []
    for d in range(7):
        if bits & (1 << d):
            if runs and runs[-1][1] == d - 1:
                runs[-1] = (runs[-1][0], d)
            else:
                runs.append((d, d))
    out = []
    for a, b in runs:
        if b == a:
            out.append(_WEEKDAY_SHORT[a])
        elif b == a + 1:
            out.append(f"{_WEEKDAY_SHORT[a]},{_WEEKDAY_SHORT[b]}")
        else:
            out.append(f"{_WEEKDAY_SHORT[a]}..{_WEEKDAY_SHORT[b]}")
    return ",".join(out)


def _parse_fields(text: str) -> _Fields:
    f = _Fields()
    body = text
    if body.lower().endswith(" utc"):
        f.utc = True
        body = body[:-4]
    else:
        space = body.rfind(" ")
        if space >= 0 and _zone(body[space + 1:]) is not None:
            f.timezone = body[space + 1:]
            body = body[:space]
    if not body:
        raise _Invalid("it is empty")
    short = _SHORTHANDS.get(body.lower())
    if short is not None:
        weekdays, month, day, midnight = short
        f.weekdays, f.month, f.day = weekdays, month, day
        if body.lower() != "minutely":
            f.minute = _const(0)
        if midnight:
            f.hour = _const(0)
        f.second = _const(0)
    else:
        p = _Parser(body)
        _parse_weekdays(p, f)
        if not _parse_date(p, f):
            _parse_time(p, f)
        if not p.at_end():
            raise _Invalid(f"unexpected {p.s[p.i:]!r}")
    # normalise as systemd does
    if f.timezone == "UTC":
        f.utc, f.timezone = True, None
    if f.weekdays <= 0 or f.weekdays >= _ALL_WEEKDAYS:
        f.weekdays = -1
    if f.end_of_month and f.day is None:
        f.end_of_month = False
    f.year = _normalize_chain(f.year, is_year=True)
    f.month = _normalize_chain(f.month)
    f.day = _normalize_chain(f.day)
    f.hour = _normalize_chain(f.hour)
    f.minute = _normalize_chain(f.minute)
    f.second = _normalize_chain(f.second)
    _check_chain(f.year, "year", _MIN_YEAR, _MAX_YEAR)
    _check_chain(f.month, "month", 1, 12)
    _check_chain(f.day, "day", 1, 31, f.end_of_month)
    _check_chain(f.hour, "hour", 0, 23)
    _check_chain(f.minute, "minute", 0, 59)
    _check_chain(f.second, "second", 0, 60 * USEC_PER_SEC - 1)
    return f


# --------------------------------------------------------------------------- computing


class _Clock:
    """``mktime()``/``localtime()`` in one zone, with glibc's choice of instant for
    an ambiguous wall-clock time (the UTC offset of the previous result)."""

    def __init__(self, zone: tzinfo, utc: bool) -> None:
        self.zone = zone
        self.fixed: int | None = 0 if utc else None
        if not utc and isinstance(zone, timezone):
            off = zone.utcoffset(None)
            self.fixed = int(off.total_seconds())
        self.last_offset = 0

    def offset_at(self, t: int) -> int:
        if self.fixed is not None:
            return self.fixed
        off = datetime.fromtimestamp(t, self.zone).utcoffset()
        return int(off.total_seconds()) if off is not None else 0

    def localtime(self, t: int) -> list[int]:
        return _wall_fields(t + self.offset_at(t))

    def mktime(self, tm: list[int]) -> int | None:
        """Normalise ``tm`` (year, month 0-11, day, hour, minute, second) in place to
        the wall-clock time it denotes; the instant, None if before 1970 (an error)."""
        wall = _wall_seconds(tm)
        if self.fixed is not None:
            t = wall - self.fixed
        else:
            t = self._resolve(wall)
        tm[:] = self.localtime(t)
        return t if t >= 0 else None

    def _resolve(self, wall: int) -> int:
        t = wall - self.last_offset
        seen: list[int] = []
        for _ in range(6):
            off = self.offset_at(t)
            if t + off == wall:
                self.last_offset = off
                return t
            seen.append(t)
            t = wall - off
            if t in seen:
                break
        # no such wall-clock time (a gap): the time as if the change had not happened yet
        f = _wall_fields(wall)
        naive = datetime(f[0], f[1] + 1, f[2], f[3], f[4], f[5])
        t = int(naive.replace(tzinfo=self.zone, fold=0).timestamp())
        self.last_offset = self.offset_at(t)
        return t


def _wall_seconds(tm: list[int]) -> int:
    year, mon, mday, hour, minute, sec = tm
    year += mon // 12
    mon %= 12
    days = date(year, mon + 1, 1).toordinal() - _EPOCH_ORDINAL + mday - 1
    return days * 86400 + hour * 3600 + minute * 60 + sec


def _wall_fields(seconds: int) -> list[int]:
    days, rest = divmod(seconds, 86400)
    d = date.fromordinal(_EPOCH_ORDINAL + days)
    return [d.year, d.month - 1, d.day, rest // 3600, rest // 60 % 60, rest % 60]


@dataclass(frozen=True)
class CalendarSpec:
    """A parsed calendar event; build it with :func:`parse_calendar`."""

    text: str
    weekdays: int = field(default=-1, compare=False)
    end_of_month: bool = field(default=False, compare=False)
    utc: bool = field(default=False, compare=False)
    timezone: str | None = field(default=None, compare=False)
    year: _Chain = field(default=None, compare=False)
    month: _Chain = field(default=None, compare=False)
    day: _Chain = field(default=None, compare=False)
    hour: _Chain = field(default=None, compare=False)
    minute: _Chain = field(default=None, compare=False)
    second: _Chain = field(default=None, compare=False, repr=False)

    def normalized(self) -> str:
        """The "Normalized form" systemd-analyze calendar prints."""
        s = ""
        if 0 < self.weekdays < _ALL_WEEKDAYS:
            s = _fmt_weekdays(self.weekdays) + " "
        s += _fmt_chain(self.year, 4) + "-" + _fmt_chain(self.month, 2)
        s += ("~" if self.end_of_month else "-") + _fmt_chain(self.day, 2) + " "
        s += _fmt_chain(self.hour, 2) + ":" + _fmt_chain(self.minute, 2) + ":"
        s += _fmt_chain(self.second, 2, usec=True)
        if self.utc:
            s += " UTC"
        elif self.timezone:
            s += " " + self.timezone
        return s

    def zone(self, default: tzinfo) -> tzinfo:
        """The zone the event is computed in: its own if it names one, else ``default``."""
        if self.utc:
            return UTC
        if self.timezone is not None:
            z = _zone(self.timezone)
            if z is not None:
                return z
        return default

    def next_after(self, when: datetime) -> datetime | None:
        """The first elapse strictly after ``when`` (aware), or None if there is none."""
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError("next_after() needs an aware datetime")
        zone = self.zone(when.tzinfo)
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        usec = (when - epoch) // timedelta(microseconds=1)
        if usec < 0 or usec > _USEC_FORMATTABLE_MAX:
            return None
        usec += 1
        clock = _Clock(zone, self.utc)
        t0 = usec // USEC_PER_SEC
        clock.last_offset = clock.offset_at(t0)
        tm = clock.localtime(t0)
        found = self._find_next(clock, tm, usec % USEC_PER_SEC)
        if found is None:
            return None
        tm, tm_usec = found
        t = clock.mktime(tm)
        if t is None:
            return None
        return datetime.fromtimestamp(t, zone).replace(microsecond=tm_usec)

    # The search, step by step as systemd's find_next() does it (the same order of
    # fields, the same resets, the same normalisations), so that corner cases agree.

    def _match(self, clock: _Clock, chain: _Chain, tm: list[int], val: int,
               is_day: bool = False) -> tuple[int, int] | None:
        """(earliest value >= val the chain allows, changed?) or None if none."""
        if chain is None:
            return val, 0
        best: int | None = None
        eom = is_day and self.end_of_month
        for c in chain:
            start, stop = c.start, c.stop
            if eom:
                start = self._end_of_month(clock, tm, start)
                stop = self._end_of_month(clock, tm, stop)
                if stop > 0:
                    start, stop = stop, start
            if start >= val:
                if best is None or start < best:
                    best = start
            elif c.repeat > 0:
                k = start + -(-(val - start) // c.repeat) * c.repeat
                if (best is None or k < best) and (stop < 0 or k <= stop):
                    best = k
        if best is None:
            return None
        return best, int(best != val)

    @staticmethod
    def _end_of_month(clock: _Clock, tm: list[int], day: int) -> int:
        t = list(tm)
        t[1] += 1
        t[2] = 1 - day
        if clock.mktime(t) is None or t[1] != tm[1]:
            return -1
        return t[2]

    @staticmethod
    def _within_bounds(clock: _Clock, tm: list[int]) -> int:
        """1 if ``tm`` is a real wall-clock time; 0 if it is not but normalises to a
        later one (``tm`` becomes that, e.g. 02:00 in a spring-forward gap becomes
        03:00, or March 32nd April 1st); -1 if it is out of range or goes backwards."""
        if tm[0] > _MAX_YEAR:
            return -1
        t = list(tm)
        if clock.mktime(t) is None:
            return -1
        for i in range(6):
            if t[i] != tm[i]:
                if i < 5:  # the unit below restarts: month 0, day 1, hour/min/sec 0
                    t[i + 1] = 1 if i == 1 else 0
                if t[i] < tm[i]:
                    return -1
                tm[:] = t
                return 0
        return 1

    def _weekday_ok(self, clock: _Clock, tm: list[int]) -> bool:
        if self.weekdays < 0 or self.weekdays >= _ALL_WEEKDAYS:
            return True
        t = list(tm)
        if clock.mktime(t) is None:
            return False
        wd = date(t[0], t[1] + 1, t[2]).weekday()
        return bool(self.weekdays & (1 << wd))

    def _find_next(self, clock: _Clock, tm: list[int],
                   usec: int) -> tuple[list[int], int] | None:
        c = list(tm)
        Y, M, D, h, m, s = range(6)
        for _ in range(_MAX_ITERATIONS):
            clock.mktime(c)
            r = self._match(clock, self.year, c, c[Y])
            if r is None:
                return None
            c[Y] = r[0]
            if r[1]:
                c[M:] = [0, 1, 0, 0, 0]
                usec = 0
            if self._within_bounds(clock, c) <= 0:
                return None

            r = self._match(clock, self.month, c, c[M] + 1)
            if r is not None:
                c[M] = r[0] - 1
                if r[1]:
                    c[D:] = [1, 0, 0, 0]
                    usec = 0
            ok = -1 if r is None else self._within_bounds(clock, c)
            if ok < 0:
                c[Y] += 1
                c[M:] = [0, 1, 0, 0, 0]
                usec = 0
            if ok <= 0:
                continue

            r = self._match(clock, self.day, c, c[D], is_day=True)
            if r is not None:
                c[D] = r[0]
                if r[1]:
                    c[h:] = [0, 0, 0]
                    usec = 0
            ok = -1 if r is None else self._within_bounds(clock, c)
            if ok < 0:
                c[M] += 1
                c[D:] = [1, 0, 0, 0]
                usec = 0
            if ok <= 0:
                continue

            if not self._weekday_ok(clock, c):
                c[D] += 1
                c[h:] = [0, 0, 0]
                usec = 0
                continue

            r = self._match(clock, self.hour, c, c[h])
            if r is not None:
                c[h] = r[0]
                if r[1]:
                    c[m:] = [0, 0]
                    usec = 0
            ok = -1 if r is None else self._within_bounds(clock, c)
            if ok < 0:
                c[D] += 1
                c[h:] = [0, 0, 0]
                usec = 0
            if ok <= 0:  # 0: that hour is missing (a DST gap); go on from where it lands
                continue

            r = self._match(clock, self.minute, c, c[m])
            if r is not None:
                c[m] = r[0]
                if r[1]:
                    c[s] = 0
                    usec = 0
            ok = -1 if r is None else self._within_bounds(clock, c)
            if ok < 0:
                c[h] += 1
                c[m:] = [0, 0]
                usec = 0
            if ok <= 0:
                continue

            r = self._match(clock, self.second, c, c[s] * USEC_PER_SEC + usec)
            if r is not None:
                c[s], usec = divmod(r[0], USEC_PER_SEC)
            ok = -1 if r is None else self._within_bounds(clock, c)
            if ok < 0:
                c[m] += 1
                c[s] = 0
                usec = 0
            if ok <= 0:
                continue
            return c, usec
        return None  # systemd gives up too ("Infinite loop in calendar calculation")


def parse_calendar(text: str) -> CalendarSpec:
    """Parse a systemd calendar event (``OnCalendar=``); CalendarError if systemd would not."""
    try:
        f = _parse_fields(text)
    except _Invalid as e:
        raise CalendarError(f"invalid calendar specification {text!r}: {e}") from None
    return CalendarSpec(
        text=text, weekdays=f.weekdays, end_of_month=f.end_of_month, utc=f.utc,
        timezone=f.timezone, year=f.year, month=f.month, day=f.day, hour=f.hour,
        minute=f.minute, second=f.second,
    )


# --------------------------------------------------------------------------- time spans

_UNITS: tuple[tuple[str, int], ...] = (
    # longest first where one is a prefix of another, as systemd matches them
    ("seconds", USEC_PER_SEC), ("second", USEC_PER_SEC), ("sec", USEC_PER_SEC),
    ("s", USEC_PER_SEC),
    ("minutes", 60 * USEC_PER_SEC), ("minute", 60 * USEC_PER_SEC), ("min", 60 * USEC_PER_SEC),
    ("months", 2_629_800 * USEC_PER_SEC), ("month", 2_629_800 * USEC_PER_SEC),
    ("M", 2_629_800 * USEC_PER_SEC),
    ("msec", 1000), ("ms", 1000),
    ("m", 60 * USEC_PER_SEC),
    ("hours", 3600 * USEC_PER_SEC), ("hour", 3600 * USEC_PER_SEC), ("hr", 3600 * USEC_PER_SEC),
    ("h", 3600 * USEC_PER_SEC),
    ("days", 86400 * USEC_PER_SEC), ("day", 86400 * USEC_PER_SEC), ("d", 86400 * USEC_PER_SEC),
    ("weeks", 604800 * USEC_PER_SEC), ("week", 604800 * USEC_PER_SEC),
    ("w", 604800 * USEC_PER_SEC),
    ("years", 31_557_600 * USEC_PER_SEC), ("year", 31_557_600 * USEC_PER_SEC),
    ("y", 31_557_600 * USEC_PER_SEC),
    ("usec", 1), ("us", 1), ("\u03bcs", 1), ("\u00b5s", 1),
)
_USEC_INFINITY = 2**64 - 1
_SPACE = " \t\n\r"


def _parse_usec(text: str, default_unit: int = USEC_PER_SEC) -> int:
    """systemd's parse_time(): a sum of numbers with units; microseconds."""
    p = text.lstrip(_SPACE)
    if p.startswith("infinity"):
        if p[len("infinity"):].strip(_SPACE):
            raise _Invalid(f"unexpected {p[len('infinity'):].strip(_SPACE)!r} after 'infinity'")
        return _USEC_INFINITY
    total = 0
    something = False
    while True:
        p = p.lstrip(_SPACE)
        if not p:
            if not something:
                raise _Invalid("no time span given")
            return total
        if p.startswith("-"):
            raise _Invalid("negative time span")
        m = re.match(r"[ \t\n\r\f\v]*([+-]?)([0-9]*)", p)
        assert m is not None
        if m.group(1) == "-" and m.group(2).strip("0"):
            raise _Invalid("negative time span")
        whole = int(m.group(2)) if m.group(2) else 0
        e = m.end() if m.group(2) else 0
        frac = ""
        if p[e:e + 1] == ".":
            fm = re.compile(r"[0-9]*").match(p, e + 1)
            assert fm is not None
            frac = fm.group()
            rest = p[fm.end():]
            if not frac:
                raise _Invalid(f"a decimal point must be followed by digits in {text!r}")
        elif not m.group(2):
            raise _Invalid(f"expected a number at {p!r}")
        else:
            rest = p[e:]
        multiplier = default_unit
        stripped = rest.lstrip(_SPACE)
        after = stripped
        for suffix, unit in _UNITS:
            if stripped.startswith(suffix):
                multiplier = unit
                after = stripped[len(suffix):]
                break
        if after is rest and rest:
            raise _Invalid(f"unknown unit at {rest!r}")
        p = after
        if whole >= _USEC_INFINITY // multiplier:
            raise _Invalid("time span too large")
        total += whole * multiplier
        scale = multiplier // 10
        for ch in frac:
            total += int(ch) * scale
            scale //= 10
        if total >= _USEC_INFINITY:
            raise _Invalid("time span too large")
        something = True


def parse_timespan(text: str) -> float:
    """A systemd time span ("5min", "1h 30min", "1.5h", "10" = seconds) in seconds.

    ``infinity`` gives ``math.inf``.  CalendarError if systemd would not accept it.
    """
    try:
        usec = _parse_usec(text)
    except _Invalid as e:
        raise CalendarError(f"invalid time span {text!r}: {e}") from None
    if usec == _USEC_INFINITY:
        return float("inf")
    return usec / USEC_PER_SEC

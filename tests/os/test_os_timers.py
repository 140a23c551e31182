"""Timer units under the supervisor manager: the ``pynix-timers`` program of a
machine starts each timer's service when its calendar (or time span) elapses,
stops with the timer, and refuses a timer it could not run."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from os_synth import World, timer_dues, wait_for

from pynix.os.calendar import parse_calendar
from pynix.os.timers import TimerError, TimerSpec
from pynix.os.units import Unit, parse_unit_text


def tick_service(name: str) -> str:
    return ("[Service]\nType=oneshot\n"
            f"ExecStart=/bin/sh -c 'date +%%s.%%N >> /var/lib/{name}'\n")


def ticks(w: World, name: str) -> list[float]:
    try:
        return [float(x) for x in (w.root / "var/lib" / name).read_text().split()]
    except FileNotFoundError:
        return []


def test_timers_run_their_services(world: World) -> None:
    w = world
    gen1 = w.system({
        "every2.service": tick_service("every2"),
        "every2.timer": "[Timer]\nOnCalendar=*:*:0/2\n",
        "once.service": tick_service("once"),
        "once.timer": "[Unit]\nDescription=once\n[Timer]\nOnActiveSec=1500ms\nUnit=once.service\n",
    }, wanted=["every2.timer", "once.timer"], label="timers")
    started = time.time()
    first = w.switch(gen1)
    finished = time.time()
    assert first.returncode == 0, first.stderr
    assert "does not run these units" not in first.stderr
    assert "every2.timer" in first.stderr and "once.timer" in first.stderr  # started

    wait_for("three runs of every2", lambda: len(ticks(w, "every2")) >= 3, timeout=15)
    dues = timer_dues(w.root, "every2.timer")
    # due on the even seconds of the calendar, one run each, each run after its moment
    assert len(dues) >= 3 and all(d % 2 == 0 for d in dues), dues
    assert dues == sorted(set(dues)) and dues[0] > started, dues
    assert all(t >= d for t, d in zip(ticks(w, "every2"), dues, strict=False))
    wait_for("once", lambda: ticks(w, "once"), timeout=10)
    (due,) = timer_dues(w.root, "once.timer")
    assert started + 1.5 <= due <= finished + 1.5
    assert ticks(w, "once")[0] >= due
    status = {e["unit"]: e for e in json.loads(w.os("status", "--json").stdout)}
    assert status["every2.timer"]["state"] == "waiting"
    assert status["every2.timer"]["activates"] == "every2.service"
    assert "next" in status["every2.timer"] and "last" in status["every2.timer"]
    time.sleep(2.5)
    assert len(ticks(w, "once")) == 1  # OnActiveSec= fires once

    # generation 2: every2.timer gone (stopped: no more ticks), a bad timer refused
    gen2 = w.system({
        "every2.service": tick_service("every2"),
        "bad.service": tick_service("bad"),
        "bad.timer": "[Timer]\nOnCalendar=Mon *-*-* 25:00\n",
    }, wanted=["bad.timer"], label="bad")
    second = w.switch(gen2)
    assert second.returncode == 4, second.stderr
    assert "stopping the following units: every2.timer, once.timer" in second.stderr
    assert "Failed to start bad.timer" in second.stderr
    assert "25:00" in second.stderr
    # the failed switch put generation 1 back: its timers run again
    n = len(ticks(w, "every2"))
    wait_for("every2 after the rollback", lambda: len(ticks(w, "every2")) > n, timeout=15)

    gen3 = w.system({"every2.service": tick_service("every2")}, wanted=[], label="none")
    third = w.switch(gen3)
    assert third.returncode == 0, third.stderr
    assert "every2.timer" in third.stderr  # stopped
    time.sleep(0.5)
    n = len(ticks(w, "every2"))
    time.sleep(3.0)
    assert len(ticks(w, "every2")) == n


def test_next_elapse_rules() -> None:
    """The daemon's arithmetic around the calendar: after the start or the
    last trigger; a persistent timer catches up on a missed event; spans."""
    unit = Unit("x.timer", parse_unit_text("[Timer]\nOnCalendar=*-*-* 04:00:00\n"
                                           "Persistent=true\nOnBootSec=10min\n"
                                           "OnUnitActiveSec=1h\n", "x.timer"))
    spec = TimerSpec.from_unit(unit)
    assert spec.unit == "x.service" and spec.persistent
    utc = UTC
    day = datetime(2026, 3, 10, tzinfo=utc).timestamp()
    cal = parse_calendar("*-*-* 04:00:00")

    def calendar_after(ts: float) -> float:
        nxt = cal.next_after(datetime.fromtimestamp(ts, utc))
        assert nxt is not None
        return nxt.timestamp()

    boot = day + 3600 * 5  # 05:00
    since = boot + 60
    # never triggered: the boot span, then the calendar (next 04:00)
    assert spec.next_elapse(since=since, boot=boot, last=None, tz=utc) == boot + 600
    # triggered by the boot span: an hour later (OnUnitActiveSec) comes first
    last = boot + 600
    assert spec.next_elapse(since=since, boot=boot, last=last, tz=utc) == last + 3600
    # last triggered two days ago: the hour after that is long due
    old = day - 2 * 86400
    assert spec.next_elapse(since=since, boot=boot, last=old, tz=utc) == old + 3600

    def timer(text: str) -> TimerSpec:
        return TimerSpec.from_unit(Unit("y.timer", parse_unit_text(text, "y.timer")))

    # persistent: due at the first 04:00 missed since the last trigger
    persistent = timer("[Timer]\nOnCalendar=*-*-* 04:00:00\nPersistent=yes\n")
    assert persistent.next_elapse(since=since, boot=boot, last=old, tz=utc) == \
        calendar_after(old)
    assert calendar_after(old) < since
    plain = timer("[Timer]\nOnCalendar=*-*-* 04:00:00\n")
    # not persistent: missed events are not made up for
    assert plain.next_elapse(since=since, boot=boot, last=old, tz=utc) == calendar_after(since)
    with pytest.raises(TimerError, match=r"y\.timer: .*25:00"):
        timer("[Timer]\nOnCalendar=Mon *-*-* 25:00\n")
    with pytest.raises(TimerError, match="no OnCalendar"):
        timer("[Timer]\nPersistent=yes\n")

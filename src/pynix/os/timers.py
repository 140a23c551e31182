"""Timer units where systemd does not run them: the timer half of the
machine's activator daemon (:mod:`pynix.os.activator`).

The supervisor manager keeps the machine's active timers in
``<run/pynix>/active-timers.json`` (each timer with the time it was started,
and the unit directory of the current system).  The daemon reads the
``[Timer]`` section of each active timer, computes when it elapses as
systemd would (``OnCalendar=`` in the machine's time zone, ``OnActiveSec=``,
``OnBootSec=``/``OnStartupSec=`` from the start of the machine's supervisord,
``OnUnitActiveSec=``/``OnUnitInactiveSec=`` from the timer's last trigger,
``Persistent=``), and at that moment starts the unit the
timer activates (``Unit=``, by default the service of the same name) unless it
is running already.  What it did and what comes next are in
``timers-state.json`` beside the list, for ``pynix os status``.

Persistent timers keep their last trigger in the machine's
``/var/lib/systemd/timers/stamp-<timer>`` (its modification time), as systemd
does: a persistent timer whose calendar elapsed while it was inactive is
triggered as soon as it is active again.
"""

from __future__ import annotations

import contextlib
import os
import time
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .calendar import CalendarError, CalendarSpec, parse_calendar, parse_timespan
from .statefile import Report, Watched, read_dict
from .units import Unit, UnitError, read_unit

if TYPE_CHECKING:
    from .machine import Machine
    from .managers.supervisor import SupervisorManager

ACTIVE_FILE = "active-timers.json"
STATE_FILE = "timers-state.json"
STAMP_DIR = "/var/lib/systemd/timers"


class TimerError(Exception):
    """A timer unit this manager cannot run (the message names the unit and setting)."""


@dataclass
class TimerSpec:
    name: str
    unit: str  # what it activates
    calendars: list[CalendarSpec] = field(default_factory=list)
    on_active: list[float] = field(default_factory=list)
    on_boot: list[float] = field(default_factory=list)
    on_unit_active: list[float] = field(default_factory=list)
    on_unit_inactive: list[float] = field(default_factory=list)
    persistent: bool = False

    @classmethod
    def from_unit(cls, u: Unit) -> TimerSpec:
        spec = cls(u.name, u.get("Timer", "Unit") or u.name.rsplit(".", 1)[0] + ".service")
        try:
            for value in u.values("Timer", "OnCalendar"):
                if value.strip():
                    spec.calendars.append(parse_calendar(value.strip()))
            for key, into in (("OnActiveSec", spec.on_active), ("OnBootSec", spec.on_boot),
                              ("OnStartupSec", spec.on_boot),
                              ("OnUnitActiveSec", spec.on_unit_active),
                              ("OnUnitInactiveSec", spec.on_unit_inactive)):
                for value in u.values("Timer", key):
                    if value.strip():
                        into.append(parse_timespan(value.strip()))
        except CalendarError as e:
            raise TimerError(f"{u.name}: {e}") from None
        spec.persistent = u.get_bool("Timer", "Persistent")
        if not (spec.calendars or spec.on_active or spec.on_boot or spec.on_unit_active
                or spec.on_unit_inactive):
            raise TimerError(f"{u.name}: the timer has no OnCalendar= or On...Sec= setting")
        return spec

    def next_elapse(self, *, since: float, boot: float, last: float | None,
                    tz: tzinfo) -> float | None:
        """When the timer elapses next (a POSIX time, maybe in the past: due).

        ``since``: when the timer was started; ``boot``: when the machine's
        manager started; ``last``: the last trigger (for a persistent timer,
        possibly from before ``since``)."""
        times: list[float] = []
        # calendar events after the last trigger, or after the start; a
        # persistent timer catches up on an event missed while it was inactive
        if self.persistent and last is not None:
            base = last
        else:
            base = max(since, last) if last is not None else since
        for cal in self.calendars:
            nxt = cal.next_after(datetime.fromtimestamp(base, tz))
            if nxt is not None:
                times.append(nxt.timestamp())
        # monotonic ones relative to a fixed point fire once
        for span, origin in [(s, since) for s in self.on_active] + \
                            [(s, boot) for s in self.on_boot]:
            at = origin + span
            if last is None or last < at:
                times.append(at)
        # relative to the last activation: again and again
        if last is not None:
            times += [last + s for s in self.on_unit_active + self.on_unit_inactive]
        return min(times) if times else None


def machine_timezone(localtime: str) -> tzinfo:
    """The zone of the machine's ``/etc/localtime`` (host path), UTC without one."""
    try:
        with open(localtime, "rb") as fh:
            return ZoneInfo.from_file(fh, key=os.path.basename(os.path.realpath(localtime)))
    except (OSError, ValueError):
        return UTC


class TimerDaemon:
    def __init__(self, machine: Machine, manager: SupervisorManager,
                 say: Callable[[str], None]) -> None:
        self.machine = machine
        self.manager = manager
        self.say = say
        self.state_dir = self.manager.dir
        self.active = Watched(self.manager.timers_file)
        self.report = Report(os.path.join(self.state_dir, STATE_FILE))
        self.boot = self._boot_time()
        # timer -> (unit dir, when it was started, its settings)
        self.loaded: dict[str, tuple[str, float, TimerSpec]] = {}
        self.last: dict[str, float] = {}
        self.next: dict[str, float | None] = {}
        self.errors: dict[str, str] = {}

    def _boot_time(self) -> float:
        try:
            return os.stat(os.path.join(self.state_dir, "supervisord.pid")).st_mtime
        except OSError:
            return time.time()

    def _stamp(self, timer: str) -> str:
        return self.machine.path(f"{STAMP_DIR}/stamp-{timer}")

    def refresh(self) -> None:
        """Load the timers that were started or changed; forget the stopped ones."""
        active = self.active.read()
        unit_dir = str(active.get("unit_dir", ""))
        timers: dict[str, float] = active.get("timers", {})
        for gone in set(self.loaded) - set(timers):
            self.say(f"{gone}: stopped")
            del self.loaded[gone]
            self.last.pop(gone, None)
            self.next.pop(gone, None)
        for name, since in timers.items():
            have = self.loaded.get(name)
            if have is not None and have[0] == unit_dir and have[1] == since:
                continue
            try:
                u = read_unit(unit_dir, name, self.machine.host)
                if u is None:
                    raise TimerError(f"{name}: no such unit in {unit_dir}")
                spec = TimerSpec.from_unit(u)
            except (TimerError, UnitError) as e:
                if self.errors.get(name) != str(e):
                    self.say(f"error: {e}")
                self.errors[name] = str(e)
                continue
            self.errors.pop(name, None)
            if have is None or have[1] != since:
                self.last.pop(name, None)
                if spec.persistent:
                    with contextlib.suppress(OSError):
                        self.last[name] = os.stat(self._stamp(name)).st_mtime
                self.say(f"{name}: started, activates {spec.unit}")
            self.loaded[name] = (unit_dir, since, spec)

    def tick(self, now: float) -> float:
        """Trigger what is due; return how long to sleep."""
        tz = machine_timezone(self.machine.host("/etc/localtime"))
        wait = 1.0
        for name, (_, since, spec) in sorted(self.loaded.items()):
            at = spec.next_elapse(since=since, boot=self.boot, last=self.last.get(name), tz=tz)
            if at is not None and at <= now:
                self.trigger(name, spec, now, at)
                at = spec.next_elapse(since=since, boot=self.boot, last=now, tz=tz)
            self.next[name] = at
            if at is not None:
                wait = min(wait, max(0.01, at - now))
        self._write_state()
        return wait

    def trigger(self, name: str, spec: TimerSpec, now: float, due: float) -> None:
        self.last[name] = now
        label = f"{name} (due {_when(due)})"
        if spec.persistent:
            stamp = self._stamp(name)
            with contextlib.suppress(OSError):
                os.makedirs(os.path.dirname(stamp), exist_ok=True)
                with open(stamp, "a"):
                    pass
                os.utime(stamp, (now, now))
        from .managers.supervisor import RUNNING_STATES, program_name

        program = program_name(spec.unit)
        try:
            rpc = self.manager._rpc()
            info = rpc.getProcessInfo(program)
            if info["statename"] in RUNNING_STATES:
                self.say(f"{label}: elapsed; {spec.unit} is still running")
                return
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.manager.markers, spec.unit + ".started"))
            rpc.startProcess(program, False)
            self.say(f"{label}: elapsed; started {spec.unit}")
        except xmlrpc.client.Fault as e:
            self.say(f"{label}: elapsed; could not start {spec.unit}: {e.faultString}")
        except OSError as e:
            self.manager._proxy = None
            self.say(f"{label}: elapsed; supervisord did not answer: {e}")

    def _write_state(self) -> None:
        state = {name: {"unit": spec.unit, "next": self.next.get(name),
                        "last": self.last.get(name)}
                 for name, (_, _, spec) in self.loaded.items()}
        for name, error in self.errors.items():
            state[name] = {"error": error}
        self.report.write(state)


def _when(ts: float) -> str:
    """A moment as the log shows it, to the millisecond, in UTC."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def read_state(state_dir: str) -> dict[str, dict[str, Any]]:
    """What the activator says of each active timer."""
    return read_dict(os.path.join(state_dir, STATE_FILE))

"""The activator: the daemon of a machine run by the supervisor manager that
does what systemd itself does for timer and socket units.

supervisord runs it as the program ``pynix-activator``::

    python -m pynix.os.activator --root ROOT --store URL

Timers (:mod:`pynix.os.timers`): it starts each active timer's service when
the timer elapses.  Sockets (:mod:`pynix.os.sockets`): the manager lists the
active socket units in ``<run/pynix>/active-sockets.json``; for each, the
daemon binds and listens on every ``Listen...=`` address (in the host's
network namespace, which the machine shares; unix socket paths inside the
machine root) and watches them.  At the first connection or datagram it
starts the service through supervisord and stops watching; the service's
launcher fetches the sockets over the control socket
``<run/pynix>/activator.sock``.  When the PID they were handed to exits, the
sockets are watched again.  A socket unit that is stopped is closed (and its
unix socket files removed).  What each socket is doing (or why it could not
be opened) is in ``sockets-state.json``, which the manager waits on.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import selectors
import signal
import socket
import struct
import sys
import time
import xmlrpc.client
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .calendar import CalendarError, parse_timespan
from .machine import Machine
from .managers.supervisor import ACTIVATOR, RUNNING_STATES, SupervisorManager, program_name
from .sockets import SOCKETS_FILE, SOCKETS_STATE, SocketError, SocketSpec, bind, unlink
from .statefile import Report, Watched
from .timers import TimerDaemon
from .units import UnitError, read_unit

PROGRAM = ACTIVATOR
CONTROL_NAME = "activator.sock"
RETRY_AFTER = 1.0  # a service that failed to start is activated again after this
# systemd's default start limit of a service: activated more often than this
# within the interval, the socket unit fails (closed)
START_LIMIT_BURST = 5
START_LIMIT_INTERVAL = 10.0


@dataclass
class OpenSocket:
    spec: SocketSpec
    since: float
    socks: list[socket.socket]
    # listening, triggered (start asked), running (handed over), held (by a
    # service that got them from an earlier activator: this one has none)
    state: str = "listening"
    pid: int = 0
    pidfd: int = -1
    retry_at: float = 0.0
    unit_dir: str = ""
    triggers: list[float] = field(default_factory=list)  # when it activated the service
    extra: dict[str, Any] = field(default_factory=dict)


class SocketWatcher:
    def __init__(self, machine: Machine, manager: SupervisorManager, say: Any) -> None:
        self.machine = machine
        self.manager = manager
        self.say = say
        self.active = Watched(os.path.join(manager.dir, SOCKETS_FILE))
        self.report = Report(os.path.join(manager.dir, SOCKETS_STATE))
        self.open: dict[str, OpenSocket] = {}
        self.errors: dict[str, tuple[float, str]] = {}
        self.control = self._listen_control()

    def _listen_control(self) -> socket.socket:
        path = os.path.join(self.manager.dir, CONTROL_NAME)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        fd = os.open(self.manager.dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            sock.bind(f"/proc/self/fd/{fd}/{CONTROL_NAME}")
        finally:
            os.close(fd)
        os.chmod(path, 0o600)
        sock.listen(16)
        return sock

    # -- the active socket units ------------------------------------------------

    def refresh(self) -> None:
        active = self.active.read()
        unit_dir = str(active.get("unit_dir", ""))
        wanted: dict[str, float] = {str(k): float(v)
                                    for k, v in active.get("sockets", {}).items()}
        for name in list(self.open):
            if name not in wanted or wanted[name] != self.open[name].since:
                self.close(name)
        for name in set(self.errors) - set(wanted):
            del self.errors[name]
        for name, since in sorted(wanted.items()):
            if name in self.open or self.errors.get(name, (None,))[0] == since:
                continue
            try:
                u = read_unit(unit_dir, name, self.machine.host)
                if u is None:
                    raise SocketError(f"{name}: no such unit in {unit_dir}")
                spec = SocketSpec.from_unit(u)
                socks: list[socket.socket] = []
                try:
                    for listen in spec.listens:
                        try:
                            socks.append(bind(spec, listen, self.machine.host))
                        except OSError as e:
                            raise SocketError(f"{name}: cannot listen on {listen.kind}="
                                              f"{listen.address}: {e.strerror or e}") from None
                except SocketError:
                    for s in socks:
                        s.close()
                    if self._held(name, spec, since, unit_dir):
                        continue
                    for listen in spec.listens:
                        unlink(listen, self.machine.host)
                    raise
            except (SocketError, UnitError) as e:
                self.errors[name] = (since, str(e))
                self.say(f"error: {e}")
                continue
            self.errors.pop(name, None)
            self.open[name] = OpenSocket(spec, since, socks, unit_dir=unit_dir)
            self.say(f"{name}: listening on "
                     + ", ".join(f"{x.kind}={x.address}" for x in spec.listens)
                     + f"; activates {spec.service}")
            if spec.ignored:
                self.say(f"{name}: ignored here (systemd would apply them): "
                         + ", ".join(f"{k}=" for k in spec.ignored))

    def _held(self, name: str, spec: SocketSpec, since: float, unit_dir: str) -> bool:
        """Whether the addresses are taken because the service still holds the
        sockets an earlier activator (restarted since) handed it: then they are
        left to it, and bound again when it exits."""
        try:
            info = self.manager._rpc().getProcessInfo(program_name(spec.service))
            pidfd = os.pidfd_open(int(info["pid"])) if info["statename"] == "RUNNING" else -1
        except (OSError, xmlrpc.client.Error, ValueError):
            return False
        if pidfd < 0:
            return False
        self.open[name] = OpenSocket(spec, since, [], state="held", pid=int(info["pid"]),
                                     pidfd=pidfd, unit_dir=unit_dir)
        self.say(f"{name}: {spec.service} (pid {info['pid']}) still holds the sockets; "
                 "they are bound again when it exits")
        return True

    def close(self, name: str) -> None:
        o = self.open.pop(name)
        for s in o.socks:
            s.close()
        for listen in o.spec.listens:
            unlink(listen, self.machine.host)
        if o.pidfd >= 0:
            os.close(o.pidfd)
        self.say(f"{name}: stopped, sockets closed")

    def close_all(self) -> None:
        for name in list(self.open):
            self.close(name)

    # -- activation ---------------------------------------------------------------

    def trigger(self, o: OpenSocket, now: float) -> None:
        service = o.spec.service
        program = program_name(service)
        o.state, o.retry_at = "triggered", 0.0
        burst, interval = self._start_limit(o)
        o.triggers = [t for t in o.triggers if t > now - interval] + [now]
        if interval > 0 and len(o.triggers) > burst:
            self.fail(o, f"{o.spec.name}: {service} was activated {len(o.triggers)} times "
                         f"within {interval:g} s (its start limit, StartLimitBurst={burst}); "
                         "the socket is closed (see the service's log)")
            return
        try:
            rpc = self.manager._rpc()
            state = rpc.getProcessInfo(program)["statename"]
            if state in RUNNING_STATES:
                self.say(f"{o.spec.name}: incoming traffic; {service} is already {state}")
                return
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.manager.markers, service + ".started"))
            rpc.startProcess(program, False)
            self.say(f"{o.spec.name}: incoming traffic; started {service}")
        except xmlrpc.client.Fault as e:
            if "ALREADY_STARTED" in e.faultString:
                return
            self.say(f"{o.spec.name}: could not start {service}: {e.faultString}")
            o.state, o.retry_at = "listening", now + RETRY_AFTER
        except OSError as e:
            self.manager._proxy = None
            self.say(f"{o.spec.name}: supervisord did not answer: {e}")
            o.state, o.retry_at = "listening", now + RETRY_AFTER

    def check_triggered(self, now: float) -> None:
        """A service asked to start that ended without taking its sockets:
        watch again (after a pause, so that a failing service is not
        restarted in a tight loop)."""
        for o in list(self.open.values()):
            if o.state != "triggered":
                continue
            try:
                state = self.manager._rpc().getProcessInfo(
                    program_name(o.spec.service))["statename"]
            except (OSError, xmlrpc.client.Error):
                self.manager._proxy = None
                continue
            if state not in RUNNING_STATES:
                self.say(f"{o.spec.name}: {o.spec.service} is {state} without having "
                         "taken its sockets")
                o.state, o.retry_at = "listening", now + RETRY_AFTER

    def _start_limit(self, o: OpenSocket) -> tuple[int, float]:
        """StartLimitBurst= and StartLimitIntervalSec= of the service (systemd's
        defaults: 5 in 10 s; an interval of 0 is no limit)."""
        burst, interval = START_LIMIT_BURST, START_LIMIT_INTERVAL
        with contextlib.suppress(UnitError, ValueError, CalendarError):
            u = read_unit(o.unit_dir, o.spec.service, self.machine.host)
            if u is not None:
                burst = int(u.get("Unit", "StartLimitBurst") or burst)
                text = u.get("Unit", "StartLimitIntervalSec")
                if text is not None:
                    interval = 0.0 if text.strip() in ("0", "infinity") else \
                        parse_timespan(text.strip())
        return burst, interval

    def fail(self, o: OpenSocket, error: str) -> None:
        self.close(o.spec.name)
        self.errors[o.spec.name] = (o.since, error)
        self.say(f"error: {error}")

    def serve(self, conn: socket.socket) -> None:
        """One request of a launcher: the sockets of its service."""
        with conn:
            conn.settimeout(5)
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                    struct.calcsize("3i"))
            _, uid, _ = struct.unpack("3i", creds)
            data = b""
            try:
                while not data.endswith(b"\n"):
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                request = json.loads(data)
                service, pid = str(request["service"]), int(request["pid"])
                also = {str(n) for n in request.get("sockets", [])}
            except (OSError, ValueError, KeyError, TypeError):
                return
            if uid != 0:
                conn.sendall(b'{"error": "only root may fetch sockets"}\n')
                return
            mine = [o for name, o in sorted(self.open.items())
                    if (o.spec.service == service or name in also) and o.state != "held"]
            fds = [s.fileno() for o in mine for s in o.socks]
            names = [o.spec.fd_name for o in mine for _ in o.socks]
            try:
                reply = json.dumps({"names": names}).encode() + b"\n"
                if fds:
                    socket.send_fds(conn, [reply], fds)
                else:
                    conn.sendall(reply)
            except OSError as e:
                self.say(f"could not hand the sockets to {service} (pid {pid}): {e}")
                return
            if not mine:
                return
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                return  # already gone: keep watching
            first = True
            for o in mine:
                if o.pidfd >= 0:
                    os.close(o.pidfd)
                o.state, o.pid = "running", pid
                o.pidfd = pidfd if first else os.dup(pidfd)
                first = False
            self.say(f"{service} (pid {pid}) took the sockets of "
                     + ", ".join(o.spec.name for o in mine))

    def exited(self) -> None:
        """Sockets whose service exited: watched again."""
        gone = [o for o in self.open.values()
                if o.pidfd >= 0 and select.select([o.pidfd], [], [], 0)[0]]
        for o in gone:
            os.close(o.pidfd)
            if o.state == "held":  # bound at the next refresh
                del self.open[o.spec.name]
                self.say(f"{o.spec.name}: {o.spec.service} (pid {o.pid}) exited")
                continue
            o.pidfd, o.state = -1, "listening"
            self.say(f"{o.spec.name}: {o.spec.service} (pid {o.pid}) exited; watching again")
            o.pid = 0

    def wait(self, timeout: float) -> None:
        """Wait for traffic, requests and exits for at most ``timeout`` s."""
        now = time.time()
        sel = selectors.DefaultSelector()
        try:
            sel.register(self.control, selectors.EVENT_READ, ("control", None))
            pidfds: set[int] = set()
            for o in self.open.values():
                if o.state == "listening" and o.retry_at <= now:
                    for s in o.socks:
                        sel.register(s, selectors.EVENT_READ, ("traffic", o))
                elif o.state == "listening":
                    timeout = min(timeout, max(0.01, o.retry_at - now))
                elif o.pidfd >= 0 and o.pidfd not in pidfds:
                    pidfds.add(o.pidfd)
                    sel.register(o.pidfd, selectors.EVENT_READ, ("exit", None))
            events = sel.select(timeout)
        finally:
            sel.close()
        now = time.time()
        exited = False
        for key, _ in events:
            what, o = key.data
            if what == "control":
                with contextlib.suppress(BlockingIOError, OSError):
                    conn, _ = self.control.accept()
                    self.serve(conn)
            elif what == "traffic" and o.state == "listening":
                self.trigger(o, now)
            elif what == "exit":
                exited = True
        if exited:
            self.exited()

    def write_state(self) -> None:
        state: dict[str, dict[str, Any]] = {
            name: {"state": o.state, "since": o.since, "service": o.spec.service,
                   "pid": o.pid or None,
                   "listen": [f"{x.kind}={x.address}" for x in o.spec.listens]}
            for name, o in self.open.items()}
        for name, (since, error) in self.errors.items():
            state[name] = {"state": "failed", "since": since, "error": error}
        self.report.write(state)


def say(text: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} {text}", flush=True)


def run(root: str, store_url: str) -> None:
    machine = Machine.open(root, store_url)
    manager = SupervisorManager(machine, create=False)
    timers = TimerDaemon(machine, manager, say)
    sockets = SocketWatcher(machine, manager, say)
    stop = False

    def quit_(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, quit_)
    signal.signal(signal.SIGINT, quit_)
    say(f"pynix activator for the machine '{machine.root}'")
    try:
        while not stop:
            timers.refresh()
            sockets.refresh()
            sockets.check_triggered(time.time())
            sockets.write_state()
            wait = timers.tick(time.time())
            sockets.wait(min(wait, 0.2))
    finally:
        sockets.close_all()
        sockets.write_state()
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(manager.dir, CONTROL_NAME))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pynix.os.activator")
    ap.add_argument("--root", required=True)
    ap.add_argument("--store", required=True)
    a = ap.parse_args(argv)
    run(a.root, a.store)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""supervisord as the service manager: one supervisord per machine root.

Its configuration, unix socket, pid file and log are under ``<root>/run/pynix/``;
each service unit is a program in ``programs/<unit>.conf`` whose command is
the launcher (:mod:`pynix.os.launcher`), so every service runs in the machine
namespace.  The program settings come from the unit: ``autorestart`` from
``Restart=``, ``stopsignal`` from ``KillSignal=``, ``stopasgroup``/``killasgroup``
from ``KillMode=``, ``stopwaitsecs`` from ``TimeoutStopSec=``.  Programs are
never started by supervisord on its own (``autostart=false``): the switcher
starts them in dependency order.  Targets are kept as a list of active names;
timers and sockets as lists that the machine's activator daemon
(:mod:`pynix.os.activator`, the program ``pynix-activator``) acts on.
supervisord is started by the first switch and keeps running until
``pynix os halt``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import xmlrpc.client
from typing import Any

from .. import sockets, timers
from ..machine import Machine
from ..service import ServiceError, ServiceSpec
from ..statefile import read_dict, write_atomic
from ..units import Unit
from .base import Failure, ServiceManager, UnitGraph

RUNNING_STATES = {"RUNNING", "STARTING", "BACKOFF", "STOPPING"}
SOCKET_PATH_MAX = 100
SHORT_LINKS = "/run/pynix-machines"
ACTIVATOR = "pynix-activator"  # the program that runs timers and sockets
SOCKET_WAIT = 15.0  # how long a socket unit may take to listen or to close


class SupervisorError(Exception):
    pass


def program_name(unit: str) -> str:
    return unit.replace(":", "_").replace("/", "_")


def _ini(value: str) -> str:
    return value.replace("%", "%%").replace("\n", " ")


class SupervisorManager(ServiceManager):
    name = "supervisor"

    def __init__(self, machine: Machine, *, create: bool = True) -> None:
        self.machine = machine
        self.dir = machine.state_dir
        self.socket = os.path.join(self.dir, "supervisor.sock")
        self.short_link: str | None = None
        if len(self.socket.encode()) > SOCKET_PATH_MAX:
            # a unix socket's path has at most 107 bytes: reach the directory
            # through a short link (the socket itself stays in <root>/run/pynix)
            digest = hashlib.sha256(self.dir.encode()).hexdigest()[:16]
            self.short_link = os.path.join(SHORT_LINKS, digest)
            self.socket = os.path.join(self.short_link, "supervisor.sock")
        self.conf = os.path.join(self.dir, "supervisord.conf")
        self.programs = os.path.join(self.dir, "programs")
        self.log_dir = machine.path("/var/log/pynix")
        self.markers = os.path.join(self.dir, "units")
        self.targets_file = os.path.join(self.dir, "active-targets.json")
        self.timers_file = os.path.join(self.dir, timers.ACTIVE_FILE)
        self.sockets_file = os.path.join(self.dir, sockets.SOCKETS_FILE)
        self._proxy: Any = None
        self.create = create

    # -- supervisord itself ------------------------------------------------------

    def _rpc(self) -> Any:
        if self._proxy is None:
            from supervisor.xmlrpc import SupervisorTransport  # type: ignore[import-untyped]

            transport = SupervisorTransport(None, None, "unix://" + self.socket)
            self._proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
        return self._proxy.supervisor

    def running(self) -> bool:
        if not os.path.exists(self.socket):
            return False
        try:
            return bool(self._rpc().getState()["statename"] == "RUNNING")
        except (OSError, xmlrpc.client.Error):
            self._proxy = None
            return False

    def ensure_running(self) -> None:
        if self.running():
            return
        if not self.create:
            raise SupervisorError(f"supervisord of {self.machine.root} is not running")
        if self._starting_pid() is not None:
            # started by a switch that was interrupted: give it time to listen
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self._starting_pid() is not None:
                if self.running():
                    return
                time.sleep(0.05)
            pid = self._starting_pid()
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        os.makedirs(self.programs, exist_ok=True)
        os.makedirs(self.log_dir, exist_ok=True)
        os.makedirs(self.markers, exist_ok=True)
        if self.short_link is not None:
            os.makedirs(SHORT_LINKS, exist_ok=True)
            tmp = f"{self.short_link}.tmp{os.getpid()}"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.symlink(self.dir, tmp)
            os.rename(tmp, self.short_link)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket)
        write_atomic(self.conf, self._main_config())
        # a fresh supervisord knows no program: nothing is running
        for stale in (self.targets_file, self.timers_file, self.sockets_file):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stale)
        subprocess.run(
            [sys.executable, "-m", "supervisor.supervisord", "-c", self.conf],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True, close_fds=True, check=False, timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.running():
                return
            time.sleep(0.05)
        raise SupervisorError(
            f"supervisord did not start; see {os.path.join(self.dir, 'supervisord.log')}")

    def _starting_pid(self) -> int | None:
        """The PID of this machine's supervisord if one is alive (per its pid file)."""
        try:
            with open(os.path.join(self.dir, "supervisord.pid")) as fh:
                pid = int(fh.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read()
        except (OSError, ValueError):
            return None
        return pid if b"supervisord" in cmdline and self.conf.encode() in cmdline else None

    def _main_config(self) -> str:
        d = self.dir
        return "\n".join([
            "; generated by pynix: the service manager of the machine " + _ini(self.machine.root),
            "[unix_http_server]", f"file={_ini(self.socket)}", "chmod=0700", "",
            "[supervisord]", f"logfile={_ini(os.path.join(d, 'supervisord.log'))}",
            "logfile_maxbytes=5MB", "logfile_backups=1", "loglevel=info",
            f"pidfile={_ini(os.path.join(d, 'supervisord.pid'))}",
            f"childlogdir={_ini(self.log_dir)}", "nodaemon=false", "minfds=1024",
            f"identifier=pynix:{_ini(self.machine.root)}", "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "", "[supervisorctl]", f"serverurl=unix://{_ini(self.socket)}", "",
            "[include]", f"files={_ini(os.path.join(self.programs, '*.conf'))}", "",
        ])  # fmt: skip

    # -- programs -----------------------------------------------------------------

    def program_config(self, unit: Unit, timed: bool = False) -> str:
        """The program of a service unit; ``timed``: a timer starts it (a run that
        ends at once is then its normal course, not a failed start to retry)."""
        spec = ServiceSpec(unit)
        restart = spec.restart
        oneshot = spec.type == "oneshot"
        autorestart = {"always": "true", "no": "false", "on-success": "false"}.get(
            restart, "unexpected")
        if oneshot:
            autorestart = "false"
        kill_mode = spec.kill_mode
        cmd = [sys.executable, "-m", "pynix.os.launcher", "start",
               *self.machine.namespace_args(), "--unit", unit.name]  # fmt: skip
        sig = signal.Signals(spec.kill_signal).name.removeprefix("SIG")
        lines = [
            f"; unit={unit.name} type={spec.type} remain={int(spec.remain_after_exit)}",
            f"[program:{program_name(unit.name)}]",
            "command=" + " ".join(_quote(c) for c in cmd),
            "autostart=false",
            f"autorestart={autorestart}",
            "exitcodes=" + ",".join(str(c) for c in spec.success_exit_status),
            f"startsecs={0 if oneshot or timed else 1}",
            "startretries=1",
            f"stopsignal={sig}",
            f"stopwaitsecs={max(1, int(spec.timeout_stop))}",
            f"stopasgroup={'true' if kill_mode == 'control-group' else 'false'}",
            f"killasgroup={'false' if kill_mode in ('process', 'none') else 'true'}",
            "redirect_stderr=true",
            f"stdout_logfile={_ini(self.log_path(unit.name))}",
            "stdout_logfile_maxbytes=10MB",
            "stdout_logfile_backups=1",
            "",
        ]
        return "\n".join(lines)

    def log_path(self, unit: str) -> str:
        return os.path.join(self.log_dir, unit + ".log")

    def _known(self) -> dict[str, dict[str, str]]:
        """unit -> its metadata line, from the program files."""
        out: dict[str, dict[str, str]] = {}
        with contextlib.suppress(FileNotFoundError):
            for f in os.listdir(self.programs):
                if not f.endswith(".conf"):
                    continue
                with open(os.path.join(self.programs, f)) as fh:
                    first = fh.readline()
                meta = dict(kv.split("=", 1) for kv in first[1:].split() if "=" in kv)
                if "unit" in meta:
                    out[meta["unit"]] = meta
        return out

    def update(self, graph: UnitGraph, keep: set[str]) -> None:
        self.ensure_running()
        os.makedirs(self.programs, exist_ok=True)
        wanted: dict[str, str] = {}
        timed = set()
        for unit in graph.units.values():
            if unit.kind == "timer":
                with contextlib.suppress(timers.TimerError):
                    timed.add(timers.TimerSpec.from_unit(unit).unit)
        for name, unit in graph.units.items():
            if unit.kind != "service" or not unit.values("Service", "ExecStart"):
                continue
            try:
                wanted[program_name(name)] = self.program_config(unit, name in timed)
            except ServiceError:
                continue  # reported when it is started
        wanted[ACTIVATOR] = self._activator_program()
        known = self._known()
        for name in keep:
            if name in known:
                wanted.pop(program_name(name), None)
        existing = {f[:-5] for f in os.listdir(self.programs) if f.endswith(".conf")}
        keep_programs = {program_name(k) for k in keep}
        for prog in existing - set(wanted) - keep_programs:
            os.unlink(os.path.join(self.programs, prog + ".conf"))
        for prog, text in wanted.items():
            path = os.path.join(self.programs, prog + ".conf")
            try:
                with open(path) as fh:
                    if fh.read() == text:
                        continue
            except FileNotFoundError:
                pass
            write_atomic(path, text)
        self._apply()
        active = self._timers()
        if active:
            self._set_timers(active, graph.unit_dir)
        active_sockets = self._sockets()
        if active_sockets:
            self._set_sockets(active_sockets, graph.unit_dir)
        if active or active_sockets:
            self._ensure_activator()  # (its program may have been replaced)

    def _apply(self) -> None:
        """``supervisorctl update``: removed and changed groups go (stopped), new ones come."""
        rpc = self._rpc()
        [[added, changed, removed]] = rpc.reloadConfig()
        for name in removed + changed:
            with contextlib.suppress(xmlrpc.client.Fault):
                rpc.stopProcessGroup(name, True)
            with contextlib.suppress(xmlrpc.client.Fault):
                rpc.removeProcessGroup(name)
        for name in changed + added:
            with contextlib.suppress(xmlrpc.client.Fault):
                rpc.addProcessGroup(name)

    def _info(self, unit: str) -> dict[str, Any] | None:
        try:
            return dict(self._rpc().getProcessInfo(program_name(unit)))
        except xmlrpc.client.Fault:
            return None

    # -- state --------------------------------------------------------------------

    def _targets(self) -> set[str]:
        try:
            with open(self.targets_file) as fh:
                return set(json.load(fh))
        except (FileNotFoundError, ValueError):
            return set()

    def _set_targets(self, targets: set[str]) -> None:
        os.makedirs(self.dir, exist_ok=True)
        write_atomic(self.targets_file, json.dumps(sorted(targets)))

    @staticmethod
    def _active_since(path: str, key: str) -> dict[str, float]:
        """The active units (timers or sockets) of ``path`` and when each was started."""
        try:
            return {str(k): float(v) for k, v in read_dict(path).get(key, {}).items()}
        except (ValueError, TypeError, AttributeError):
            return {}

    def _set_active(self, path: str, key: str, active: dict[str, float],
                    unit_dir: str) -> None:
        os.makedirs(self.dir, exist_ok=True)
        write_atomic(path, json.dumps({"unit_dir": unit_dir, key: active}, sort_keys=True))

    def _timers(self) -> dict[str, float]:
        return self._active_since(self.timers_file, "timers")

    def _set_timers(self, active: dict[str, float], unit_dir: str) -> None:
        self._set_active(self.timers_file, "timers", active, unit_dir)

    def _sockets(self) -> dict[str, float]:
        return self._active_since(self.sockets_file, "sockets")

    def _listening(self) -> set[str]:
        """The active socket units that did not fail (a failed one is started
        again by the next switch, as systemd's would be)."""
        said = sockets.read_state(self.dir)
        return {n for n in self._sockets() if said.get(n, {}).get("state") != "failed"}

    def _set_sockets(self, active: dict[str, float], unit_dir: str) -> None:
        self._set_active(self.sockets_file, "sockets", active, unit_dir)

    def _activator_program(self) -> str:
        cmd = [sys.executable, "-m", "pynix.os.activator", "--root", self.machine.root,
               "--store", self.machine.store_url]
        return "\n".join([
            "; the timers and sockets of the machine (not a unit)",
            f"[program:{ACTIVATOR}]",
            "command=" + " ".join(_quote(c) for c in cmd),
            "autostart=false", "autorestart=true", "startsecs=1", "startretries=10",
            "stopsignal=TERM", "stopwaitsecs=10", "redirect_stderr=true",
            f"stdout_logfile={_ini(os.path.join(self.log_dir, ACTIVATOR + '.log'))}",
            "stdout_logfile_maxbytes=1MB", "stdout_logfile_backups=1", "",
        ])  # fmt: skip

    def active_units(self) -> set[str]:
        if not self.running():
            return set()
        known = self._known()
        by_program = {program_name(u): u for u in known}
        active = set(self._targets()) | set(self._timers()) | self._listening()
        for info in self._rpc().getAllProcessInfo():
            unit = by_program.get(info["name"])
            if unit is None:
                continue
            remains = (info["statename"] == "EXITED" and info["exitstatus"] == 0
                       and known[unit].get("type") == "oneshot"
                       and known[unit].get("remain") == "1")
            if info["statename"] in RUNNING_STATES or remains:
                active.add(unit)
        return active

    def status(self) -> list[dict[str, object]]:
        if not self.running():
            return []
        known = self._known()
        by_program = {program_name(u): u for u in known}
        out: list[dict[str, object]] = [{"unit": t, "state": "active"} for t in
                                        sorted(self._targets())]
        ticks = timers.read_state(self.dir)
        for t in sorted(self._timers()):
            tick = ticks.get(t, {})
            timer: dict[str, object] = {"unit": t, "state": "waiting"}
            if tick.get("error"):
                timer["state"] = "failed"
                timer["error"] = tick["error"]
            for key in ("next", "last"):
                if tick.get(key) is not None:
                    timer[key] = time.strftime("%Y-%m-%d %H:%M:%S %Z",
                                               time.localtime(float(tick[key])))
            if tick.get("unit"):
                timer["activates"] = tick["unit"]
            out.append(timer)
        said = sockets.read_state(self.dir)
        for name in sorted(self._sockets()):
            st = said.get(name, {})
            entry: dict[str, object] = {"unit": name, "state": st.get("state", "starting")}
            for key in ("error", "service", "listen"):
                if st.get(key):
                    entry[key] = st[key]
            out.append(entry)
        for info in self._rpc().getAllProcessInfo():
            unit = by_program.get(info["name"], info["name"])
            out.append({"unit": unit, "state": info["statename"], "pid": info["pid"] or None,
                        "description": info["description"]})
        return out

    def log_tail(self, unit: str, lines: int = 15) -> str:
        try:
            with open(self.log_path(unit), "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 16384))
                data = fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""
        return "\n".join(data.splitlines()[-lines:])

    # -- actions ------------------------------------------------------------------

    def _launcher(self, action: str, unit: str, graph: UnitGraph, pid: int | None,
                  timeout: float) -> subprocess.CompletedProcess[bytes]:
        cmd = [sys.executable, "-m", "pynix.os.launcher", action, *self.machine.namespace_args(),
               "--unit", unit, "--unit-dir", graph.unit_dir]  # fmt: skip
        if pid:
            cmd += ["--mainpid", str(pid)]
        with open(self.log_path(unit), "ab") as log:
            return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                  timeout=timeout, check=False)

    def stop(self, units: list[str], graph: UnitGraph) -> list[Failure]:
        failures: list[Failure] = []
        targets = self._targets()
        if not self.running():
            return failures
        active_timers = self._timers()
        active_sockets = self._sockets()
        closing: set[str] = set()
        for unit in units:
            if unit.endswith(".target"):
                targets.discard(unit)
                continue
            if unit.endswith(".timer"):
                active_timers.pop(unit, None)
                continue
            if unit.endswith(".socket"):
                if active_sockets.pop(unit, None) is not None:
                    closing.add(unit)
                    # closed before the services stop: no activation meanwhile
                    self._set_sockets(active_sockets, graph.unit_dir)
                    self._wait_sockets(closing)
                continue
            info = self._info(unit)
            if info is None:
                continue
            spec_unit = graph.units.get(unit)
            pid = info["pid"] or None
            if spec_unit is not None and pid and spec_unit.values("Service", "ExecStop"):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._launcher("stop", unit, graph, pid, 90)
            try:
                self._rpc().stopProcess(program_name(unit), True)
            except xmlrpc.client.Fault as e:
                if "NOT_RUNNING" not in e.faultString:
                    failures.append(Failure(unit, "stop", e.faultString, self.log_tail(unit)))
            if spec_unit is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._launcher("stop-post", unit, graph, pid, 90)
        self._set_targets(targets)
        self._set_timers(active_timers, graph.unit_dir)
        self._set_sockets(active_sockets, graph.unit_dir)
        return failures

    def _wait_sockets(self, closing: set[str]) -> None:
        """Until the activator has closed these socket units (if it runs)."""
        if not self._activator_running():
            return
        deadline = time.monotonic() + SOCKET_WAIT
        while time.monotonic() < deadline:
            if not closing & set(sockets.read_state(self.dir)):
                return
            time.sleep(0.05)

    def _activator_running(self) -> bool:
        try:
            return self._rpc().getProcessInfo(ACTIVATOR)["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Error):
            return False

    def _socket_started(self, unit: str, since: float) -> str | None:
        """``ok``, why the activator could not open the socket unit, or None (yet)."""
        st = sockets.read_state(self.dir).get(unit)
        if st is None or st.get("since") != since:
            return None
        if st.get("state") == "failed":
            return str(st.get("error") or "failed")
        return "ok"

    def start(self, units: list[str], graph: UnitGraph) -> list[Failure]:
        self.ensure_running()
        rpc = self._rpc()
        failures: list[Failure] = []
        pending = list(units)
        in_set = set(units)
        done: set[str] = set()
        failed: set[str] = set()
        launched: dict[str, float] = {}  # unit -> deadline
        targets = self._targets()
        active_timers = self._timers()
        active_sockets = self._sockets()
        socket_since: dict[str, float] = {}
        already = self.active_units() & in_set
        # a service starts after the socket units that activate it (as systemd's
        # implicit After=): it is handed their sockets
        served_by: dict[str, list[str]] = {}
        for name in units:
            u = graph.units.get(name)
            if u is not None and u.kind == "socket":
                with contextlib.suppress(sockets.SocketError):
                    served_by.setdefault(sockets.SocketSpec.from_unit(u).service,
                                         []).append(name)

        def fail(unit: str, reason: str) -> None:
            failed.add(unit)
            u = graph.units.get(unit)
            failures.append(Failure(unit, "start", reason, self.log_tail(unit),
                                    u.path if u else None))

        while pending or launched:
            for unit in list(pending):
                deps = [d for d in graph.after(unit) if d in in_set]
                deps += [b for b in in_set if unit in graph.before(b)]
                deps += [s for s in served_by.get(unit, []) if s in in_set]
                if any(d not in done and d not in failed for d in deps):
                    continue
                pending.remove(unit)
                missing = [r for r in graph.requires(unit) if r in failed]
                if missing:
                    fail(unit, f"a unit it requires failed: {', '.join(missing)}")
                    continue
                u = graph.units.get(unit)
                if u is None:
                    fail(unit, "the unit does not exist")
                    continue
                if u.kind == "target":
                    targets.add(unit)
                    done.add(unit)
                    continue
                if u.kind == "timer":
                    reason = self._check_timer(u, graph)
                    if reason:
                        fail(unit, reason)
                    else:
                        active_timers.setdefault(unit, time.time())
                        done.add(unit)
                    continue
                if u.kind == "socket":
                    try:
                        activated = sockets.SocketSpec.from_unit(u).service
                    except sockets.SocketError as e:
                        fail(unit, str(e))
                        continue
                    target = graph.units.get(activated)
                    if (target is None or target.kind != "service"
                            or not target.values("Service", "ExecStart")):
                        fail(unit, f"the unit it activates, {activated}, is not a service "
                                   "with ExecStart=")
                        continue
                    if unit in active_sockets and unit in self._listening():
                        done.add(unit)
                        continue
                    socket_since[unit] = active_sockets[unit] = time.time()
                    self._set_sockets(active_sockets, graph.unit_dir)
                    self._ensure_activator()
                    launched[unit] = time.monotonic() + SOCKET_WAIT
                    continue
                if u.kind != "service":
                    done.add(unit)  # paths...: not run by this manager
                    continue
                if not u.values("Service", "ExecStart"):
                    fail(unit, "the unit has no ExecStart=")
                    continue
                try:
                    spec = ServiceSpec(u)
                    timeout = spec.timeout_start
                except ServiceError as e:
                    fail(unit, str(e))
                    continue
                launched[unit] = time.monotonic() + timeout + 2
                if unit in already and (self._info(unit) or {}).get("statename") not in (
                        "BACKOFF", "STOPPING"):
                    # running already (a start list left by an interrupted
                    # switch names it): as `systemctl start` of an active unit,
                    # nothing to do; its own marker says whether it started
                    continue
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.markers, unit + ".started"))
                try:
                    rpc.startProcess(program_name(unit), False)
                except xmlrpc.client.Fault as e:
                    if "ALREADY_STARTED" not in e.faultString:
                        del launched[unit]
                        fail(unit, e.faultString)
                        continue
            for unit, deadline in list(launched.items()):
                if unit in socket_since:
                    verdict = self._socket_started(unit, socket_since[unit])
                    if verdict is None and time.monotonic() > deadline:
                        verdict = f"the activator did not open it within {SOCKET_WAIT:g} s"
                    if verdict is not None and verdict != "ok":
                        active_sockets.pop(unit, None)
                        self._set_sockets(active_sockets, graph.unit_dir)
                else:
                    verdict = self._started(unit, graph)
                if verdict is None and time.monotonic() > deadline:
                    verdict = "timed out while starting"
                    with contextlib.suppress(xmlrpc.client.Fault):
                        rpc.stopProcess(program_name(unit), True)
                if verdict is None:
                    continue
                del launched[unit]
                if verdict == "ok":
                    done.add(unit)
                else:
                    fail(unit, verdict)
            if launched:
                time.sleep(0.05)
            elif pending and not any(
                all(d in done or d in failed for d in graph.after(p) if d in in_set)
                for p in pending
            ):
                for p in pending:  # an ordering cycle: start the rest anyway
                    in_set.discard(p)
        self._set_targets(targets)
        self._set_timers(active_timers, graph.unit_dir)
        self._set_sockets(active_sockets, graph.unit_dir)
        if active_timers or active_sockets:
            self._ensure_activator()
        return failures

    @staticmethod
    def _check_timer(u: Unit, graph: UnitGraph) -> str | None:
        """Why this timer cannot run, if it cannot."""
        try:
            spec = timers.TimerSpec.from_unit(u)
        except timers.TimerError as e:
            return str(e)
        target = graph.units.get(spec.unit)
        if target is None or target.kind != "service" or not target.values("Service", "ExecStart"):
            return f"the unit it activates, {spec.unit}, is not a service with ExecStart="
        return None

    def _ensure_activator(self) -> None:
        rpc = self._rpc()
        try:
            state = rpc.getProcessInfo(ACTIVATOR)["statename"]
        except xmlrpc.client.Fault:
            return
        if state not in RUNNING_STATES:
            with contextlib.suppress(xmlrpc.client.Fault):
                rpc.startProcess(ACTIVATOR, False)

    def _started(self, unit: str, graph: UnitGraph) -> str | None:
        """``ok``, a failure reason, or None while it is still starting."""
        info = self._info(unit)
        if info is None:
            return "supervisord does not know the unit"
        marker = self._marker(unit)
        state = info["statename"]
        u = graph.units[unit]
        oneshot = ServiceSpec(u).type == "oneshot"
        if marker is not None and marker.get("status") == "failed":
            with contextlib.suppress(xmlrpc.client.Fault):
                self._rpc().stopProcess(program_name(unit), True)
            return str(marker.get("error") or "failed")
        if oneshot:
            if state == "EXITED":
                if info["exitstatus"] == 0 and marker is not None:
                    return "ok"
                return f"exited with status {info['exitstatus']}"
            if state == "FATAL":
                return "could not be started: " + str(info.get("spawnerr") or "")
            return None
        if state in ("EXITED", "FATAL", "BACKOFF"):
            with contextlib.suppress(xmlrpc.client.Fault):
                self._rpc().stopProcess(program_name(unit), True)
            if state == "EXITED":
                return f"the main process exited with status {info['exitstatus']} while starting"
            return "the main process exited while starting"
        if state == "RUNNING" and marker is not None and marker.get("pid") == info["pid"]:
            return "ok"
        return None

    def _marker(self, unit: str) -> dict[str, Any] | None:
        try:
            with open(os.path.join(self.markers, unit + ".started")) as fh:
                data = json.load(fh)
                return data if isinstance(data, dict) else None
        except (FileNotFoundError, ValueError):
            return None

    def restart(self, units: list[str], graph: UnitGraph) -> list[Failure]:
        failures = self.stop(list(reversed(units)), graph)
        return failures + self.start(units, graph)

    def reload(self, units: list[str], graph: UnitGraph) -> list[Failure]:
        failures: list[Failure] = []
        for unit in units:
            info = self._info(unit)
            if info is None or not info["pid"]:
                failures.append(Failure(unit, "reload", "the unit is not running"))
                continue
            try:
                proc = self._launcher("reload", unit, graph, info["pid"], 90)
            except subprocess.TimeoutExpired:
                failures.append(Failure(unit, "reload", "ExecReload timed out"))
                continue
            if proc.returncode != 0:
                failures.append(Failure(unit, "reload", f"exit code {proc.returncode}",
                                        self.log_tail(unit)))
        return failures

    def halt(self) -> list[Failure]:
        if not self.running():
            return []
        rpc = self._rpc()
        with contextlib.suppress(xmlrpc.client.Fault):
            rpc.stopAllProcesses(True)
        pid = None
        with contextlib.suppress(OSError, ValueError), open(
                os.path.join(self.dir, "supervisord.pid")) as fh:
            pid = int(fh.read().strip())
        with contextlib.suppress(OSError, xmlrpc.client.Error):
            rpc.shutdown()
        self._proxy = None
        deadline = time.monotonic() + 20
        while pid and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        for stale in (self.targets_file, self.timers_file, self.sockets_file):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stale)
        if self.short_link is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.short_link)
        return []


def _quote(word: str) -> str:
    """A word for supervisord's command line (shlex-split)."""
    import shlex

    return _ini(shlex.quote(word))

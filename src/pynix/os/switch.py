"""Switching a machine to a system toplevel (spec §8.3, adapted).

The plan is computed before anything changes: for every running unit the old
and the new unit files are compared (:func:`pynix.os.units.compare_units`) and
the unit is stopped, restarted, reloaded, skipped or stopped now and started
after activation; units the new system wants from ``multi-user.target`` that are
not running are started.  The start, restart and reload lists are persisted in
``/run/nixos`` before the first unit is touched, so an interrupted switch is
completed by the next one.  Then: stop, activate (``<toplevel>/activate`` in the
machine namespace, which flips ``/run/current-system``), hand the new unit
definitions to the service manager, reload, restart, start, and report.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from ..store.api import STORE_DIR
from .machine import Machine
from .managers import Failure, ServiceManager, UnitGraph, choose_manager
from .units import (
    NEEDS_RELOAD,
    NEEDS_RESTART,
    UnitError,
    compare_units,
    dependency_order,
    list_units,
    read_unit,
    wanted_by,
)

DEFAULT_TARGET = "multi-user.target"
NEVER_RESTARTED = {"sysinit.target", "basic.target", "multi-user.target", "graphical.target"}
ACTIVATION_ENV_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# exit statuses, as switch-to-configuration's
OK, PRECONDITION, ACTIVATION_FAILED, UNIT_FAILED = 0, 1, 2, 4


class SwitchError(Exception):
    """The switch cannot be done; nothing (more) was changed."""


@dataclass
class Plan:
    stop: set[str] = field(default_factory=set)
    start: set[str] = field(default_factory=set)
    restart: set[str] = field(default_factory=set)
    reload: set[str] = field(default_factory=set)
    skip: set[str] = field(default_factory=set)
    quiet: set[str] = field(default_factory=set)  # targets started without mention


def _sorted(units: set[str]) -> list[str]:
    return sorted(units, key=str.lower)


class Switcher:
    def __init__(self, machine: Machine, err: IO[bytes],
                 manager: ServiceManager | None = None) -> None:
        self.machine = machine
        self.err = err
        self._manager = manager
        self.unsupported: set[str] = set()  # wanted units of kinds no manager here runs

    @property
    def manager(self) -> ServiceManager:
        if self._manager is None:
            self._manager = choose_manager(self.machine)
        return self._manager

    def say(self, text: str) -> None:
        self.err.write(text.encode("utf-8", "replace") + b"\n")
        with contextlib.suppress(OSError, ValueError):
            self.err.flush()

    # -- reading systems --------------------------------------------------------

    def graph(self, toplevel: str | None) -> UnitGraph:
        if toplevel is None:
            return UnitGraph(unit_dir="/nonexistent")
        unit_dir = toplevel + "/etc/systemd/system"
        g = UnitGraph(unit_dir=unit_dir)
        for name in list_units(unit_dir, self.machine.host):
            try:
                unit = read_unit(unit_dir, name, self.machine.host)
            except UnitError as e:
                raise SwitchError(str(e)) from None
            if unit is not None:
                g.units[name] = unit
        return g

    def wanted_closure(self, graph: UnitGraph, root: str = DEFAULT_TARGET) -> set[str]:
        """``root`` and every unit it pulls in (``.wants``/``.requires`` links,
        ``Wants=``/``Requires=``), as far as the units exist."""
        seen: set[str] = set()
        todo = [root]
        while todo:
            u = todo.pop()
            if u in seen or u not in graph.units:
                continue
            seen.add(u)
            todo += wanted_by(graph.unit_dir, u, self.machine.host)
            todo += graph.wants(u) + graph.requires(u)
        return seen

    # -- planning ---------------------------------------------------------------

    def _list_file(self, name: str) -> str:
        return os.path.join(self.machine.nixos_dir, name)

    def _read_list(self, name: str) -> set[str]:
        try:
            with open(self._list_file(name)) as fh:
                return {line.strip() for line in fh if line.strip()}
        except FileNotFoundError:
            return set()

    def _write_list(self, name: str, units: set[str]) -> None:
        path = self._list_file(name)
        if not units:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write("".join(u + "\n" for u in sorted(units)))
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, path)

    def plan(self, old: UnitGraph, new: UnitGraph, active: set[str], *,
             persisted: bool = True) -> Plan:
        p = Plan()
        if persisted:
            p.start = self._read_list("start-list") & set(new.units)
            p.restart = self._read_list("restart-list") & set(new.units)
            p.reload = self._read_list("reload-list") & set(new.units)
        for unit in sorted(active):
            old_unit = old.units.get(unit)
            if old_unit is None:
                continue  # not from the old system (transient): left alone
            new_unit = new.units.get(unit)
            if new_unit is None:
                if old_unit.get_bool("Unit", "X-StopOnRemoval", True):
                    p.stop.add(unit)
                continue
            if unit.endswith(".target"):
                if old_unit.get_bool("Unit", "X-StopOnReconfiguration"):
                    p.stop.add(unit)
                continue
            verdict = compare_units(old_unit.sections, new_unit.sections)
            if verdict == NEEDS_RELOAD:
                if unit not in p.restart:
                    p.reload.add(unit)
            elif verdict == NEEDS_RESTART:
                self._modified(unit, new_unit.sections, p, active, new)
        wanted = self.wanted_closure(new)
        for unit in sorted(wanted):
            kind = unit.rsplit(".", 1)[-1]
            if kind not in ("service", "target", "timer", "socket"):
                if persisted:  # said once per switch, not by dry runs
                    self.unsupported.add(unit)
                continue
            if ((unit not in active or unit in p.stop) and unit not in p.restart
                    and unit not in p.skip):
                (p.quiet if kind == "target" else p.start).add(unit)
        p.start -= p.restart
        return p

    @staticmethod
    def _modified(unit: str, new: dict[str, dict[str, list[str]]], p: Plan,
                  active: set[str] | None = None, graph: UnitGraph | None = None) -> None:
        kind = unit.rsplit(".", 1)[-1]
        if unit in NEVER_RESTARTED or kind in ("unit", "slice", "socket"):
            # a changed socket keeps listening as it was (spec: sockets are
            # deliberately not restarted); its new definition applies when it
            # is next started, e.g. with a changed service it activates
            return
        if kind == "mount":
            if unit in ("-.mount", "nix.mount"):
                p.reload.add(unit)
            else:
                p.restart.add(unit)
            return
        service = new.get("Service", {})
        unit_sec = new.get("Unit", {})

        def true(sec: dict[str, list[str]], key: str) -> bool:
            v = sec.get(key) or [""]
            return v[-1].lower() in ("1", "yes", "true", "on")

        def false(sec: dict[str, list[str]], key: str) -> bool:
            v = sec.get(key) or [""]
            return v[-1].lower() in ("0", "no", "false", "off")

        if true(service, "X-ReloadIfChanged") and unit not in p.restart and unit not in p.stop:
            p.reload.add(unit)
        elif (false(service, "X-RestartIfChanged") or true(unit_sec, "RefuseManualStop")
              or true(unit_sec, "X-OnlyManualStart")):
            p.skip.add(unit)
        elif false(service, "X-StopIfChanged") or kind != "service":
            p.restart.add(unit)
            p.reload.discard(unit)
        else:
            p.stop.add(unit)
            p.start.add(unit)
            p.reload.discard(unit)
            # a socket-activated service: its active sockets are stopped too and
            # started again instead of it (it comes at the next connection)
            if true(service, "X-NotSocketActivated"):
                return
            sockets = [w for v in service.get("Sockets", []) for w in v.split()] or [
                unit.rsplit(".", 1)[0] + ".socket"]
            restarted = False
            for sock in sockets:
                if active is not None and sock in active:
                    p.stop.add(sock)
                    if graph is None or sock in graph.units:
                        p.start.add(sock)
                        restarted = True
            if restarted:
                p.start.discard(unit)

    # -- running ----------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        os.makedirs(self.machine.nixos_dir, mode=0o755, exist_ok=True)
        path = os.path.join(self.machine.nixos_dir, "switch-to-configuration.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SwitchError(
                    f"Could not acquire lock: another switch of the machine "
                    f"'{self.machine.root}' is running ({path})") from None
            yield
        finally:
            os.close(fd)

    def run_in_machine(self, argv: list[str], action: str) -> int:
        """Run a command in the machine namespace, its output on our stderr."""
        cmd = [sys.executable, "-m", "pynix.os.launcher", "run", *self.machine.namespace_args(),
               "--", *argv]  # fmt: skip
        env = {"NIXOS_ACTION": action, "PATH": ACTIVATION_ENV_PATH, "HOME": "/root",
               "LANG": "C.UTF-8"}  # fmt: skip
        env.update({k: v for k, v in os.environ.items() if k.startswith("PYTHON")})
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        for line in proc.stdout:
            self.err.write(line)
        self.err.flush()
        return proc.wait()

    def check_toplevel(self, toplevel: str) -> None:
        if not toplevel.startswith(STORE_DIR + "/"):
            raise SwitchError(f"'{toplevel}' is not a store path")
        if not self.machine.store.is_valid_path(toplevel):
            raise SwitchError(f"'{toplevel}' is not a valid path in the store "
                              f"{self.machine.store_url}")
        if not os.path.isfile(self.machine.host(toplevel + "/activate")):
            raise SwitchError(f"'{toplevel}' is not a system: it has no 'activate' script")

    def switch_to(self, toplevel: str, action: str) -> tuple[int, list[Failure]]:
        """Activate ``toplevel`` (``switch``, ``test`` or ``dry-activate``); the exit
        status and the unit failures.  The caller holds the lock."""
        self.check_toplevel(toplevel)
        self.machine.prepare()
        old_top = self.machine.current_system()
        old = self.graph(old_top)
        new = self.graph(toplevel)
        manager = self.manager
        active = manager.active_units()
        if action == "dry-activate":
            return self._dry(toplevel, old, new, active), []
        p = self.plan(old, new, active)
        if self.unsupported and manager.name != "systemd":
            self.say(f"warning: the {manager.name} service manager does not run these units "
                     "(only services, targets, timers and sockets): "
                     + ", ".join(_sorted(self.unsupported)))
        self._write_list("start-list", p.start)
        self._write_list("restart-list", p.restart)
        self._write_list("reload-list", p.reload)
        failures: list[Failure] = []
        status = OK
        if p.stop:
            self.say("stopping the following units: " + ", ".join(_sorted(p.stop)))
            order = dependency_order(p.stop, old.after, old.before)
            failures += manager.stop(list(reversed(order)), old)
        if p.skip:
            self.say("NOT restarting the following changed units: " + ", ".join(_sorted(p.skip)))
        self.say("activating the configuration...")
        rc = self.run_in_machine([toplevel + "/activate", toplevel], action)
        if rc != 0:
            self.say(f"warning: the activation script of {toplevel} failed (exit code {rc})")
            status = ACTIVATION_FAILED
        with contextlib.suppress(Exception):
            self.machine.store.add_indirect_root(self.machine.current_system_link)
        self._activation_requests(p, new, active)
        manager.update(new, p.skip)
        now_active = manager.active_units()
        for unit in list(p.reload):
            if unit not in now_active:
                p.reload.discard(unit)
                p.start.add(unit)
        if p.reload:
            self.say("reloading the following units: " + ", ".join(_sorted(p.reload)))
            failures += manager.reload(dependency_order(p.reload, new.after, new.before), new)
        self._write_list("reload-list", set())
        if p.restart:
            self.say("restarting the following units: " + ", ".join(_sorted(p.restart)))
            failures += manager.restart(dependency_order(p.restart, new.after, new.before), new)
        self._write_list("restart-list", set())
        if p.start:
            self.say("starting the following units: " + ", ".join(_sorted(p.start)))
        to_start = p.start | p.quiet
        if to_start:
            failures += manager.start(dependency_order(to_start, new.after, new.before), new)
        self._write_list("start-list", set())
        if failures:
            status = UNIT_FAILED
            for f in failures:
                self.report(f)
        return status, failures

    def _activation_requests(self, p: Plan, new: UnitGraph, active: set[str]) -> None:
        for name, into in (("activation-restart-list", "restart"),
                           ("activation-reload-list", "reload")):  # fmt: skip
            units = self._read_list(name) & set(new.units)
            for unit in units:
                if into == "reload" and unit in active and unit not in p.restart | p.stop:
                    p.reload.add(unit)
                elif unit not in active:
                    p.start.add(unit)
                else:
                    self._modified(unit, new.units[unit].sections, p, active, new)
                    if unit in p.stop:  # too late to stop with the old definition
                        p.stop.discard(unit)
                        p.start.discard(unit)
                        p.restart.add(unit)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._list_file(name))

    def report(self, f: Failure) -> None:
        text = f"Failed to {f.action} {f.unit}: {f.reason}"
        if f.unit_file:
            text += f"\n  unit file: {f.unit_file}"
        if f.log:
            text += "\n  last log lines:\n" + "\n".join("    " + ln for ln in f.log.splitlines())
        self.say(text)

    def _dry(self, toplevel: str, old: UnitGraph, new: UnitGraph, active: set[str]) -> int:
        p = self.plan(old, new, active, persisted=False)
        if p.stop:
            self.say("would stop the following units: " + ", ".join(_sorted(p.stop)))
        if p.skip:
            self.say("would NOT stop the following changed units: " + ", ".join(_sorted(p.skip)))
        self.say("would activate the configuration...")
        dry = self.machine.host(toplevel + "/dry-activate")
        if os.path.isfile(dry):
            self.run_in_machine([toplevel + "/dry-activate", toplevel], "dry-activate")
        if p.reload:
            self.say("would reload the following units: " + ", ".join(_sorted(p.reload)))
        if p.restart:
            self.say("would restart the following units: " + ", ".join(_sorted(p.restart)))
        if p.start:
            self.say("would start the following units: " + ", ".join(_sorted(p.start)))
        return OK

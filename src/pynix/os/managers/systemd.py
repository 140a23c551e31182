"""systemd as the service manager (systemd is PID 1 and the machine is ``/``).

The unit files are already in ``/etc/systemd/system`` through the etc tree;
this manager only asks systemd, with ``systemctl``, to reload its
configuration and to start, stop, restart or reload units.
"""

from __future__ import annotations

import subprocess

from ..machine import Machine
from .base import Failure, ServiceManager, UnitGraph


def graph_path(unit: str) -> str:
    return f"/etc/systemd/system/{unit}"


class SystemdManager(ServiceManager):
    name = "systemd"

    def __init__(self, machine: Machine) -> None:
        self.machine = machine

    def _ctl(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["systemctl", *args], capture_output=True, text=True,
                              timeout=timeout, check=False)

    def running(self) -> bool:
        return True  # PID 1

    def active_units(self) -> set[str]:
        out = self._ctl("list-units", "--all", "--plain", "--no-legend", "--full")
        active = set()
        for line in out.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[1] == "loaded" and parts[2] in ("active",
                                                                          "activating"):
                active.add(parts[0])
        return active

    def _each(self, verb: str, units: list[str]) -> list[Failure]:
        failures = []
        for unit in units:
            r = self._ctl(verb, unit)
            if r.returncode != 0:
                failures.append(Failure(unit, verb, r.stderr.strip() or f"exit {r.returncode}",
                                        self.log_tail(unit)))
        return failures

    def stop(self, units: list[str], graph: UnitGraph) -> list[Failure]:
        return self._each("stop", units)

    def update(self, graph: UnitGraph, keep: set[str]) -> None:
        self._ctl("reset-failed")
        self._ctl("daemon-reload")

    def _together(self, verb: str, units: list[str]) -> list[Failure]:
        """One job transaction for all units (systemd orders them itself), then
        the result of each."""
        if not units:
            return []
        r = self._ctl(verb, *units)
        if r.returncode == 0:
            return []
        failures = []
        for unit in units:
            result = self._ctl("show", "-p", "Result", "--value", unit).stdout.strip()
            if result not in ("", "success"):
                failures.append(Failure(unit, verb, f"result: {result}", self.log_tail(unit),
                                        graph_path(unit)))
        return failures or [Failure(units[0], verb, r.stderr.strip())]

    def start(self, units: list[str], graph: UnitGraph) -> list[Failure]:
        return self._together("start", units)

    def restart(self, units: list[str], graph: UnitGraph) -> list[Failure]:
        return self._together("restart", units)

    def reload(self, units: list[str], graph: UnitGraph) -> list[Failure]:
        return self._each("reload", units)

    def log_tail(self, unit: str, lines: int = 15) -> str:
        r = subprocess.run(["journalctl", "-u", unit, "-n", str(lines), "--no-pager", "-q"],
                           capture_output=True, text=True, timeout=30, check=False)
        return r.stdout.rstrip()

    def status(self) -> list[dict[str, object]]:
        return [{"unit": u, "state": "active"} for u in sorted(self.active_units())]

    def halt(self) -> list[Failure]:
        return []  # the host's own systemd is not ours to stop

"""systemd as the service manager (systemd is PID 1 and the machine is ``/``).

The unit files are already in ``/etc/systemd/system`` through the etc tree;
this manager only asks systemd, with ``systemctl``, to reload its
configuration and to start, stop, restart or reload units, and reads back
what became of them.
"""

from __future__ import annotations

import os
import subprocess
import time

from ..machine import Machine
from .base import Failure, ServiceManager, UnitGraph

# A service that was started must have been up this long to count as started
# (the supervisor manager's ``startsecs``): a simple service that exits at once
# is only "started" for systemd, then failed or restarting.  Its uptime is
# measured from systemd's own record, so a slow machine cannot hide an exit;
# a unit that has not stayed up that long after SETTLE_LIMIT is a failure.
SETTLE_SECONDS = 1.0
SETTLE_LIMIT = 15.0
_SHOWN = ("Id", "ActiveState", "SubState", "Result", "ExecMainStatus", "MainPID",
          "Description", "ActiveEnterTimestampMonotonic")


def _blocks(text: str) -> list[dict[str, str]]:
    """``systemctl show`` output: one block of ``Key=value`` lines per unit."""
    out: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                out.append(current)
                current = {}
            continue
        key, _, value = line.partition("=")
        current[key] = value
    if current:
        out.append(current)
    return out


class SystemdManager(ServiceManager):
    name = "systemd"

    def __init__(self, machine: Machine) -> None:
        self.machine = machine

    def _ctl(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(["systemctl", *args], capture_output=True, text=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(["systemctl", *args], 1, "",
                                               f"systemctl {args[0]} timed out after "
                                               f"{timeout:.0f} s")

    def _show(self, units: list[str]) -> dict[str, dict[str, str]]:
        if not units:
            return {}
        r = self._ctl("show", "-p", ",".join(_SHOWN), "--", *units)
        blocks = _blocks(r.stdout)
        if len(blocks) == len(units):  # in the order asked (an alias shows its target's Id)
            return dict(zip(units, blocks, strict=True))
        return {b["Id"]: b for b in blocks if "Id" in b}

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

    def _failure(self, unit: str, verb: str, props: dict[str, str], graph: UnitGraph,
                 detail: str = "") -> Failure:
        reason = (f"{props.get('ActiveState', '?')} ({props.get('SubState', '?')}), "
                  f"result: {props.get('Result', '?')}")
        status = props.get("ExecMainStatus", "0")
        if status not in ("", "0"):
            reason += f", exit status {status}"
        if detail:
            reason += f"; {detail}"
        return Failure(unit, verb, reason, self.log_tail(unit), f"{graph.unit_dir}/{unit}")

    def _each(self, verb: str, units: list[str], graph: UnitGraph) -> list[Failure]:
        failures = []
        for unit in units:
            r = self._ctl(verb, unit)
            if r.returncode != 0:
                failures.append(Failure(unit, verb, r.stderr.strip() or f"exit {r.returncode}",
                                        self.log_tail(unit), f"{graph.unit_dir}/{unit}"))
        return failures

    def stop(self, units: list[str], graph: UnitGraph) -> list[Failure]:
        return self._each("stop", units, graph)

    def update(self, graph: UnitGraph, keep: set[str]) -> None:
        self._ctl("reset-failed")
        self._ctl("daemon-reload")

    def _together(self, verb: str, units: list[str], graph: UnitGraph) -> list[Failure]:
        """One job transaction for all units (systemd orders them itself); then
        each running service must stay up for ``SETTLE_SECONDS``: one that
        failed, waits to be restarted after exiting, or never stays up that
        long is a failure."""
        if not units:
            return []
        r = self._ctl(verb, *units)
        failed: dict[str, dict[str, str]] = {}
        waiting = set(units)
        last: dict[str, dict[str, str]] = {}
        deadline = time.monotonic() + SETTLE_LIMIT
        while waiting:
            now_us = time.monotonic_ns() // 1000  # CLOCK_MONOTONIC, as systemd's
            for unit, props in self._show(sorted(waiting)).items():
                last[unit] = props
                active, sub = props.get("ActiveState"), props.get("SubState")
                if active == "failed" or sub == "auto-restart":
                    failed[unit] = props
                elif sub == "running":
                    entered = int(props.get("ActiveEnterTimestampMonotonic") or 0)
                    if not entered or now_us - entered < SETTLE_SECONDS * 1e6:
                        continue
                elif active not in ("active", "inactive"):
                    continue  # activating, reloading, deactivating
                waiting.discard(unit)
            waiting -= set(failed)
            if not waiting or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        failures = [self._failure(u, verb, p, graph) for u, p in sorted(failed.items())]
        failures += [self._failure(u, verb, last.get(u, {}), graph,
                                   f"did not stay up for {SETTLE_SECONDS:g} s")
                     for u in sorted(waiting)]
        if r.returncode != 0 and not failures:
            failures.append(Failure(", ".join(units), verb,
                                    r.stderr.strip() or f"systemctl exit {r.returncode}"))
        return failures

    def start(self, units: list[str], graph: UnitGraph) -> list[Failure]:
        return self._together("start", units, graph)

    def restart(self, units: list[str], graph: UnitGraph) -> list[Failure]:
        return self._together("restart", units, graph)

    def reload(self, units: list[str], graph: UnitGraph) -> list[Failure]:
        return self._each("reload", units, graph)

    def log_tail(self, unit: str, lines: int = 15) -> str:
        try:
            r = subprocess.run(["journalctl", "-u", unit, "-n", str(lines), "--no-pager", "-q",
                                "-o", "cat"],
                               capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return r.stdout.rstrip()

    def status(self) -> list[dict[str, object]]:
        """The units of the current system, as systemd sees them."""
        current = self.machine.current_system()
        if current is None:
            return []
        unit_dir = self.machine.host(current + "/etc/systemd/system")
        try:
            names = sorted(n for n in os.listdir(unit_dir)
                           if not os.path.isdir(os.path.join(unit_dir, n)))
        except OSError:
            return []
        out: list[dict[str, object]] = []
        shown = self._show(names)
        for name in names:
            props = shown.get(name, {})
            pid = int(props.get("MainPID", "0") or 0)
            out.append({"unit": name,
                        "state": f"{props.get('ActiveState', '?')} ({props.get('SubState', '?')})",
                        "pid": pid or None, "description": props.get("Description", "")})
        return out

    def halt(self) -> list[Failure]:
        return []  # the host's own systemd is not ours to stop

"""The operations behind ``pynix os``: build a configuration, switch, roll back,
list and delete generations, compare two generations."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from typing import IO

from ..profiles import Profile, ProfileError
from ..store.api import STORE_DIR
from .machine import Machine
from .managers import choose_manager
from .switch import OK, UNIT_FAILED, Switcher, SwitchError


class BuildFailed(Exception):
    """Evaluation or build failed; the evaluator/builder already said why."""


def config_expression(config_file: str, attr: str) -> str:
    """The expression of the system (or its options) of a configuration file."""
    path = json.dumps(os.path.abspath(config_file)).replace("${", "\\${")
    return (f"(import <pynix/os/eval-config.nix> {{ modules = [ (/. + {path}) ]; }})"
            f".{attr}")


def activate(machine: Machine, toplevel: str, action: str, err: IO[bytes], *,
             rollback_on_failure: bool = True) -> int:
    """``switch``/``boot``/``test``/``dry-activate`` to a built toplevel."""
    _need_root(action)
    switcher = Switcher(machine, err)
    with switcher.lock():
        switcher.check_toplevel(toplevel)
        profile = Profile(machine.profile_path, machine.store)
        previous_number = profile.current_number()
        previous = machine.current_system()
        if action in ("switch", "boot"):
            _, number = profile.set(toplevel)
            switcher.say(f"the system profile is now generation {number} ({toplevel})")
        if action == "boot":
            return OK
        status, failures = switcher.switch_to(toplevel, action)
        if status == OK or action == "dry-activate":
            if action != "dry-activate":
                switcher.say(f"finished switching to system configuration {toplevel}")
            return status
        switcher.say("warning: error(s) occurred while switching to the new configuration")
        failed_start = [f for f in failures if f.action in ("start", "restart")]
        if failed_start and rollback_on_failure and previous and previous != toplevel:
            switcher.say(f"putting the previous configuration back: {previous}")
            if action == "switch" and previous_number is not None:
                profile.switch_generation(previous_number)
            back, _ = switcher.switch_to(previous, "switch")
            if back == OK:
                switcher.say(f"the previous configuration {previous} is running again")
            else:
                switcher.say("warning: the previous configuration did not come back cleanly")
        return UNIT_FAILED if failed_start else status


def _need_root(action: str) -> None:
    if os.geteuid() != 0:
        raise SwitchError(f"'pynix os {action}' must be run as root (it changes users, "
                          "mounts the machine's directories and runs its services)")


def rollback(machine: Machine, err: IO[bytes]) -> int:
    _need_root("rollback")
    switcher = Switcher(machine, err)
    with switcher.lock():
        profile = Profile(machine.profile_path, machine.store)
        try:
            old, new = profile.rollback()
        except ProfileError as e:
            raise SwitchError(str(e)) from None
        gen = next(g for g in profile.generations() if g.number == new)
        switcher.say(f"switching from generation {old} to {new}")
        status, _ = switcher.switch_to(gen.store_path, "switch")
        if status == OK:
            switcher.say(f"finished switching to system configuration {gen.store_path}")
        return status


@dataclass
class GenerationInfo:
    number: int
    date: str
    path: str
    version: str
    current: bool
    running: bool

    def json(self) -> dict[str, object]:
        return {"generation": self.number, "date": self.date, "nixosVersion": self.version,
                "kernelVersion": None, "configurationRevision": None,
                "specialisations": [], "current": self.current, "running": self.running,
                "path": self.path}  # fmt: skip


def generations(machine: Machine) -> list[GenerationInfo]:
    profile = Profile(machine.profile_path, machine.store)
    running = machine.current_system()
    out = []
    for g in profile.generations():
        try:
            with open(machine.host(g.store_path + "/nixos-version")) as fh:
                version = fh.read().strip()
        except OSError:
            version = "Unknown"
        date = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(g.time))
        out.append(GenerationInfo(g.number, date, g.store_path, version, g.current,
                                  g.store_path == running))
    return out


def format_generations(gens: list[GenerationInfo]) -> str:
    rows = [("Generation", "Build-date", "Version", "Path")]
    for g in sorted(gens, key=lambda g: -g.number):
        label = f"{g.number} current" if g.current else str(g.number)
        if g.running and not g.current:
            label += " running"
        rows.append((label, g.date, g.version, g.path))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}\n"
                   for r in rows)


def delete_generations(machine: Machine, spec: list[str]) -> list[int]:
    profile = Profile(machine.profile_path, machine.store)
    try:
        return profile.delete_generations(spec)
    except ProfileError as e:
        raise SwitchError(str(e)) from None


def resolve_generation(machine: Machine, text: str) -> str:
    """A generation number, ``current``, ``running`` or a store path -> its toplevel."""
    if text == "running":
        cur = machine.current_system()
        if cur is None:
            raise SwitchError("no system is running on this machine")
        return cur
    profile = Profile(machine.profile_path, machine.store)
    if text == "current":
        g = profile.current()
        if g is None:
            raise SwitchError("the system profile has no current generation")
        return g.store_path
    if text.isdigit():
        for g in profile.generations():
            if g.number == int(text):
                return g.store_path
        raise SwitchError(f"generation {text} does not exist")
    if text.startswith(STORE_DIR + "/"):
        return text
    raise SwitchError(f"'{text}' is not a generation number or a store path")


def parse_name(name: str) -> tuple[str, str]:
    """Like ``builtins.parseDrvName``: the version starts at the first ``-``
    followed by something other than a letter."""
    m = re.search(r"-(?=[^A-Za-z])", name)
    if not m:
        return name, ""
    return name[: m.start()], name[m.end():]


@dataclass
class Diff:
    added: list[tuple[str, str]]
    removed: list[tuple[str, str]]
    changed: list[tuple[str, str, str]]
    size_a: int
    size_b: int
    sw_size_a: int
    sw_size_b: int


def _sw(machine: Machine, toplevel: str) -> str | None:
    link = machine.path(toplevel + "/sw")
    try:
        target = os.readlink(link)
    except OSError:
        return None
    return target if target.startswith(STORE_DIR + "/") else None


def _packages(machine: Machine, paths: set[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for p in paths:
        base = os.path.basename(p)[33:]
        if base.endswith(".drv"):
            continue
        name, version = parse_name(base)
        out.setdefault(name, set()).add(version)
    return out


def diff(machine: Machine, a: str, b: str) -> Diff:
    store = machine.store

    def size(paths: set[str]) -> int:
        return sum(store.query_path_info(p).nar_size for p in paths)

    closures = []
    for top in (a, b):
        if not store.is_valid_path(top):
            raise SwitchError(f"'{top}' is not valid in the store")
        sw = _sw(machine, top)
        closures.append((store.query_closure([top]),
                         store.query_closure([sw]) if sw and store.is_valid_path(sw) else set()))
    pa, pb = _packages(machine, closures[0][1]), _packages(machine, closures[1][1])
    added = [(n, ", ".join(sorted(pb[n]))) for n in sorted(set(pb) - set(pa))]
    removed = [(n, ", ".join(sorted(pa[n]))) for n in sorted(set(pa) - set(pb))]
    changed = [(n, ", ".join(sorted(pa[n])), ", ".join(sorted(pb[n])))
               for n in sorted(set(pa) & set(pb)) if pa[n] != pb[n]]
    return Diff(added, removed, changed, size(closures[0][0]), size(closures[1][0]),
                size(closures[0][1]), size(closures[1][1]))


def human(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{value:.1f} GiB"


def format_diff(d: Diff, a: str, b: str) -> str:
    lines = [f"comparing {a}", f"     with {b}"]
    for name, v in d.added:
        lines.append(f"  added:   {name} {v}".rstrip())
    for name, v in d.removed:
        lines.append(f"  removed: {name} {v}".rstrip())
    for name, va, vb in d.changed:
        lines.append(f"  changed: {name} {va or '(none)'} -> {vb or '(none)'}")
    if not (d.added or d.removed or d.changed):
        lines.append("  no package differences in sw")
    delta = d.sw_size_b - d.sw_size_a
    lines.append(f"sw closure size: {human(d.sw_size_a)} -> {human(d.sw_size_b)} "
                 f"({'+' if delta >= 0 else '-'}{human(abs(delta))})")
    delta = d.size_b - d.size_a
    lines.append(f"system closure size: {human(d.size_a)} -> {human(d.size_b)} "
                 f"({'+' if delta >= 0 else '-'}{human(abs(delta))})")
    return "\n".join(lines) + "\n"


def halt(machine: Machine, err: IO[bytes]) -> bool:
    """Stop the machine's services (in reverse dependency order, running their
    ExecStop=) and its service manager."""
    from .units import dependency_order

    manager = choose_manager(machine, create=False)
    if not manager.running():
        return False
    switcher = Switcher(machine, err, manager)
    current = machine.current_system()
    if current is not None and manager.name != "systemd":
        graph = switcher.graph(current)
        active = sorted(manager.active_units())
        if active:
            switcher.say("stopping the following units: " + ", ".join(active))
            order = dependency_order(active, graph.after, graph.before)
            for f in manager.stop(list(reversed(order)), graph):
                switcher.report(f)
    manager.halt()
    return True

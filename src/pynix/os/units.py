"""Unit files in systemd's syntax: parsing, drop-ins, and the comparison that
decides whether a changed unit is reloaded or restarted (spec §8.3).

A unit is kept as ``{section: {key: [values...]}}``: every assignment of a key
appends a value and an empty assignment resets the list, as systemd reads them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Sections = dict[str, dict[str, list[str]]]

# differences in these [Unit] keys never make a unit restart (spec §8.3)
IGNORED_UNIT_KEYS = frozenset({
    "Description", "Documentation", "OnFailure", "OnSuccess", "OnFailureJobMode",
    "IgnoreOnIsolate", "StopWhenUnneeded", "RefuseManualStart", "RefuseManualStop",
    "AllowIsolate", "CollectMode", "SourcePath", "X-Reload-Triggers",
})  # fmt: skip

_TRUE = frozenset({"1", "yes", "true", "on"})


class UnitError(Exception):
    """A unit file that cannot be read; the message names the file and line."""


@dataclass
class Unit:
    name: str
    sections: Sections = field(default_factory=dict)
    path: str | None = None  # where it was read from (logical path), for messages

    def values(self, section: str, key: str) -> list[str]:
        return list(self.sections.get(section, {}).get(key, []))

    def get(self, section: str, key: str, default: str | None = None) -> str | None:
        vals = self.sections.get(section, {}).get(key)
        return vals[-1] if vals else default

    def get_bool(self, section: str, key: str, default: bool = False) -> bool:
        v = self.get(section, key)
        return default if v is None else v.strip().lower() in _TRUE

    def words(self, section: str, key: str) -> list[str]:
        """A list-valued key (``After=a b`` twice): all words, in order."""
        return [w for v in self.values(section, key) for w in v.split()]

    @property
    def kind(self) -> str:
        return self.name.rsplit(".", 1)[-1] if "." in self.name else ""

    @property
    def service_type(self) -> str:
        return self.get("Service", "Type") or "simple"


def parse_unit_text(text: str, name: str, into: Sections | None = None,
                    source: str = "<unit>") -> Sections:
    """Parse ``text`` (a unit file or a drop-in) into ``into``."""
    sections: Sections = {} if into is None else into
    current: str | None = None
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        lineno = i + 1
        line = lines[i].strip()
        i += 1
        if not line or line[0] in "#;":
            continue
        while line.endswith("\\") and i < len(lines):
            nxt = lines[i].strip()
            i += 1
            if nxt and nxt[0] in "#;":
                continue
            line = line[:-1] + " " + nxt
        if line.startswith("["):
            if not line.endswith("]"):
                raise UnitError(f"{source}:{lineno}: malformed section header '{line}'")
            current = line[1:-1]
            sections.setdefault(current, {})
            continue
        if "=" not in line:
            raise UnitError(f"{source}:{lineno}: expected 'Key=Value', got '{line}'")
        if current is None:
            raise UnitError(f"{source}:{lineno}: assignment outside of a section")
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if value == "":
            sections[current][key] = []  # an empty assignment resets the key
        else:
            sections[current].setdefault(key, []).append(value)
    return sections


def template_of(name: str) -> str | None:
    """``x@i.service`` -> ``x@.service``; None for names that are not instances."""
    m = re.fullmatch(r"([^@]+)@([^@]+)(\.[a-z]+)", name)
    return f"{m.group(1)}@{m.group(3)}" if m else None


def instance_of(name: str) -> str:
    m = re.fullmatch(r"[^@]+@([^@]*)\.[a-z]+", name)
    return m.group(1) if m else ""


Resolver = Callable[[str], str]  # logical path -> host path


def read_unit(unit_dir: str, name: str, resolve: Resolver | None = None) -> Unit | None:
    """The unit ``name`` from a unit directory (a logical path such as
    ``/nix/store/...-etc/etc/systemd/system``), with its drop-ins; None when it does
    not exist or is masked (a link to ``/dev/null``)."""
    real = resolve or (lambda p: p)
    candidates = [name]
    template = template_of(name)
    if template:
        candidates.append(template)
    sections: Sections | None = None
    found = None
    for cand in candidates:
        logical = os.path.join(unit_dir, cand)
        host = real(logical)
        if os.path.realpath(host) == "/dev/null" or _links_to_dev_null(logical, real):
            return None
        if os.path.isfile(host):
            try:
                with open(host, encoding="utf-8", errors="surrogateescape") as fh:
                    sections = parse_unit_text(fh.read(), name, source=logical)
            except OSError as e:
                raise UnitError(f"cannot read unit file '{logical}': {e.strerror}") from None
            found = logical
            break
    if sections is None:
        return None
    for cand in reversed(candidates):  # template drop-ins first, then the instance's
        dropin_dir = real(os.path.join(unit_dir, cand + ".d"))
        if not os.path.isdir(dropin_dir):
            continue
        for conf in sorted(os.listdir(dropin_dir)):
            if conf.endswith(".conf"):
                with open(os.path.join(dropin_dir, conf), encoding="utf-8",
                          errors="surrogateescape") as fh:
                    parse_unit_text(fh.read(), name, sections,
                                    source=os.path.join(unit_dir, cand + ".d", conf))
    return Unit(name, sections, found)


def _links_to_dev_null(logical: str, real: Resolver) -> bool:
    host = real(logical)
    try:
        return os.readlink(host) == "/dev/null"
    except OSError:
        return False


def list_units(unit_dir: str, resolve: Resolver | None = None) -> list[str]:
    """The unit names in a unit directory (not the ``.wants`` directories)."""
    real = resolve or (lambda p: p)
    host = real(unit_dir)
    try:
        names = os.listdir(host)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(n for n in names
                  if "." in n and not n.endswith((".d", ".wants", ".requires", ".upholds")))


def wanted_by(unit_dir: str, target: str, resolve: Resolver | None = None) -> list[str]:
    """Units in ``<target>.wants/`` and ``<target>.requires/``."""
    real = resolve or (lambda p: p)
    out: list[str] = []
    for suffix in (".wants", ".requires", ".upholds"):
        d = real(os.path.join(unit_dir, target + suffix))
        if os.path.isdir(d):
            out += sorted(os.listdir(d))
    return out


# -- comparison ---------------------------------------------------------------------


EQUAL, NEEDS_RELOAD, NEEDS_RESTART = "equal", "reload", "restart"


def compare_units(old: Sections, new: Sections) -> str:
    """``equal``, ``reload`` (only reload triggers or mount options differ) or
    ``restart`` (anything else), with the [Install] section ignored."""
    reload = False
    for section in sorted(set(old) | set(new)):
        if section == "Install":
            continue
        a, b = old.get(section), new.get(section)
        if a is None or b is None:
            present = a if a is not None else b
            assert present is not None
            if section == "Unit" and all(k in IGNORED_UNIT_KEYS for k in present):
                if "X-Reload-Triggers" in present:
                    reload = True
                continue
            return NEEDS_RESTART
        for key in sorted(set(a) | set(b)):
            va, vb = a.get(key), b.get(key)
            if va == vb:
                continue
            if section == "Unit" and key == "X-Reload-Triggers":
                reload = True
            elif section == "Unit" and key in IGNORED_UNIT_KEYS:
                continue
            elif section == "Mount" and key == "Options":
                reload = True
            else:
                return NEEDS_RESTART
    return NEEDS_RELOAD if reload else EQUAL


def dependency_order(units: Iterable[str], after: Callable[[str], Iterable[str]],
                     before: Callable[[str], Iterable[str]] | None = None) -> list[str]:
    """``units`` sorted so that each comes after the units it is ordered after
    (``After=``, and the other units' ``Before=``); ties and cycles by name."""
    names = sorted(set(units))
    preds: dict[str, set[str]] = {n: set() for n in names}
    for n in names:
        for a in after(n):
            if a in preds and a != n:
                preds[n].add(a)
        if before is not None:
            for b in before(n):
                if b in preds and b != n:
                    preds[b].add(n)
    out: list[str] = []
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(n: str) -> None:
        if n in done or n in visiting:
            return  # a cycle: systemd would break it too
        visiting.add(n)
        for p in sorted(preds[n]):
            visit(p)
        visiting.discard(n)
        done.add(n)
        out.append(n)

    for n in names:
        visit(n)
    return out

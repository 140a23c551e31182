"""Lock files of pinned inputs: Debian packages with their dependency closure,
and PyPI files.

A lock file is JSON (sorted keys, two-space indent, a final newline, so that it
is the same text for the same pins)::

    {"version": 1, "release": "bookworm",
     "packages": {"hello": {"version": "2.10-3", "arch": "amd64", "sha256": "...",
                            "size": 53080, "filename": "pool/main/h/hello/...deb",
                            "depends": ["libc6"]}, ...},
     "pypi": {"six": {"version": "1.16.0", "filename": "six-1.16.0-py2.py3-none-any.whl",
                      "sha256": "...", "size": 11053}}}

The Debian closure follows ``Pre-Depends`` and ``Depends``: of alternatives
(``a | b``) the first the archive can satisfy, a virtual package by one real
provider (one already in the closure, else the most important, else the first
by name), architecture qualifiers (``:any``) ignored.  Every version
constraint is checked against the version chosen; the ones that fail are all
reported at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .apt import PackageRecord, PrivateApt, Relation, select_arch

LOCK_VERSION: Final = 1
DEFAULT_LOCK: Final = "debian.lock.json"
PIP_TIMEOUT: Final = 600.0

_PRIORITY: Final = {"required": 0, "important": 1, "standard": 2, "optional": 3, "extra": 4}


class LockError(Exception):
    """Locking failed; the message names the package, version or file."""


# -- Debian closures ---------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    name: str
    version: str | None = None
    arch: str | None = None


def parse_request(text: str) -> Request:
    """``NAME``, ``NAME=VERSION``, ``NAME:ARCH[=VERSION]``."""
    name, eq, version = text.partition("=")
    name, _, arch = name.partition(":")
    if not re.fullmatch(r"[a-z0-9][a-z0-9+.\-]*", name) or (eq and not version):
        raise LockError(f"'{text}' is not a Debian package name (NAME or NAME=VERSION)")
    return Request(name, version or None, arch or None)


def unavailable_message(name: str, version: str, available: Sequence[str],
                        release: str) -> str:
    """What to say about a pin the archive no longer serves."""
    has = (f"it has {', '.join(available)}" if available
           else f"it has no package '{name}' in '{release}'")
    return (f"Debian package '{name}' version '{version}' is not available from the "
            f"configured archive ({has}); relock it with: pynix debian lock {name}")


class Resolver:
    """Computes dependency closures against one archive (records cached)."""

    def __init__(self, apt: PrivateApt) -> None:
        self.apt = apt
        self._records: dict[str, list[PackageRecord]] = {}
        self._providers: dict[str, list[str]] = {}

    def prefetch(self, names: Sequence[str]) -> None:
        todo = sorted({n for n in names if n not in self._records})
        if not todo:
            return
        found = self.apt.show(todo)
        native = self.apt.native_arch
        for name in todo:
            self._records[name] = select_arch(found, name, None, native)

    def candidates(self, name: str) -> list[PackageRecord]:
        self.prefetch([name])
        return self._records[name]

    def providers(self, name: str) -> list[str]:
        if name not in self._providers:
            self._providers.update(self.apt.providers([name]))
            self._providers.setdefault(name, [])
        return self._providers[name]

    def resolve(self, requests: Sequence[Request]) -> dict[str, PackageRecord]:
        """The closure of ``requests``: package name -> the record chosen."""
        chosen: dict[str, PackageRecord] = {}
        pinned: dict[str, str] = {}
        errors: list[str] = []
        self.prefetch([r.name for r in requests])
        for req in requests:
            found = [r for r in self.candidates(req.name)
                     if req.arch is None or r.architecture == req.arch]
            if req.version is not None:
                exact = [r for r in found if r.version == req.version]
                if not exact:
                    raise LockError(unavailable_message(
                        req.name, req.version, [r.version for r in found], self.apt.release))
                found = exact
            if not found:
                virtual = self.providers(req.name)
                hint = (f" (it is virtual: provided by {', '.join(sorted(virtual))})"
                        if virtual else "")
                raise LockError(f"Debian package '{req.name}' is not available from the "
                                f"configured archive ('{self.apt.release}'){hint}")
            chosen[req.name] = found[0]
            if req.version is not None:
                pinned[req.name] = req.version
        depends: dict[str, list[str]] = {}
        queue = list(chosen)
        while queue:
            # fetch every name this round mentions in one apt-cache call
            self.prefetch([alt.name for n in queue for group in _groups(chosen[n])
                           for alt in group])
            next_round: list[str] = []
            for name in queue:
                record = chosen[name]
                names: list[str] = []
                for group in _groups(record):
                    target = self._pick(record, group, chosen, errors)
                    if target is None:
                        continue
                    if target.package not in chosen:
                        chosen[target.package] = target
                        next_round.append(target.package)
                    if target.package != name and target.package not in names:
                        names.append(target.package)
                depends[name] = names
            queue = next_round
        if errors:
            raise LockError("cannot lock the dependency closure:\n  " + "\n  ".join(errors))
        self.depends = depends
        return chosen

    def _pick(self, record: PackageRecord, group: Sequence[Relation],
              chosen: Mapping[str, PackageRecord], errors: list[str]) -> PackageRecord | None:
        """The package that satisfies one dependency group, or None (error noted)."""
        who = f"{record.package} {record.version}"
        for alt in group:
            real = [chosen[alt.name]] if alt.name in chosen else self.candidates(alt.name)
            for r in real:
                if alt.satisfied_by(r.version):
                    return r
            if real:
                continue
            provider = self._provider(alt, chosen)
            if provider is not None:
                return provider
        # nothing fits: say why, about the first alternative that exists
        text = " | ".join(str(a) for a in group)
        for alt in group:
            real = [chosen[alt.name]] if alt.name in chosen else self.candidates(alt.name)
            if real:
                errors.append(f"{who} depends on '{text}', but the version of "
                              f"{alt.name} chosen is {real[0].version}")
                return None
        errors.append(f"{who} depends on '{text}', which the archive "
                      f"('{self.apt.release}') does not have")
        return None

    def _provider(self, alt: Relation, chosen: Mapping[str, PackageRecord]) -> PackageRecord | None:
        names = self.providers(alt.name)
        self.prefetch(names)
        options: list[PackageRecord] = []
        for name in names:
            recs = [chosen[name]] if name in chosen else self.candidates(name)[:1]
            for r in recs:
                for p in r.provides:
                    if p.name != alt.name:
                        continue
                    if not alt.op or (p.op == "=" and alt.satisfied_by(p.version)):
                        options.append(r)
                        break
        if not options:
            return None
        return min(options, key=lambda r: (r.package not in chosen,
                                           _PRIORITY.get(r.priority, 5), r.package))


def _groups(record: PackageRecord) -> tuple[tuple[Relation, ...], ...]:
    return record.pre_depends + record.depends


def lock_entry(record: PackageRecord, depends: Sequence[str]) -> dict[str, Any]:
    return {
        "version": record.version,
        "arch": record.architecture,
        "sha256": record.sha256,
        "size": record.size,
        "filename": record.filename,
        "depends": sorted(set(depends)),
    }


def lock_debian(apt: PrivateApt, requests: Sequence[Request]) -> dict[str, dict[str, Any]]:
    """Lock entries of the closure of ``requests``."""
    resolver = Resolver(apt)
    chosen = resolver.resolve(requests)
    return {name: lock_entry(rec, resolver.depends.get(name, []))
            for name, rec in sorted(chosen.items())}


# -- lock files --------------------------------------------------------------------------


def empty_lock(release: str | None) -> dict[str, Any]:
    lock: dict[str, Any] = {"version": LOCK_VERSION, "packages": {}}
    if release is not None:
        lock["release"] = release
    return lock


def read_lock(path: str) -> dict[str, Any] | None:
    """The lock file at ``path``, or None if there is none."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise LockError(f"cannot read lock file '{path}': {e}") from None
    if not isinstance(data, dict) or data.get("version") != LOCK_VERSION:
        raise LockError(f"lock file '{path}' is not a version {LOCK_VERSION} pynix lock file")
    for section in ("packages", "pypi"):
        if not isinstance(data.get(section, {}), dict):
            raise LockError(f"lock file '{path}': '{section}' is not an object")
    return data


def render_lock(lock: Mapping[str, Any]) -> str:
    return json.dumps(lock, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_lock(path: str, lock: Mapping[str, Any]) -> None:
    """Write ``lock`` to ``path`` atomically."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".lock-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(render_lock(lock))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def merge_packages(path: str, release: str, entries: Mapping[str, Any],
                   section: str = "packages") -> dict[str, Any]:
    """The lock at ``path`` (or a new one) with ``entries`` added or replaced."""
    lock = read_lock(path) or empty_lock(release)
    if section == "packages":
        if lock.get("release", release) != release:
            raise LockError(f"lock file '{path}' pins release '{lock['release']}', but this "
                            f"machine's archive is '{release}'")
        lock["release"] = release
    merged = dict(lock.get(section, {}))
    merged.update(entries)
    lock[section] = merged
    lock.setdefault("packages", {})
    return lock


# -- PyPI --------------------------------------------------------------------------------


def normalize_pypi_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pypi_request(text: str) -> tuple[str, str]:
    name, sep, version = text.partition("==")
    if not sep or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._\-]*", name) or not version:
        raise LockError(f"'{text}' is not a pinned PyPI requirement (NAME==VERSION)")
    return name, version


def _file_digest(path: str) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def pip_download(args: Sequence[str], dest: str, what: str) -> str:
    """Run ``pip download ARGS -d DEST`` and return the one file it saved."""
    os.makedirs(dest, exist_ok=True)
    before = set(os.listdir(dest))
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-input",
            "--disable-pip-version-check", "-q", *args, "-d", dest]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                              timeout=PIP_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise LockError(f"{what}: pip took longer than {PIP_TIMEOUT:.0f} s") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("ERROR")] or lines[-2:]
        raise LockError(f"{what}: pip download failed: {' '.join(errors) or 'no message'}")
    new = sorted(set(os.listdir(dest)) - before)
    if len(new) != 1:
        raise LockError(f"{what}: pip download saved {len(new)} files instead of one")
    return os.path.join(dest, new[0])


def pypi_entry(name: str, version: str, platform_tag: str | None = None,
               python_version: str = "3.11") -> dict[str, Any]:
    """Download ``name==version`` (a wheel: pure unless ``platform_tag`` asks for a
    CPython binary wheel for that platform) and describe the file."""
    args = ["--only-binary", ":all:"]
    if platform_tag:
        args += ["--platform", platform_tag, "--python-version", python_version,
                 "--implementation", "cp"]
    what = f"PyPI package '{name}' version '{version}'"
    with tempfile.TemporaryDirectory(prefix="pynix-pypi-") as tmp:
        path = pip_download([*args, f"{name}=={version}"], tmp, what)
        sha256, size = _file_digest(path)
        return {"version": version, "filename": os.path.basename(path), "sha256": sha256,
                "size": size}


def copy_to(src: str, dest: str) -> None:
    """Move ``src`` to ``dest`` (a copy when they are on different file systems)."""
    try:
        os.replace(src, dest)
    except OSError:
        shutil.copyfile(src, dest)
        os.unlink(src)

"""Profiles and their generations, with Nix's layout (spec 11.2).

A profile ``P`` is a symlink to ``P-N-link`` (a relative target: the base
name), which is a symlink to a store path.  Every change is atomic: a new
generation link is created (and flushed to disk) before ``P`` is switched by
renaming a temporary symlink over it, so ``P`` always names a complete
generation.  Changes hold the profile's lock (``P.lock``), as Nix does.

Generation links are GC roots twice over: through ``<state>/profiles`` (which
the collector walks) and through an indirect root in ``gcroots/auto``, which
also covers profiles kept elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..store.api import Store
from ..store.locks import PathLocks

_DAY = 24 * 60 * 60


class ProfileError(Exception):
    """A profile operation that cannot be done; the message says why."""


@dataclass(frozen=True)
class Generation:
    number: int
    link: str  # absolute path of P-N-link
    store_path: str  # where it points
    time: float  # the link's mtime (lstat), as Nix shows it
    current: bool = False


@dataclass(frozen=True)
class DeleteSpec:
    """What ``--delete-generations`` was asked: exactly one field is set."""

    numbers: frozenset[int] | None = None
    old: bool = False
    older_than_days: int | None = None
    keep_last: int | None = None


def parse_delete_spec(args: Sequence[str]) -> DeleteSpec:
    """Parse ``--delete-generations`` arguments: numbers, ``old``, ``Nd`` or ``+N``."""
    if not args:
        raise ProfileError("no generations to delete were given")
    if len(args) == 1:
        arg = args[0]
        if arg == "old":
            return DeleteSpec(old=True)
        if arg.endswith("d") and not arg.isdigit():
            days = arg[:-1]
            if not days.isdigit() or int(days) < 1:
                raise ProfileError(
                    f"invalid number of days specifier '{arg}', expected something like '14d'"
                )
            return DeleteSpec(older_than_days=int(days))
        if arg.startswith("+"):
            count = arg[1:]
            if not count.isdigit() or int(count) == 0:
                raise ProfileError(f"invalid number of generations to keep '{arg}'")
            return DeleteSpec(keep_last=int(count))
    numbers = set()
    for arg in args:
        if not arg.isdigit():
            raise ProfileError(f"invalid generation number '{arg}'")
        numbers.add(int(arg))
    return DeleteSpec(numbers=frozenset(numbers))


def format_generations(generations: Iterable[Generation]) -> str:
    """The text of ``--list-generations``: number, local time, ``(current)``."""
    lines = []
    for g in generations:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(g.time))
        lines.append(f"{g.number:4d}   {stamp}   {'(current)' if g.current else ''}\n")
    return "".join(lines)


def profiles_dir(store: Store) -> str:
    """Where a store keeps its profiles (``<state>/profiles``)."""
    layout = getattr(store, "layout", None)
    if layout is None:
        raise ProfileError(f"store {store!r} has no local profiles directory")
    return str(layout.profiles_dir)


def resolve_profile_path(path: str) -> str:
    """The profile a path names: ``~/.nix-profile`` (a link to a profile) is
    followed to the profile itself; a profile (whose link names one of its own
    generations) or a path that does not exist yet is taken as it is."""
    path = os.path.abspath(path)
    for _ in range(40):
        try:
            target = os.readlink(path)
        except OSError:
            return path
        name = os.path.basename(path)
        if re.fullmatch(re.escape(name) + r"-[0-9]+-link", os.path.basename(target)):
            return path
        path = os.path.normpath(os.path.join(os.path.dirname(path), target))
    raise ProfileError(f"too many levels of symbolic links at '{path}'")


class Profile:
    """The profile whose symlink is at ``path``.

    With a ``store`` new generations must be valid paths of it, are kept alive
    (temporary root) while being linked, and get an indirect GC root.
    """

    def __init__(self, path: str, store: Store | None = None) -> None:
        self.path = resolve_profile_path(path)
        self.store = store
        self.dir, self.name = os.path.split(self.path)
        self._link_name = re.compile(re.escape(self.name) + r"-([0-9]+)-link")

    def __repr__(self) -> str:
        return f"Profile({self.path!r})"

    # -- reading --------------------------------------------------------------

    def link_path(self, number: int) -> str:
        return os.path.join(self.dir, f"{self.name}-{number}-link")

    def current_number(self) -> int | None:
        try:
            target = os.readlink(self.path)
        except (FileNotFoundError, OSError):
            return None
        m = self._link_name.fullmatch(os.path.basename(target))
        return int(m.group(1)) if m else None

    def generations(self) -> list[Generation]:
        """Every generation, ascending."""
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        current = self.current_number()
        found = []
        for name in names:
            m = self._link_name.fullmatch(name)
            if not m:
                continue
            link = os.path.join(self.dir, name)
            try:
                target = os.readlink(link)
                mtime = os.lstat(link).st_mtime
            except OSError:
                continue
            number = int(m.group(1))
            found.append(Generation(number, link, target, mtime, number == current))
        return sorted(found, key=lambda g: g.number)

    def current(self) -> Generation | None:
        return next((g for g in self.generations() if g.current), None)

    def list_generations_text(self) -> str:
        return format_generations(self.generations())

    # -- changing -------------------------------------------------------------

    def _locked(self) -> PathLocks:
        os.makedirs(self.dir, exist_ok=True)
        locks = PathLocks()
        locks.lock([self.path])
        self._clean_temporaries()
        return locks

    def create_generation(self, store_path: str) -> Generation:
        """Add a generation pointing at ``store_path`` (or reuse the newest one if it
        already points there) without switching to it."""
        with self._locked():
            return self._create(store_path)

    def set(self, store_path: str) -> tuple[int | None, int]:
        """Make ``store_path`` the current generation (``nix-env --set``, a switch);
        returns (previous number, new number)."""
        with self._locked():
            old = self.current_number()
            gen = self._create(store_path)
            self._switch_to(gen.number)
            return old, gen.number

    def switch_generation(self, number: int) -> tuple[int | None, int]:
        with self._locked():
            if not os.path.islink(self.link_path(number)):
                raise ProfileError(f"generation {number} does not exist")
            old = self.current_number()
            self._switch_to(number)
            return old, number

    def rollback(self) -> tuple[int | None, int]:
        """Switch to the newest generation older than the current one."""
        with self._locked():
            current = self.current_number()
            older = [
                g.number
                for g in self.generations()
                if current is not None and g.number < current
            ]
            if not older:
                raise ProfileError(
                    f"no generation older than the current ({current or 0}) exists"
                )
            self._switch_to(max(older))
            return current, max(older)

    def delete_generations(
        self, spec: DeleteSpec | Sequence[str], *, dry_run: bool = False, now: float | None = None
    ) -> list[int]:
        """Delete generations as ``--delete-generations`` does; returns their numbers."""
        if not isinstance(spec, DeleteSpec):
            spec = parse_delete_spec(list(spec))
        with self._locked():
            gens = self.generations()
            current = self.current_number()
            doomed = _select(spec, gens, current, time.time() if now is None else now)
            if spec.numbers is not None and current in spec.numbers:
                raise ProfileError(f"cannot delete current generation of profile '{self.path}'")
            if not dry_run:
                for number in doomed:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.link_path(number))
                _fsync_dir(self.dir)
            return doomed

    # -- internals --------------------------------------------------------------

    def _create(self, store_path: str) -> Generation:
        if self.store is not None:
            self.store.add_temp_root(store_path)
            if not self.store.is_valid_path(store_path):
                raise ProfileError(f"path '{store_path}' is not valid in the store")
        gens = self.generations()
        if gens and gens[-1].store_path == store_path:
            return gens[-1]
        number = gens[-1].number + 1 if gens else 1
        link = self.link_path(number)
        os.symlink(store_path, link)
        _fsync_dir(self.dir)
        if self.store is not None:
            self.store.add_indirect_root(link)
        return Generation(number, link, store_path, os.lstat(link).st_mtime)

    def _switch_to(self, number: int) -> None:
        target = os.path.basename(self.link_path(number))
        tmp = os.path.join(self.dir, f".{self.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        os.symlink(target, tmp)
        try:
            os.rename(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(self.dir)

    def _clean_temporaries(self) -> None:
        """Remove temporary links left by processes that died while switching."""
        prefix = f".{self.name}.tmp-"
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(self.dir):
                if not name.startswith(prefix):
                    continue
                pid = name[len(prefix) :].split("-", 1)[0]
                if pid.isdigit() and not _alive(int(pid)):
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(self.dir, name))


def _select(
    spec: DeleteSpec, gens: list[Generation], current: int | None, now: float
) -> list[int]:
    newest_first = sorted(gens, key=lambda g: -g.number)
    doomed: list[int] = []
    if spec.numbers is not None:
        doomed = [g.number for g in gens if g.number in spec.numbers]
    elif spec.old:
        doomed = [g.number for g in gens if g.number != current]
    elif spec.older_than_days is not None:
        cutoff = now - spec.older_than_days * _DAY
        deleting = False
        for g in newest_first:
            if deleting:
                if g.number != current:
                    doomed.append(g.number)
            elif g.time < cutoff:
                deleting = True  # this one was current at the cutoff: keep it
    elif spec.keep_last is not None:
        left = spec.keep_last
        past_current = False
        for g in newest_first:
            if g.number == current:
                past_current = True
                left -= 1
            elif past_current:
                if left > 0:
                    left -= 1
                else:
                    doomed.append(g.number)
    return sorted(doomed)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

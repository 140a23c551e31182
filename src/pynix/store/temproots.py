"""Temporary GC roots: what running pynix processes are using right now.

Each store object that adds a temporary root owns one file
``<state>/pynix/temproots/<pid>-<token>`` listing store paths (NUL
separated).  It holds a *shared* lock on that file for as long as it lives;
the lock disappears with the process, so a file nobody holds a lock on
belongs to a dead process and is ignored and removed by the collector.

The race with a concurrent collector is closed with two locks:

* Creating the file happens under a shared lock on the global GC lock
  (``<state>/pynix/gc.lock``).  The collector holds that lock exclusively
  while it runs, so a file appears either before the collector looks or
  after it has finished.
* Appending a root upgrades the file lock to exclusive (and downgrades it
  afterwards).  The collector takes a shared lock on every live file when it
  reads the roots and keeps it until it has finished deleting.  So a root
  added while a collection runs waits until that collection is over, and one
  added before it is seen by it.

Hence the rule for users of the store: add the temporary root *first*, then
check that the path is valid (or create it); the path then stays valid for
as long as the store object is open.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from dataclasses import dataclass, field

from .layout import StoreLayout
from .locks import acquire_lock_file, lock_fd, release_lock_file


class TempRoots:
    """The temporary roots file of one store object."""

    def __init__(self, layout: StoreLayout) -> None:
        self._layout = layout
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._file: str | None = None
        self._roots: set[str] = set()

    def add(self, path: str) -> None:
        with self._lock:
            if path in self._roots:
                return
            fd = self._fd if self._fd is not None else self._create()
            lock_fd(fd, "exclusive")  # waits while a collector holds a shared lock
            try:
                data = path.encode("utf-8", "surrogateescape") + b"\0"
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                lock_fd(fd, "shared")
            self._roots.add(path)

    def _create(self) -> int:
        gc_fd = acquire_lock_file(self._layout.gc_lock_path, "shared")
        assert gc_fd is not None
        try:
            while True:
                name = f"{os.getpid()}-{secrets.token_hex(4)}"
                file = os.path.join(self._layout.temproots_dir, name)
                try:
                    fd = os.open(
                        file,
                        os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC,
                        0o644,
                    )
                except FileExistsError:
                    continue
                lock_fd(fd, "shared")
                break
        finally:
            release_lock_file(gc_fd)
        self._fd, self._file = fd, file
        return fd

    @property
    def roots(self) -> frozenset[str]:
        return frozenset(self._roots)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                assert self._file is not None
                with contextlib.suppress(OSError):
                    os.unlink(self._file)
                os.close(self._fd)
            self._fd = self._file = None
            self._roots.clear()


def _owner(name: str) -> str:
    return "{temp:" + name.split("-", 1)[0] + "}"


def _parse(data: bytes) -> set[str]:
    return {p.decode("utf-8", "surrogateescape") for p in data.split(b"\0") if p}


def _read_all(fd: int) -> bytes:
    chunks = []
    offset = 0
    while chunk := os.pread(fd, 1 << 16, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


@dataclass
class HeldTempRoots:
    """Temporary roots as a collector sees them, with their files locked shared
    (so nobody can add a root) until :meth:`release`."""

    roots: dict[str, set[str]] = field(default_factory=dict)  # owner label -> paths
    _fds: list[int] = field(default_factory=list)

    def paths(self) -> set[str]:
        return set().union(*self.roots.values()) if self.roots else set()

    def release(self) -> None:
        fds, self._fds = self._fds, []
        for fd in fds:
            os.close(fd)


def read_temp_roots(layout: StoreLayout, *, hold: bool) -> HeldTempRoots:
    """Read every live process's temporary roots.

    With ``hold`` (the collector, which must hold the GC lock exclusively),
    files of dead processes are removed and the live ones stay locked shared
    until the result is released; without it this is a snapshot.
    """
    result = HeldTempRoots()
    try:
        names = sorted(os.listdir(layout.temproots_dir))
    except FileNotFoundError:
        return result
    for name in names:
        file = os.path.join(layout.temproots_dir, name)
        try:
            fd = os.open(file, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        keep = False
        try:
            if lock_fd(fd, "exclusive", wait=False):
                # Nobody holds it: its owner is gone.
                if hold:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(file)
                continue
            lock_fd(fd, "shared")  # waits for a root being written right now
            result.roots.setdefault(_owner(name), set()).update(_parse(_read_all(fd)))
            keep = hold
        finally:
            if keep:
                result._fds.append(fd)
            else:
                os.close(fd)
    return result

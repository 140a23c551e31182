"""File locks: open-file-description (OFD) byte-range locks and ``flock``.

Every lock here belongs to one *open file description*, not to the process:
two store objects in one process (or two threads) exclude each other just as
two processes do, and closing the descriptor (or the process dying) releases
the lock.  OFD locks are the Linux flavour of ``fcntl`` locks, so they also
conflict with the POSIX ``fcntl`` locks the real Nix takes on the same
``<path>.lock`` files: pynix and Nix never write one store path at once.

Lock files that are deleted while held are unlinked and then marked (one
byte ``d``, as Nix does), so a process that opened the old file before the
unlink notices it after acquiring its lock and retries with a fresh file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import struct
from collections.abc import Iterable, Iterator
from typing import Final, Literal

LockKind = Literal["shared", "exclusive", "unlock"]

_OFD_SETLK: Final = getattr(fcntl, "F_OFD_SETLK", None)
_OFD_SETLKW: Final = getattr(fcntl, "F_OFD_SETLKW", None)
_TYPES: Final = {"shared": fcntl.F_RDLCK, "exclusive": fcntl.F_WRLCK, "unlock": fcntl.F_UNLCK}
_FLOCK_OPS: Final = {"shared": fcntl.LOCK_SH, "exclusive": fcntl.LOCK_EX, "unlock": fcntl.LOCK_UN}
# struct flock on Linux: short type, short whence, off_t start, off_t len,
# pid_t pid (must be 0 for OFD locks), padded to 32 bytes.
_FLOCK_STRUCT: Final = struct.Struct("hhqqi4x")
_STALE_MARK: Final = b"d"


def lock_fd(fd: int, kind: LockKind, *, wait: bool = True) -> bool:
    """Take (or with ``"unlock"`` release) a whole-file lock on ``fd``.

    Returns False if ``wait`` is off and another description holds a
    conflicting lock.  ``fd`` must be open for writing for an exclusive lock.
    """
    if _OFD_SETLK is None or _OFD_SETLKW is None:  # pragma: no cover - not Linux
        op = _FLOCK_OPS[kind] | (0 if wait or kind == "unlock" else fcntl.LOCK_NB)
        return _retrying_lock(lambda: fcntl.flock(fd, op))
    cmd = _OFD_SETLKW if wait else _OFD_SETLK
    arg = _FLOCK_STRUCT.pack(_TYPES[kind], os.SEEK_SET, 0, 0, 0)
    return _retrying_lock(lambda: fcntl.fcntl(fd, cmd, arg))


def flock_fd(fd: int, kind: LockKind, *, wait: bool = True) -> bool:
    """A ``flock`` lock: works on any descriptor (directories too)."""
    op = _FLOCK_OPS[kind] | (0 if wait or kind == "unlock" else fcntl.LOCK_NB)
    return _retrying_lock(lambda: fcntl.flock(fd, op))


def _retrying_lock(call: object) -> bool:
    assert callable(call)
    while True:
        try:
            call()
            return True
        except InterruptedError:
            continue
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise


def open_lock_file(path: str) -> int:
    """Open (creating) a lock file for reading and writing, close-on-exec."""
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _is_stale(fd: int, path: str) -> bool:
    """Whether the file behind ``fd`` is no longer the lock file at ``path``."""
    st = os.fstat(fd)
    if st.st_nlink == 0:
        return True
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return True
    if (current.st_dev, current.st_ino) != (st.st_dev, st.st_ino):
        return True
    if st.st_size != 0:
        # A deletion marker on a file that is still linked: its deleter died
        # between marking and unlinking (or wrote in the other order).  We hold
        # the lock, so the file is ours to reuse.
        os.ftruncate(fd, 0)
    return False


def acquire_lock_file(path: str, kind: LockKind = "exclusive", *, wait: bool = True) -> int | None:
    """Open and lock ``path``, retrying while it turns out to be stale.

    Returns the descriptor (close it, or :func:`release_lock_file`, to
    unlock), or None when ``wait`` is off and the lock is taken.
    """
    while True:
        fd = open_lock_file(path)
        try:
            if not lock_fd(fd, kind, wait=wait):
                os.close(fd)
                return None
            if not _is_stale(fd, path):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def release_lock_file(fd: int, path: str | None = None) -> None:
    """Unlock and close; with ``path``, delete the lock file first (marked stale)."""
    try:
        if path is not None:
            # Unlink first, then mark: a process waiting on this very file sees
            # the mark (or the link count) once it gets the lock and retries.
            with contextlib.suppress(OSError):
                os.unlink(path)
            with contextlib.suppress(OSError):
                os.write(fd, _STALE_MARK)
    finally:
        os.close(fd)


class PathLocks:
    """Exclusive locks on a set of lock files, taken in sorted order (no deadlock
    between two processes locking overlapping sets)."""

    def __init__(self) -> None:
        self._held: dict[str, int] = {}
        self.delete_on_release = True

    def lock(self, paths: Iterable[str], *, wait: bool = True) -> bool:
        """Lock every ``<p>.lock`` for ``p`` in ``paths``; all or nothing."""
        taken: list[str] = []
        for p in sorted(set(paths)):
            lock_path = p + ".lock"
            if lock_path in self._held:
                continue
            fd = acquire_lock_file(lock_path, wait=wait)
            if fd is None:
                for q in taken:
                    release_lock_file(self._held.pop(q))
                return False
            self._held[lock_path] = fd
            taken.append(lock_path)
        return True

    def release(self) -> None:
        held, self._held = self._held, {}
        for lock_path, fd in held.items():
            release_lock_file(fd, lock_path if self.delete_on_release else None)

    def __enter__(self) -> PathLocks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def locked_paths(paths: Iterable[str]) -> Iterator[PathLocks]:
    """``with locked_paths([real_path]) : ...`` holds ``<real_path>.lock``."""
    locks = PathLocks()
    locks.lock(paths)
    try:
        yield locks
    finally:
        locks.release()

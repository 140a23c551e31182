"""Per-output locks, so that no two builders ever produce the same path.

The lock of store path ``P`` is the store's: ``real(P).lock``, locked with the
store's lock primitive (:mod:`pynix.store.locks`: open-file-description
locks, which exclude other threads and processes alike, and the real Nix).
What this adds is waiting that can be given up: a build that is cancelled
while another process holds one of its outputs stops waiting.  Locks are
taken in sorted order, so two processes locking overlapping sets cannot
deadlock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Final

from ..store.locks import acquire_lock_file, release_lock_file

_POLL: Final = 0.05


class LockCancelled(Exception):
    """Waiting for a lock was given up because the build was cancelled."""


class OutputLocks:
    """Exclusive locks on store paths (given as real paths, without ``.lock``)."""

    def __init__(self) -> None:
        self._held: list[tuple[str, int]] = []

    def acquire(self, paths: Iterable[str], *, cancel: threading.Event | None = None) -> None:
        """Lock every path; blocks until all are held (or ``cancel`` is set)."""
        try:
            for path in sorted(set(paths)):
                lock_file = path + ".lock"
                while True:
                    fd = acquire_lock_file(lock_file, wait=False)
                    if fd is not None:
                        break
                    if cancel is not None and cancel.is_set():
                        raise LockCancelled(lock_file)
                    time.sleep(_POLL)
                self._held.append((lock_file, fd))
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Unlock, deleting the lock files (waiters notice and retry)."""
        held, self._held = self._held, []
        for lock_file, fd in reversed(held):
            release_lock_file(fd, lock_file)

    def __enter__(self) -> OutputLocks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

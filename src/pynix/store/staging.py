"""Staging areas: where contents are assembled before they get their store path.

A staging area is ``<store>/.pynix-tmp-<token>`` (the object being built: a
file, directory or symlink) next to its lock file ``.pynix-tmp-<token>.lock``,
locked by its creator for as long as it works on it.  Being inside the store
directory, a finished object reaches its path by one ``rename``.  Anything
named like this whose lock nobody holds is a leftover of a crashed process
and is removed by :func:`clean_stale_staging`.
"""

from __future__ import annotations

import os
import secrets

from .files import remove_tree
from .layout import STAGING_PREFIX, StoreLayout
from .locks import acquire_lock_file, release_lock_file

_LOCK_SUFFIX = ".lock"


class Staging:
    """One staging area; ``path`` does not exist until the owner creates it."""

    def __init__(self, layout: StoreLayout) -> None:
        while True:
            token = secrets.token_hex(8)
            self.path = os.path.join(layout.real_store_dir, STAGING_PREFIX + token)
            self.lock_path = self.path + _LOCK_SUFFIX
            if not os.path.lexists(self.lock_path):
                break
        fd = acquire_lock_file(self.lock_path)
        assert fd is not None
        self._fd: int | None = fd

    def discard(self) -> None:
        """Remove whatever is left of the staged object and the lock."""
        if self._fd is None:
            return
        try:
            remove_tree(self.path)
        finally:
            release_lock_file(self._fd, self.lock_path)
            self._fd = None

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


def clean_stale_staging(layout: StoreLayout) -> list[str]:
    """Remove staging areas of dead processes and lock files nobody holds;
    returns the staging areas removed."""
    removed: list[str] = []
    try:
        names = os.listdir(layout.real_store_dir)
    except FileNotFoundError:
        return removed
    for name in names:
        if name.endswith(_LOCK_SUFFIX) and not name.startswith(STAGING_PREFIX):
            lock_path = os.path.join(layout.real_store_dir, name)
            fd = acquire_lock_file(lock_path, wait=False)
            if fd is not None:
                release_lock_file(fd, lock_path)
    tokens = {
        n.removesuffix(_LOCK_SUFFIX)
        for n in names
        if n.startswith(STAGING_PREFIX)
    }
    for token in sorted(tokens):
        path = os.path.join(layout.real_store_dir, token)
        fd = acquire_lock_file(path + _LOCK_SUFFIX, wait=False)
        if fd is None:
            continue  # its owner is still at work
        try:
            if os.path.lexists(path):
                try:
                    remove_tree(path)
                except FileNotFoundError:
                    pass
                except OSError:
                    # A builder of the dead owner can outlive it for a moment
                    # (its sandbox dies with it, but not at once) and still
                    # write here; what is left goes at the next recovery.
                    continue
                removed.append(path)
        finally:
            release_lock_file(fd, path + _LOCK_SUFFIX)
    return removed

"""File-system chores of a store: canonical metadata, durability, removal.

Canonical form (spec 7.2): mtime 1, mode 0444 for files, 0555 for executable
files and directories, no setuid/setgid/sticky bits, no extended attributes;
owned by the store's owner when we are allowed to change ownership (root).
Symlinks keep their (meaningless) mode but get mtime 1 too.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import stat
from collections.abc import Iterator
from typing import Final

CANONICAL_MTIME: Final = 1
_IS_ROOT: Final = os.geteuid() == 0


def _walk_bottom_up(path: str) -> Iterator[tuple[str, os.stat_result]]:
    """Every object under (and including) ``path``, children before their directory."""
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        # A directory we cannot read (mode 0 from a NAR restore never happens,
        # but a build could leave one) is made readable first.
        if not st.st_mode & stat.S_IRUSR or not st.st_mode & stat.S_IXUSR:
            os.chmod(path, st.st_mode | stat.S_IRWXU)
        with os.scandir(path) as it:
            names = [e.name for e in it]
        for name in names:
            yield from _walk_bottom_up(os.path.join(path, name))
    yield path, st


def canonical_mode(st: os.stat_result) -> int | None:
    """The mode a store object must have, None for symlinks."""
    if stat.S_ISLNK(st.st_mode):
        return None
    if stat.S_ISDIR(st.st_mode) or st.st_mode & stat.S_IXUSR:
        return 0o555
    return 0o444


def canonicalise(path: str) -> int:
    """Give ``path`` and everything under it the canonical store metadata;
    returns the number of objects.

    Raises :class:`OSError` for objects that cannot be in the store (devices,
    sockets, fifos).
    """
    euid, egid = os.geteuid(), os.getegid()
    count = 0
    for p, st in _walk_bottom_up(path):
        count += 1
        kind = stat.S_IFMT(st.st_mode)
        if kind not in (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK):
            raise OSError(f"file '{p}' has an unsupported type")
        _strip_xattrs(p)
        if _IS_ROOT and (st.st_uid != euid or st.st_gid != egid):
            os.lchown(p, euid, egid)
        mode = canonical_mode(st)
        if mode is not None and stat.S_IMODE(st.st_mode) != mode:
            os.chmod(p, mode)
        if st.st_mtime != CANONICAL_MTIME:
            os.utime(p, (CANONICAL_MTIME, CANONICAL_MTIME), follow_symlinks=False)
    return count


def _strip_xattrs(path: str) -> None:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return
    for name in names:
        if name.startswith("security.selinux"):
            continue
        with contextlib.suppress(OSError):
            os.removexattr(path, name, follow_symlinks=False)


def is_canonical(path: str) -> bool:
    for _p, st in _walk_bottom_up(path):
        mode = canonical_mode(st)
        if mode is not None and stat.S_IMODE(st.st_mode) != mode:
            return False
        if st.st_mtime != CANONICAL_MTIME:
            return False
    return True


# Above this many objects one syncfs() of the store's file system is much
# cheaper than an fsync() per file (one journal commit instead of many).
SYNCFS_THRESHOLD: Final = 16
_libc = ctypes.CDLL(None, use_errno=True)


def make_durable(path: str, objects: int) -> None:
    """Make sure a tree (of ``objects`` objects) is on disk."""
    if objects > SYNCFS_THRESHOLD and hasattr(_libc, "syncfs"):
        fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if _libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    fsync_tree(path)


def fsync_tree(path: str) -> None:
    """Flush the contents and the directory entries of a tree to disk."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return
    if stat.S_ISDIR(st.st_mode):
        with os.scandir(path) as it:
            names = [e.name for e in it]
        for name in names:
            fsync_tree(os.path.join(path, name))
    fsync_path(path)


def fsync_path(path: str) -> None:
    """fsync one file or directory (not following symlinks)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_writable(path: str) -> None:
    """Let us remove or change ``path`` (directories: add owner rwx)."""
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode) and (st.st_mode & 0o700) != 0o700:
        os.chmod(path, st.st_mode | 0o700)


def remove_tree(path: str) -> int:
    """Delete a file or tree even if read-only; returns the bytes freed.

    Only files whose last link goes count (optimised files linked from
    ``.links`` are freed when that last link goes).
    """
    freed = 0
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return 0
    if stat.S_ISDIR(st.st_mode):
        make_writable(path)
        with os.scandir(path) as it:
            names = [e.name for e in it]
        for name in names:
            freed += remove_tree(os.path.join(path, name))
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(path)
        return freed + st.st_size
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return st.st_size if st.st_nlink <= 1 else 0


def remove_tree_quietly(path: str) -> None:
    try:
        remove_tree(path)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)

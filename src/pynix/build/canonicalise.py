"""Normalising file metadata of build outputs (spec 7.2), and removing trees.

A canonical tree has mtime 1 everywhere, mode 0444 for plain files and 0555
for executables and directories, no setuid/setgid/sticky bits, no extended
attributes, and (when we can) the store owner's uid.  Only regular files,
directories and symlinks are allowed: anything else (devices, FIFOs, sockets)
is an error, since it could not be archived anyway.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Final

_MTIME: Final = 1


class CanonicaliseError(Exception):
    pass


def canonicalise_tree(path: str, *, keep_root_writable: bool = False) -> None:
    """Canonicalise ``path`` and everything below it, without following symlinks.

    ``keep_root_writable`` leaves the owner-write bit on a top directory, so
    that it can still be renamed by an unprivileged user; call
    :func:`canonicalise_root` after moving it.
    """
    uid = os.geteuid()
    # Post-order: a directory becomes read-only after its children are done.
    stack: list[tuple[str, bool]] = [(path, False)]
    while stack:
        current, visited = stack.pop()
        st = os.lstat(current)
        if stat.S_ISDIR(st.st_mode) and not visited:
            if not st.st_mode & stat.S_IWUSR or not st.st_mode & stat.S_IXUSR:
                os.chmod(current, 0o700)  # the builder may have locked us out
            stack.append((current, True))
            with os.scandir(current) as entries:
                stack.extend((os.path.join(current, e.name), False) for e in entries)
            continue
        _canonicalise_one(current, st, uid, keep_root_writable and current == path)


def canonicalise_root(path: str) -> None:
    """Finish a tree canonicalised with ``keep_root_writable`` (after a rename)."""
    _canonicalise_one(path, os.lstat(path), os.geteuid(), False)


def _canonicalise_one(path: str, st: os.stat_result, uid: int, writable: bool) -> None:
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        if uid == 0 and st.st_uid != 0:
            os.lchown(path, 0, -1)
        os.utime(path, (_MTIME, _MTIME), follow_symlinks=False)
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise CanonicaliseError(f"file '{path}' has an unsupported type")
    _drop_xattrs(path)
    if uid == 0 and (st.st_uid != 0 or st.st_gid != 0):
        os.chown(path, 0, 0, follow_symlinks=False)
    executable = stat.S_ISDIR(mode) or bool(mode & stat.S_IXUSR)
    new_mode = 0o555 if executable else 0o444
    if writable:
        new_mode |= 0o200
    # chmod also clears setuid/setgid/sticky: they are not in new_mode.
    if stat.S_IMODE(mode) != new_mode:
        os.chmod(path, new_mode)
    if st.st_mtime != _MTIME or st.st_atime != _MTIME:
        os.utime(path, (_MTIME, _MTIME))


def _drop_xattrs(path: str) -> None:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.ENOSYS):
            return
        raise
    for name in names:
        # security.selinux labels are managed by the system, not by builders.
        if name == "security.selinux":
            continue
        os.removexattr(path, name, follow_symlinks=False)


def make_writable_tree(path: str) -> None:
    """Give the owner write access to every directory below ``path``."""
    for root, dirs, _files in os.walk(path):
        for d in dirs:
            full = os.path.join(root, d)
            st = os.lstat(full)
            if stat.S_ISDIR(st.st_mode) and (st.st_mode & 0o700) != 0o700:
                os.chmod(full, stat.S_IMODE(st.st_mode) | 0o700)


def remove_tree(path: str) -> None:
    """Delete a file or tree, even one made read-only (store paths are)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    if (st.st_mode & 0o700) != 0o700:
        os.chmod(path, stat.S_IMODE(st.st_mode) | 0o700)
    make_writable_tree(path)
    for root, dirs, files in os.walk(path, topdown=False):
        for f in files:
            os.unlink(os.path.join(root, f))
        for d in dirs:
            full = os.path.join(root, d)
            if os.path.islink(full):
                os.unlink(full)
            else:
                os.rmdir(full)
    os.rmdir(path)

"""Hard-linking identical files (``nix-store --optimise``).

Every regular file of every valid path is hashed (sha256 of its NAR, which
covers the executable bit, so files of different modes never share an
inode); ``<store>/.links/<nix32 hash>`` holds one link to the first copy and
every other copy is replaced by a hard link to it: a new link is made under
a temporary name and renamed over the file, so the file is never missing.
The directory holding the file is made writable for the rename and gets its
mode and mtime back afterwards.  While it is being changed its name is kept
in a journal file (``<state>/pynix/optimise-<token>``, locked by the running
optimiser), so that :func:`recover_interrupted` can give a directory left
half-changed by a crash its canonical mode and mtime back.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from typing import TYPE_CHECKING

from ..compat.nar import NarError, nar_hash
from .files import CANONICAL_MTIME
from .layout import StoreLayout
from .locks import lock_fd
from .staging import Staging

_JOURNAL_PREFIX = "optimise-"

if TYPE_CHECKING:
    from .local import LocalStore


def optimise_store(store: LocalStore) -> tuple[int, int]:
    """(files replaced by links, bytes saved)."""
    linked = saved = 0
    seen: set[tuple[int, int]] = set()  # inodes already known to be in .links
    links_dir = store.layout.links_dir
    os.makedirs(links_dir, exist_ok=True)
    journal = _Journal(store.layout)
    try:
        with Staging(store.layout) as staging:
            for path in sorted(store.query_all_valid_paths()):
                real = store.real_path(path)
                for file in _regular_files(real):
                    try:
                        result = _optimise_file(file, links_dir, staging.path, seen, real, journal)
                    except (OSError, NarError):
                        continue  # deleted meanwhile, or a link limit: leave it
                    if result is not None:
                        linked += 1
                        saved += result
    finally:
        journal.close()
    return linked, saved


class _Journal:
    """Names the directory being changed right now."""

    def __init__(self, layout: StoreLayout) -> None:
        while True:
            self.file = os.path.join(
                layout.pynix_dir, f"{_JOURNAL_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
            )
            self.fd = os.open(self.file, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            lock_fd(self.fd, "exclusive")
            if os.fstat(self.fd).st_nlink:  # not removed by a recovery before we locked it
                break
            os.close(self.fd)

    def note(self, directory: str) -> None:
        data = os.fsencode(directory)
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.file)
        os.close(self.fd)


def recover_interrupted(layout: StoreLayout) -> list[str]:
    """Give directories an interrupted optimiser was changing their canonical
    metadata back; returns them."""
    fixed: list[str] = []
    try:
        names = [n for n in os.listdir(layout.pynix_dir) if n.startswith(_JOURNAL_PREFIX)]
    except FileNotFoundError:
        return fixed
    for name in names:
        file = os.path.join(layout.pynix_dir, name)
        try:
            fd = os.open(file, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            if not lock_fd(fd, "exclusive", wait=False):
                continue  # its optimiser is still running
            directory = os.fsdecode(os.pread(fd, 1 << 16, 0))
            if directory.startswith(layout.real_store_dir + "/") and os.path.isdir(directory):
                os.chmod(directory, 0o555)
                os.utime(directory, (CANONICAL_MTIME, CANONICAL_MTIME))
                fixed.append(directory)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(file)
        finally:
            os.close(fd)
    return fixed


def _regular_files(top: str) -> list[str]:
    files: list[str] = []
    try:
        st = os.lstat(top)
    except FileNotFoundError:
        return files
    if stat.S_ISREG(st.st_mode):
        return [top]
    if stat.S_ISDIR(st.st_mode):
        for dirpath, _dirs, names in os.walk(top):
            for name in sorted(names):
                p = os.path.join(dirpath, name)
                with contextlib.suppress(FileNotFoundError):
                    if stat.S_ISREG(os.lstat(p).st_mode):
                        files.append(p)
    return files


def _optimise_file(
    file: str,
    links_dir: str,
    tmp: str,
    seen: set[tuple[int, int]],
    top: str,
    journal: _Journal,
) -> int | None:
    st = os.lstat(file)
    if (st.st_dev, st.st_ino) in seen:
        return None
    link = os.path.join(links_dir, nar_hash(file).to_nix32())
    try:
        os.link(file, link)
        seen.add((st.st_dev, st.st_ino))
        return None  # the first copy
    except FileExistsError:
        pass
    lst = os.lstat(link)
    if (lst.st_dev, lst.st_ino) == (st.st_dev, st.st_ino):
        seen.add((st.st_dev, st.st_ino))
        return None
    if stat.S_IMODE(lst.st_mode) != stat.S_IMODE(st.st_mode) or lst.st_uid != st.st_uid:
        return None
    if nar_hash(link).to_nix32() != os.path.basename(link):
        # The shared copy was damaged (through another of its links): let this
        # good file take its place instead of spreading the damage.
        os.link(file, tmp)
        os.rename(tmp, link)
        seen.add((st.st_dev, st.st_ino))
        return None
    try:
        os.link(link, tmp)
    except OSError as e:
        if e.errno == errno.EMLINK:
            return None
        raise
    parent = os.path.dirname(file)
    inside = file != top  # the store directory itself is never touched
    pst = os.lstat(parent)
    if inside:
        journal.note(parent)
    try:
        if inside and not os.access(parent, os.W_OK):
            os.chmod(parent, stat.S_IMODE(pst.st_mode) | stat.S_IWUSR)
        os.rename(tmp, file)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if inside:
            os.chmod(parent, stat.S_IMODE(pst.st_mode))
            os.utime(parent, (CANONICAL_MTIME, CANONICAL_MTIME))
    seen.add((lst.st_dev, lst.st_ino))
    return st.st_size if st.st_nlink == 1 else 0

"""Reading NARs: a streaming event parser, a tree parser, restoring to disk.

NARs arrive from binary caches and other machines, so the parser treats its
input as hostile: it accepts only the canonical grammar that
:mod:`pynix.compat.nar` writes (hence re-serialising any accepted archive gives
the same bytes), bounds every length before reading it, and raises
:class:`NarError` for anything else.  Memory use does not depend on file sizes:
contents are handed out in chunks.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final, Protocol

from .hashing import BytesLike, FsPath
from .nar import (
    MAGIC,
    MAX_DEPTH,
    NarDirectory,
    NarError,
    NarNode,
    NarRegular,
    NarSymlink,
    is_valid_entry_name,
)

MAX_NAME_LEN: Final = 255  # NAME_MAX: longer names cannot exist on disk anyway
MAX_TARGET_LEN: Final = 4095  # PATH_MAX without its NUL
MAX_CONTENTS_LEN: Final = (1 << 63) - 1
_MAX_WORD_LEN: Final = 16  # longest grammar word is "nix-archive-1"
_CHUNK: Final = 1 << 20
_U64: Final = struct.Struct("<Q")


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


NarSource = BytesLike | Readable

Path = tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class DirectoryEvent:
    path: Path


@dataclass(frozen=True, slots=True)
class SymlinkEvent:
    path: Path
    target: bytes


@dataclass(frozen=True, slots=True)
class RegularEvent:
    """A regular file; its contents follow in ``chunks``.

    Consume ``chunks`` before asking for the next event; what is left unread is
    skipped.
    """

    path: Path
    executable: bool
    size: int
    chunks: Iterator[bytes] = field(compare=False, repr=False)


NarEvent = DirectoryEvent | SymlinkEvent | RegularEvent


class _Reader:
    """Exact-size reads with bounds checks; never reads past what it is asked for.

    Not over-reading lets a NAR be parsed out of a longer stream (a protocol
    connection) and leaves the stream positioned right after it.
    """

    def __init__(self, source: NarSource) -> None:
        self._read: Callable[[int], bytes]
        if isinstance(source, bytes | bytearray | memoryview):
            self._total: int | None = len(memoryview(source).cast("B"))
            self._read = io.BytesIO(source).read
        else:
            self._total = None
            self._read = source.read
        self.offset = 0

    def fail(self, message: str, at: int | None = None) -> NarError:
        return NarError(f"{message} (at byte {self.offset if at is None else at} of the NAR)")

    def exact(self, n: int) -> bytes:
        data = self._read(n)
        if len(data) != n:
            parts = [data]
            got = len(data)
            while got < n:
                more = self._read(n - got)
                if not more:
                    raise self.fail("NAR is truncated", self.offset + got)
                parts.append(more)
                got += len(more)
            data = b"".join(parts)
        self.offset += n
        return data

    def u64(self) -> int:
        value: int = _U64.unpack(self.exact(8))[0]
        return value

    def padding(self, length: int) -> None:
        pad = -length % 8
        if pad and self.exact(pad) != bytes(pad):
            raise self.fail("NAR has non-zero padding", self.offset - pad)

    def check_length(self, length: int, limit: int, what: str) -> None:
        if length > limit:
            raise self.fail(f"{what} length {length} exceeds the limit of {limit} bytes")
        if self._total is not None and length > self._total - self.offset:
            raise self.fail(
                f"{what} length {length} exceeds the {self._total - self.offset} bytes left"
            )

    def string(self, limit: int, what: str) -> bytes:
        length = self.u64()
        self.check_length(length, limit, what)
        data = self.exact(length)
        self.padding(length)
        return data

    def word(self, *expected: bytes) -> bytes:
        """Read one grammar word, which must be one of ``expected``."""
        start = self.offset
        length = self.u64()
        if length > _MAX_WORD_LEN:
            raise self.fail(f"{_expected(expected)}, found a {length}-byte string", start)
        data = self.exact(length)
        self.padding(length)
        if data not in expected:
            raise self.fail(f"{_expected(expected)}, found {_show(data)}", start)
        return data

    def chunks(self, size: int) -> Iterator[bytes]:
        left = size
        while left:
            chunk = self.exact(min(left, _CHUNK))
            left -= len(chunk)
            yield chunk

    def at_end(self) -> bool:
        return not self._read(1)


def _expected(words: tuple[bytes, ...]) -> str:
    return "expected " + " or ".join(_show(w) for w in words)


def _show(word: bytes) -> str:
    return "'" + word.decode("ascii", "backslashreplace") + "'"


def iter_nar_events(source: NarSource, *, trailing_ok: bool = False) -> Iterator[NarEvent]:
    """Parse a NAR into events in archive order (parents before children).

    ``source`` is bytes or a binary stream.  With ``trailing_ok`` the stream is
    left right after the archive; otherwise data after it is an error.
    """
    r = _Reader(source)
    r.word(MAGIC)
    # One frame per open directory: its path and the last entry name seen.
    stack: list[tuple[Path, bytes | None]] = []
    path: Path | None = ()
    while path is not None:
        r.word(b"(")
        r.word(b"type")
        kind = r.word(b"regular", b"symlink", b"directory")
        node_closed = True
        if kind == b"regular":
            executable = r.word(b"executable", b"contents") == b"executable"
            if executable:
                r.word(b"")
                r.word(b"contents")
            size = r.u64()
            r.check_length(size, MAX_CONTENTS_LEN, "file contents")
            end = r.offset + size
            chunks = r.chunks(size)
            yield RegularEvent(path, executable, size, chunks)
            for _ in chunks:
                pass
            if r.offset != end:
                raise r.fail("file contents were not fully read")
            r.padding(size)
            r.word(b")")
        elif kind == b"symlink":
            r.word(b"target")
            target = r.string(MAX_TARGET_LEN, "symlink target")
            if not target or b"\0" in target:
                raise r.fail(f"invalid symlink target {target!r}")
            r.word(b")")
            yield SymlinkEvent(path, target)
        else:
            yield DirectoryEvent(path)
            stack.append((path, None))
            node_closed = False

        path = None
        while stack:
            if node_closed:
                r.word(b")")  # closes the entry of the node just finished
            parent, previous = stack[-1]
            if r.word(b"entry", b")") == b")":
                stack.pop()
                node_closed = True
                continue
            r.word(b"(")
            r.word(b"name")
            name_at = r.offset
            name = r.string(MAX_NAME_LEN, "file name")
            if not is_valid_entry_name(name):
                raise r.fail(f"invalid file name {name!r}", name_at)
            if previous is not None and name <= previous:
                problem = "duplicate" if name == previous else "unsorted"
                raise r.fail(f"{problem} directory entry {name!r}", name_at)
            if len(parent) >= MAX_DEPTH:
                raise r.fail(f"NAR nests directories deeper than {MAX_DEPTH} levels", name_at)
            stack[-1] = (parent, name)
            r.word(b"node")
            path = (*parent, name)
            break
    if not trailing_ok and not r.at_end():
        raise r.fail("trailing data after the NAR")


def parse_nar(source: NarSource) -> NarNode:
    """Parse a whole NAR into an in-memory tree (contents held in memory)."""
    root: NarNode | None = None
    directories: dict[Path, dict[bytes, NarNode]] = {}
    for event in iter_nar_events(source):
        node: NarNode
        if isinstance(event, RegularEvent):
            node = NarRegular(b"".join(event.chunks), event.executable)
        elif isinstance(event, SymlinkEvent):
            node = NarSymlink(event.target)
        else:
            node = NarDirectory({})
            directories[event.path] = node.entries
        if event.path:
            directories[event.path[:-1]][event.path[-1]] = node
        else:
            root = node
    assert root is not None
    return root


def restore_nar(source: NarSource, target: FsPath, *, trailing_ok: bool = False) -> None:
    """Recreate the archived object at ``target``, which must not exist yet.

    Everything is created relative to directory descriptors opened by this
    function, with O_EXCL and O_NOFOLLOW, so nothing can be written outside
    ``target``.  On any error the partial result is removed.
    """
    target_path = os.path.abspath(os.fsencode(target))
    parent, base = os.path.split(target_path)
    if os.path.lexists(target_path):
        raise FileExistsError(f"cannot restore NAR: '{os.fsdecode(target_path)}' already exists")
    parent_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    # dir_fds[d] is the directory that holds objects at depth d (0 = target).
    dir_fds = [parent_fd]
    created = False
    try:
        for event in iter_nar_events(source, trailing_ok=trailing_ok):
            depth = len(event.path)
            while len(dir_fds) > depth + 1:
                os.close(dir_fds.pop())
            where = dir_fds[depth]
            name = event.path[-1] if event.path else base
            # from here on something may exist at the target (a regular file is
            # created before its contents arrive): an error must remove it
            created = True
            if isinstance(event, DirectoryEvent):
                os.mkdir(name, 0o777, dir_fd=where)
                flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
                dir_fds.append(os.open(name, flags, dir_fd=where))
            elif isinstance(event, SymlinkEvent):
                os.symlink(event.target, name, dir_fd=where)
            else:
                _restore_regular(event, name, where)
    except FileExistsError:
        # only the target itself can clash (the reader rejects duplicate
        # entries): someone else made it after our check; it is not ours
        raise
    except BaseException:
        if created:
            _remove_partial(target_path)
        raise
    finally:
        for fd in dir_fds:
            os.close(fd)


def _restore_regular(event: RegularEvent, name: bytes, dir_fd: int) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, 0o666, dir_fd=dir_fd)
    try:
        for chunk in event.chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        if event.executable:
            # The owner always gets execute; others where the umask let them read.
            mode = os.fstat(fd).st_mode & 0o777
            os.fchmod(fd, mode | 0o100 | (mode & 0o044) >> 2)
    finally:
        os.close(fd)


def _remove_partial(path: bytes) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)

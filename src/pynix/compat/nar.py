"""NAR (Nix ARchive) serialisation: the format, an in-memory model, writing.

A NAR is a sequence of length-prefixed, zero-padded strings describing one
file-system object: a regular file (contents and the executable bit), a
symlink (its target) or a directory (entries sorted by raw name bytes).  No
other metadata is kept, so the same tree always gives the same bytes; that is
what NAR hashes and store paths rely on.

Reading and restoring NARs lives in :mod:`pynix.compat.nar_reader`.
"""

from __future__ import annotations

import io
import os
import queue
import stat
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final, Protocol

from .hashing import BytesLike, FsPath, Hash, HashAlgo, HashWriter

MAGIC: Final = b"nix-archive-1"
# Deepest directory nesting accepted when reading: real trees never come near
# it, while hostile archives use depth to exhaust file descriptors and memory.
MAX_DEPTH: Final = 256

_READ_CHUNK: Final = 1 << 20
# Pieces of the archive that are not the contents of a large file are gathered
# up to about this size; files up to _SMALL_FILE are read whole into them.
_FLUSH_AT: Final = 1 << 16
_SMALL_FILE: Final = 1 << 14
# The read-ahead thread hands over fewer, larger pieces: each hand-over costs
# two thread switches (measured on 2 cores: 1 MiB / 256 KiB hash a 1 GiB tree
# in 0.8 s, 64 KiB / 16 KiB in 1.5 s).
_PIPE_FLUSH_AT: Final = 1 << 20
_PIPE_SMALL_FILE: Final = 1 << 18
_U64: Final = struct.Struct("<Q")


class NarError(ValueError):
    """A NAR that is malformed, hostile, or a tree that cannot be archived."""


class Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


# -- the in-memory model -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NarRegular:
    contents: bytes = b""
    executable: bool = False


@dataclass(frozen=True, slots=True)
class NarSymlink:
    target: bytes


@dataclass(frozen=True, slots=True)
class NarDirectory:
    entries: dict[bytes, NarNode] = field(default_factory=dict)


NarNode = NarRegular | NarSymlink | NarDirectory


# -- primitives ----------------------------------------------------------------


def padding(length: int) -> bytes:
    """Zero bytes that pad a string of ``length`` bytes to a multiple of 8."""
    return bytes(-length % 8)


def nar_string(data: bytes) -> bytes:
    """One NAR token: little-endian u64 length, the bytes, zero padding."""
    return _U64.pack(len(data)) + data + padding(len(data))


def is_valid_entry_name(name: bytes) -> bool:
    return name not in (b"", b".", b"..") and b"/" not in name and b"\0" not in name


def _tokens(*words: bytes) -> bytes:
    return b"".join(nar_string(w) for w in words)


_MAGIC_TOKEN: Final = nar_string(MAGIC)
_OPEN_REGULAR: Final = _tokens(b"(", b"type", b"regular")
_EXECUTABLE: Final = _tokens(b"executable", b"")
_OPEN_REGULAR_EXECUTABLE: Final = _OPEN_REGULAR + _EXECUTABLE
_CONTENTS: Final = nar_string(b"contents")
_OPEN_SYMLINK: Final = _tokens(b"(", b"type", b"symlink", b"target")
_OPEN_DIRECTORY: Final = _tokens(b"(", b"type", b"directory")
_OPEN_ENTRY: Final = _tokens(b"entry", b"(", b"name")
_NODE: Final = nar_string(b"node")
_CLOSE: Final = nar_string(b")")
# what ends a regular file of size n: its padding and the close, by n % 8
_END_REGULAR: Final = tuple(bytes(-n % 8) + _CLOSE for n in range(8))


# -- writing from the model --------------------------------------------------


def dump_tree(node: NarNode) -> bytes:
    """The NAR bytes of an in-memory tree."""
    out = bytearray(_MAGIC_TOKEN)
    _dump_node(node, out)
    return bytes(out)


def _dump_node(node: NarNode, out: bytearray) -> None:
    if isinstance(node, NarRegular):
        out += _OPEN_REGULAR
        if node.executable:
            out += _EXECUTABLE
        out += _CONTENTS + nar_string(node.contents) + _CLOSE
    elif isinstance(node, NarSymlink):
        out += _OPEN_SYMLINK + nar_string(node.target) + _CLOSE
    else:
        out += _OPEN_DIRECTORY
        for name in sorted(node.entries):
            if not is_valid_entry_name(name):
                raise NarError(f"invalid file name {name!r} in NAR tree")
            out += _OPEN_ENTRY + nar_string(name) + _NODE
            _dump_node(node.entries[name], out)
            out += _CLOSE
        out += _CLOSE


# -- writing from the file system ----------------------------------------------

PathFilter = Callable[[str], bool]


def iter_nar(path: FsPath, path_filter: PathFilter | None = None) -> Iterator[bytes]:
    """Yield the NAR of ``path`` in chunks, with memory bounded by the chunk size.

    Symlinks are archived, never followed.  ``path_filter`` is called with the
    full path of every entry below the root (never the root itself), in archive
    order; returning False leaves the entry (and its subtree) out.
    """
    for piece in _nar_pieces(path, path_filter, _Gather()):
        yield piece if type(piece) is bytes else bytes(piece)


def stream_nar(path: FsPath, path_filter: PathFilter | None = None) -> Iterator[BytesLike]:
    """The NAR of ``path`` as :func:`iter_nar` gives it, read ahead by a thread.

    A second thread walks the tree and reads the files straight into a few
    recycled buffers while the caller consumes (hashes, writes) the previous
    ones, so reading and consuming overlap and no memory is allocated per
    piece.  Each piece is a ``memoryview`` valid only until the next one is
    requested: consume it, or copy it, before iterating on.
    """
    stop = threading.Event()
    out = _Pooled(stop)
    ready: queue.Queue[object] = queue.Queue(maxsize=_PIPE_BUFFERS)

    def put(item: object) -> bool:
        """Hand ``item`` over, waiting for room; False once the consumer is gone."""
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for piece in _nar_pieces(path, path_filter, out):
                if not put(piece):
                    return
            put(_END)
        except _Stopped:
            pass
        except BaseException as e:  # handed to the consumer, raised there
            put(_Failed(e))

    worker = threading.Thread(target=produce, name="nar-reader", daemon=True)
    worker.start()
    try:
        while True:
            try:
                piece = ready.get(timeout=0.5)
            except queue.Empty:
                if worker.is_alive() or not ready.empty():
                    continue
                raise RuntimeError("the NAR reader thread ended without a result") from None
            if piece is _END:
                return
            if isinstance(piece, _Failed):
                raise piece.error
            assert isinstance(piece, memoryview)
            yield piece
            out.recycle(piece)
    finally:
        stop.set()
        worker.join()


# buffers in flight between the reader thread and the consumer
_PIPE_BUFFERS: Final = 4
_END: Final = object()


class _Stopped(Exception):
    """The consumer of :func:`stream_nar` went away: the reader stops."""


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Output:
    """Where :func:`_nar_pieces` puts the archive: tokens and small files are
    gathered (``add``, ``add_file``) and handed over by ``take`` once ``full``;
    the contents of larger files are read by ``contents``."""

    small_file: int

    def add(self, data: bytes) -> None:
        raise NotImplementedError

    def add_file(self, fd: int, size: int, name: bytes) -> None:
        raise NotImplementedError

    def full(self) -> bool:
        raise NotImplementedError

    def take(self) -> BytesLike:
        raise NotImplementedError

    def contents(self, fd: int, size: int, name: bytes) -> Iterator[BytesLike]:
        raise NotImplementedError


def _shrank(name: bytes) -> NarError:
    return NarError(f"file '{os.fsdecode(name)}' shrank while archiving")


class _Gather(_Output):
    """Fresh buffers: pieces that the consumer may keep."""

    small_file = _SMALL_FILE

    def __init__(self) -> None:
        self.pending = bytearray()

    def add(self, data: bytes) -> None:
        self.pending += data

    def add_file(self, fd: int, size: int, name: bytes) -> None:
        for chunk in self.contents(fd, size, name):
            self.pending += chunk

    def full(self) -> bool:
        return len(self.pending) >= _FLUSH_AT

    def take(self) -> BytesLike:
        piece, self.pending = self.pending, bytearray()
        return piece

    def contents(self, fd: int, size: int, name: bytes) -> Iterator[BytesLike]:
        left = size
        while left:
            chunk = os.read(fd, min(left, _READ_CHUNK))
            if not chunk:
                raise _shrank(name)
            left -= len(chunk)
            yield chunk


class _Pooled(_Output):
    """A few buffers of fixed size, filled in place (``readinto``) and handed
    back by the consumer with ``recycle``: no allocation per piece."""

    small_file = _PIPE_SMALL_FILE
    # room for a full piece, one more small file and the tokens added before
    # the next check (an entry, a symlink target, the closes of deep nesting)
    _SIZE = _PIPE_FLUSH_AT + _PIPE_SMALL_FILE + (1 << 16)

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        for _ in range(_PIPE_BUFFERS + 1):
            self.free.put(bytearray(self._SIZE))
        self.buf = self._get()
        self.view = memoryview(self.buf)
        self.pos = 0

    def _get(self) -> bytearray:
        while True:
            try:
                return self.free.get(timeout=0.05)
            except queue.Empty:
                if self.stop.is_set():
                    raise _Stopped from None

    def recycle(self, piece: memoryview) -> None:
        buf = piece.obj
        piece.release()
        assert isinstance(buf, bytearray)
        self.free.put(buf)

    def add(self, data: bytes) -> None:
        end = self.pos + len(data)
        if end > self._SIZE:
            raise NarError("an archive token is too long")  # names and targets are bounded
        self.view[self.pos:end] = data
        self.pos = end

    def _fill(self, view: memoryview, fd: int, name: bytes) -> None:
        reader = io.FileIO(fd, closefd=False)
        while view:
            n = reader.readinto(view)
            if not n:
                raise _shrank(name)
            view = view[n:]

    def add_file(self, fd: int, size: int, name: bytes) -> None:
        self._fill(self.view[self.pos:self.pos + size], fd, name)
        self.pos += size

    def full(self) -> bool:
        return self.pos >= _PIPE_FLUSH_AT

    def take(self) -> BytesLike:
        piece = self.view[:self.pos]
        self.view.release()
        self.buf = self._get()
        self.view = memoryview(self.buf)
        self.pos = 0
        return piece

    def contents(self, fd: int, size: int, name: bytes) -> Iterator[BytesLike]:
        left = size
        while left:
            n = min(left, _READ_CHUNK)
            buf = self._get()
            piece = memoryview(buf)[:n]
            self._fill(piece, fd, name)
            left -= n
            yield piece


def _nar_pieces(path: FsPath, path_filter: PathFilter | None,
                out: _Output) -> Iterator[BytesLike]:
    """The NAR of ``path`` as consecutive pieces from ``out``: the archive's
    tokens and the files up to ``out.small_file`` bytes gathered together, and
    the contents of larger files as ``out.contents`` reads them, so a hash can
    be fed without an intermediate copy.

    Directory entries are typed from ``scandir`` (no ``lstat`` per entry);
    regular files are opened without following symlinks and checked again
    with ``fstat``, so a file that changes type meanwhile is an error.
    """
    out.add(_MAGIC_TOKEN)
    # One frame per open directory: its path and an iterator over its entries.
    stack: list[tuple[bytes, Iterator[tuple[bytes, int]]]] = []
    root = os.fsencode(path)
    kind = stat.S_IFMT(os.lstat(root).st_mode)
    current: bytes | None = root
    while current is not None:
        node_closed = True
        if kind == stat.S_IFREG:
            fd = os.open(current, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise NarError(f"file '{os.fsdecode(current)}' changed type while archiving")
                size = st.st_size
                out.add(_OPEN_REGULAR_EXECUTABLE if st.st_mode & stat.S_IXUSR else _OPEN_REGULAR)
                out.add(_CONTENTS + _U64.pack(size))
                if size <= out.small_file:
                    out.add_file(fd, size, current)
                else:
                    yield out.take()
                    yield from out.contents(fd, size, current)
            finally:
                os.close(fd)
            out.add(_END_REGULAR[size & 7])
        elif kind == stat.S_IFLNK:
            out.add(_OPEN_SYMLINK + nar_string(os.readlink(current)) + _CLOSE)
        elif kind == stat.S_IFDIR:
            out.add(_OPEN_DIRECTORY)
            with os.scandir(current) as it:
                entries = sorted((e.name, _entry_kind(e)) for e in it)
            stack.append((current, iter(entries)))
            node_closed = False
        else:
            raise NarError(f"file '{os.fsdecode(current)}' has an unsupported type")

        current = None
        while stack:
            if out.full():
                yield out.take()
            if node_closed:
                out.add(_CLOSE)  # the entry that held the node just finished
            directory, names = stack[-1]
            for name, child_kind in names:
                child = directory + b"/" + name
                if path_filter is None or path_filter(os.fsdecode(child)):
                    out.add(_OPEN_ENTRY + nar_string(name) + _NODE)
                    current, kind = child, child_kind
                    break
            if current is not None:
                break
            stack.pop()
            out.add(_CLOSE)
            node_closed = True
    yield out.take()


def _entry_kind(entry: os.DirEntry[bytes]) -> int:
    """The file type of a directory entry (from d_type when the file system gives it)."""
    if entry.is_symlink():
        return stat.S_IFLNK
    if entry.is_dir(follow_symlinks=False):
        return stat.S_IFDIR
    if entry.is_file(follow_symlinks=False):
        return stat.S_IFREG
    return stat.S_IFMT(entry.stat(follow_symlinks=False).st_mode)


def write_nar(path: FsPath, sink: Sink, path_filter: PathFilter | None = None) -> int:
    """Write the NAR of ``path`` to ``sink``; return the number of bytes written."""
    total = 0
    for chunk in iter_nar(path, path_filter):
        sink.write(chunk)
        total += len(chunk)
    return total


def nar_hash_and_size(
    path: FsPath,
    algo: HashAlgo | str = "sha256",
    path_filter: PathFilter | None = None,
) -> tuple[Hash, int]:
    """Hash of the NAR of ``path`` and the NAR's size, streaming."""
    writer = HashWriter(algo)
    for piece in stream_nar(path, path_filter):
        writer.write(piece)
    return writer.finish(), writer.size


def nar_hash(
    path: FsPath,
    algo: HashAlgo | str = "sha256",
    path_filter: PathFilter | None = None,
) -> Hash:
    """Hash of the NAR of ``path`` (``nix-hash --type <algo> path``)."""
    return nar_hash_and_size(path, algo, path_filter)[0]


def nar_of_bytes(contents: BytesLike, executable: bool = False) -> bytes:
    """The NAR of a single regular file with ``contents``."""
    return dump_tree(NarRegular(bytes(contents), executable))

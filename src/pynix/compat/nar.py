"""NAR (Nix ARchive) serialisation: the format, an in-memory model, writing.

A NAR is a sequence of length-prefixed, zero-padded strings describing one
file-system object: a regular file (contents and the executable bit), a
symlink (its target) or a directory (entries sorted by raw name bytes).  No
other metadata is kept, so the same tree always gives the same bytes; that is
what NAR hashes and store paths rely on.

Reading and restoring NARs lives in :mod:`pynix.compat.nar_reader`.
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Final, Protocol

from .hashing import BytesLike, FsPath, Hash, HashAlgo, HashWriter

MAGIC: Final = b"nix-archive-1"
# Deepest directory nesting accepted when reading: real trees never come near
# it, while hostile archives use depth to exhaust file descriptors and memory.
MAX_DEPTH: Final = 256

_READ_CHUNK: Final = 1 << 20
_FLUSH_AT: Final = 1 << 16
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
_CONTENTS: Final = nar_string(b"contents")
_OPEN_SYMLINK: Final = _tokens(b"(", b"type", b"symlink", b"target")
_OPEN_DIRECTORY: Final = _tokens(b"(", b"type", b"directory")
_OPEN_ENTRY: Final = _tokens(b"entry", b"(", b"name")
_NODE: Final = nar_string(b"node")
_CLOSE: Final = nar_string(b")")


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
    buf = bytearray()
    for piece in _nar_pieces(path, path_filter):
        if len(piece) >= _FLUSH_AT:
            if buf:
                yield bytes(buf)
                buf.clear()
            yield piece
        else:
            buf += piece
            if len(buf) >= _FLUSH_AT:
                yield bytes(buf)
                buf.clear()
    if buf:
        yield bytes(buf)


def _nar_pieces(path: FsPath, path_filter: PathFilter | None) -> Iterator[bytes]:
    """The NAR of ``path`` as consecutive pieces: the tokens between file
    contents joined together, and the contents as read (never copied), so a
    hash can be fed without an intermediate buffer.

    Directory entries are typed from ``scandir`` (no ``lstat`` per entry);
    regular files are opened without following symlinks and checked again
    with ``fstat``, so a file that changes type meanwhile is an error.
    """
    pending = _MAGIC_TOKEN
    # One frame per open directory: its path and an iterator over its entries.
    stack: list[tuple[bytes, Iterator[tuple[bytes, int]]]] = []
    root = os.fsencode(path)
    kind = stat.S_IFMT(os.lstat(root).st_mode)
    current: bytes | None = root
    while current is not None:
        node_closed = True
        if kind == stat.S_IFREG:
            pending = yield from _regular_pieces(current, pending)
        elif kind == stat.S_IFLNK:
            pending += _OPEN_SYMLINK + nar_string(os.readlink(current)) + _CLOSE
        elif kind == stat.S_IFDIR:
            pending += _OPEN_DIRECTORY
            with os.scandir(current) as it:
                entries = sorted((e.name, _entry_kind(e)) for e in it)
            stack.append((current, iter(entries)))
            node_closed = False
        else:
            raise NarError(f"file '{os.fsdecode(current)}' has an unsupported type")

        current = None
        while stack:
            if node_closed:
                pending += _CLOSE  # the entry that held the node just finished
            directory, names = stack[-1]
            for name, child_kind in names:
                child = directory + b"/" + name
                if path_filter is None or path_filter(os.fsdecode(child)):
                    pending += _OPEN_ENTRY + nar_string(name) + _NODE
                    current, kind = child, child_kind
                    break
            if current is not None:
                break
            stack.pop()
            pending += _CLOSE
            node_closed = True
    yield pending


def _entry_kind(entry: os.DirEntry[bytes]) -> int:
    """The file type of a directory entry (from d_type when the file system gives it)."""
    if entry.is_symlink():
        return stat.S_IFLNK
    if entry.is_dir(follow_symlinks=False):
        return stat.S_IFDIR
    if entry.is_file(follow_symlinks=False):
        return stat.S_IFREG
    return stat.S_IFMT(entry.stat(follow_symlinks=False).st_mode)


def _regular_pieces(path: bytes, head: bytes) -> Generator[bytes, None, bytes]:
    """Yield ``head`` and a regular file's node up to its contents, then the
    contents; return the tokens that follow them (padding and the close)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NarError(f"file '{os.fsdecode(path)}' changed type while archiving")
        size = st.st_size
        head += _OPEN_REGULAR
        if st.st_mode & stat.S_IXUSR:
            head += _EXECUTABLE
        head += _CONTENTS + _U64.pack(size)
        if not size:
            return head + _CLOSE
        yield head
        left = size
        while left:
            chunk = os.read(fd, min(left, _READ_CHUNK))
            if not chunk:
                raise NarError(f"file '{os.fsdecode(path)}' shrank while archiving")
            left -= len(chunk)
            yield chunk
    finally:
        os.close(fd)
    return padding(size) + _CLOSE


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
    for piece in _nar_pieces(path, path_filter):
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

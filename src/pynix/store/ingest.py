"""Putting contents into a staging area while hashing them.

Sources are serialised as a NAR and the same byte stream is restored into
the staging area, so what is stored is exactly what was hashed (including
the effect of a filter), in one pass over the source and constant memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from typing import Final

from ..compat.hashing import Hash, HashAlgo
from ..compat.nar import iter_nar
from ..compat.nar_reader import restore_nar
from .api import PathFilter

_CHUNK: Final = 1 << 20


class HashingStream:
    """A readable stream over chunks (or over another stream) that hashes
    and counts everything read through it."""

    def __init__(
        self,
        source: Iterable[bytes] | None = None,
        *,
        reader: object = None,
        algos: Iterable[HashAlgo] = ("sha256",),
    ) -> None:
        self._chunks: Iterator[bytes] | None = iter(source) if source is not None else None
        self._reader = reader
        self._buf = b""
        self._pos = 0
        self._hashers = {a: hashlib.new(a) for a in set(algos)}
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        if self._reader is not None:
            data: bytes = self._reader.read(n)  # type: ignore[attr-defined]
        else:
            data = self._take(n)
        for h in self._hashers.values():
            h.update(data)
        self.size += len(data)
        return data

    def _take(self, n: int) -> bytes:
        assert self._chunks is not None
        buf, pos = self._buf, self._pos
        if 0 <= n <= len(buf) - pos:
            self._pos = pos + n
            return buf[pos : pos + n]
        parts = [buf[pos:]]
        have = len(parts[0])
        while n < 0 or have < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            parts.append(chunk)
            have += len(chunk)
        joined = b"".join(parts)
        if n < 0 or have <= n:
            self._buf, self._pos = b"", 0
            return joined
        self._buf, self._pos = joined, n
        return joined[:n]

    def hash(self, algo: HashAlgo = "sha256") -> Hash:
        return Hash(algo, self._hashers[algo].digest())


def file_type(path: str) -> str:
    """The type name a source filter is given."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return "unknown"
    if stat.S_ISREG(mode):
        return "regular"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "unknown"


def nar_filter(path_filter: PathFilter | None) -> object:
    if path_filter is None:
        return None
    return lambda p: path_filter(p, file_type(p))


def stage_tree(src: str, target: str, path_filter: PathFilter | None, algo: HashAlgo) -> tuple[
    Hash, int, Hash
]:
    """Copy ``src`` (as its NAR) to ``target``: (NAR sha256, NAR size, NAR hash with ``algo``)."""
    stream = HashingStream(
        iter_nar(src, nar_filter(path_filter)),  # type: ignore[arg-type]
        algos={"sha256", algo},
    )
    restore_nar(stream, target)
    return stream.hash("sha256"), stream.size, stream.hash(algo)


def hash_tree(src: str, path_filter: PathFilter | None, algo: HashAlgo) -> tuple[
    Hash, int, Hash
]:
    """(NAR sha256, NAR size, NAR hash with ``algo``) of ``src`` without copying it."""
    hashers = {a: hashlib.new(a) for a in {"sha256", algo}}
    size = 0
    for chunk in iter_nar(src, nar_filter(path_filter)):  # type: ignore[arg-type]
        for h in hashers.values():
            h.update(chunk)
        size += len(chunk)
    return Hash("sha256", hashers["sha256"].digest()), size, Hash(algo, hashers[algo].digest())


def stage_flat(src: str, target: str, algo: HashAlgo) -> Hash:
    """Copy the bytes of the file ``src`` to ``target``; their hash with ``algo``."""
    hasher = hashlib.new(algo)
    with open(src, "rb") as fin:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            while chunk := fin.read(_CHUNK):
                hasher.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    return Hash(algo, hasher.digest())


def write_file(target: str, data: bytes) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


# -- atomic exchange of two paths (for repairs) ----------------------------------

_RENAME_EXCHANGE: Final = 2
_AT_FDCWD: Final = -100
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def exchange(a: str, b: str) -> None:
    """Swap two paths atomically (``renameat2(RENAME_EXCHANGE)``)."""
    renameat2 = getattr(_libc, "renameat2", None)
    if renameat2 is None:  # pragma: no cover - very old glibc
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), a, None, b)

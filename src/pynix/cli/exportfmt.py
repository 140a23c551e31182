"""``nix-store --export`` / ``--import``: Nix's format for moving paths with their
metadata between stores.

The stream is, for each path (dependencies first), the number 1, the path's
NAR, the number 0x4558494e ("NIXE"), the path, the number of references and
the references (sorted), the deriver (empty if none) and 0 (no legacy
signature; an importer skips one announced by 1); then the number 0.  Numbers
are 64-bit little-endian, strings are NAR strings (length, bytes, zero
padding to 8 bytes).

(This is a wire format shared with Nix; it would sit well in
:mod:`pynix.compat` next to the NAR code.)
"""

from __future__ import annotations

import hashlib
import struct
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Final

from ..compat.hashing import Hash, HashFormat
from ..compat.nar import NarError, nar_string
from ..compat.nar_reader import RegularEvent, iter_nar_events
from ..store.api import PathInfo, Store

EXPORT_MAGIC: Final = 0x4558494E
_U64: Final = struct.Struct("<Q")
_MAX_STRING: Final = 1 << 16  # paths and derivers are far shorter
_MAX_REFERENCES: Final = 1 << 20
_SPOOL_IN_MEMORY: Final = 64 << 20


class ExportFormatError(Exception):
    pass


def _num(n: int) -> bytes:
    return _U64.pack(n)


def _str(s: str) -> bytes:
    return nar_string(s.encode("utf-8", "surrogateescape"))


def write_export(store: Store, ordered_paths: Iterable[str], out: IO[bytes]) -> None:
    """Write the paths (already in dependency order) with their metadata."""
    for path in ordered_paths:
        info = store.query_path_info(path)
        out.write(_num(1))
        for chunk in store.nar_from_path(path):
            out.write(chunk)
        out.write(_num(EXPORT_MAGIC))
        out.write(_str(path))
        refs = sorted(info.references)
        out.write(_num(len(refs)))
        for ref in refs:
            out.write(_str(ref))
        out.write(_str(info.deriver or ""))
        out.write(_num(0))
    out.write(_num(0))
    out.flush()


@dataclass
class ImportedPath:
    """One path of an export stream; ``nar`` is positioned at its start."""

    info: PathInfo
    nar: IO[bytes]


class _Tee:
    """Reads from ``source``, copying and hashing what passes."""

    def __init__(self, source: IO[bytes], sink: IO[bytes]) -> None:
        self.source = source
        self.sink = sink
        self.hasher = hashlib.sha256()
        self.size = 0

    def read(self, n: int) -> bytes:
        data = self.source.read(n)
        self.sink.write(data)
        self.hasher.update(data)
        self.size += len(data)
        return data


def _read_exact(source: IO[bytes], n: int) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < n:
        chunk = source.read(n - got)
        if not chunk:
            raise ExportFormatError("the export stream is truncated")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _read_num(source: IO[bytes]) -> int:
    value: int = _U64.unpack(_read_exact(source, 8))[0]
    return value


def _read_str(source: IO[bytes], what: str) -> str:
    n = _read_num(source)
    if n > _MAX_STRING:
        raise ExportFormatError(f"the {what} in the export stream is {n} bytes long")
    data = _read_exact(source, n)
    pad = _read_exact(source, -n % 8)
    if pad.strip(b"\0"):
        raise ExportFormatError(f"the {what} in the export stream has non-zero padding")
    return data.decode("utf-8", "surrogateescape")


def read_export(source: IO[bytes]) -> Iterator[ImportedPath]:
    """The paths of an export stream, one at a time (each NAR is checked as it is
    read and kept in a temporary file, closed when the next path is read)."""
    while True:
        marker = _read_num(source)
        if marker == 0:
            return
        if marker != 1:
            raise ExportFormatError(
                "input doesn't look like something created by 'nix-store --export'"
            )
        with tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY) as spool:
            tee = _Tee(source, spool)
            try:
                for event in iter_nar_events(tee, trailing_ok=True):
                    if isinstance(event, RegularEvent):
                        for _ in event.chunks:
                            pass
            except NarError as e:
                raise ExportFormatError(f"the export stream holds a malformed NAR: {e}") \
                    from None
            if _read_num(source) != EXPORT_MAGIC:
                raise ExportFormatError("Nix archive cannot be imported; wrong format")
            path = _read_str(source, "path")
            count = _read_num(source)
            if count > _MAX_REFERENCES:
                raise ExportFormatError(f"a path in the export stream has {count} references")
            references = frozenset(_read_str(source, "reference") for _ in range(count))
            deriver = _read_str(source, "deriver")
            if _read_num(source) == 1:  # a legacy signature: ignored, as Nix does
                _read_str(source, "signature")
            info = PathInfo(
                path=path,
                nar_hash=Hash("sha256", tee.hasher.digest()).to_prefixed(HashFormat.NIX32),
                nar_size=tee.size,
                references=references,
                deriver=deriver or None,
            )
            spool.seek(0)
            yield ImportedPath(info, spool)

"""Build logs: where they live and how they are written and read back.

The layout is Nix's: the log of ``/nix/store/<hash>-<name>.drv`` is
``<log dir>/drvs/<first two characters of hash>/<rest of base name>.bz2``,
where the log dir is ``/nix/var/log/nix`` for the real store and
``DIR/nix/var/log/nix`` for a chroot store ``local?root=DIR``.  Logs are
written bzip2-compressed, as Nix writes them, so either tool reads the
other's logs; a plain (uncompressed) file without the ``.bz2`` suffix is also
accepted when reading.
"""

from __future__ import annotations

import bz2
import os
import threading
from typing import Final

from ..store.api import Store

_COMPRESSED_SUFFIX: Final = ".bz2"


def default_log_dir(store: Store) -> str:
    """The log directory of ``store``: its ``log_dir`` if it has one, else the
    ``var/log/nix`` next to its physical store directory."""
    log_dir = getattr(store, "log_dir", None)
    if isinstance(log_dir, str):
        return log_dir
    real_store = store.real_path(store.store_dir)
    nix_dir = os.path.dirname(real_store.rstrip("/"))
    return os.path.join(nix_dir, "var", "log", "nix")


def log_file_base(log_dir: str, drv_path: str) -> str:
    """The log file of ``drv_path`` without its compression suffix."""
    base = os.path.basename(drv_path)
    return os.path.join(log_dir, "drvs", base[:2], base[2:])


def find_log(log_dir: str, drv_path: str) -> str | None:
    """The existing log file of a derivation (compressed or plain), if any."""
    base = log_file_base(log_dir, drv_path)
    for candidate in (base + _COMPRESSED_SUFFIX, base):
        if os.path.isfile(candidate):
            return candidate
    return None


def read_log(log_dir: str, drv_path: str) -> bytes | None:
    """The full build log of a derivation (what ``pynix log`` prints), or None."""
    path = find_log(log_dir, drv_path)
    if path is None:
        return None
    if path.endswith(_COMPRESSED_SUFFIX):
        # A log cut short by a killed build is still readable up to the cut.
        out = bytearray()
        decompressor = bz2.BZ2Decompressor()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 16):
                try:
                    out += decompressor.decompress(chunk)
                except (OSError, EOFError):
                    break
                if decompressor.eof:
                    break
        return bytes(out)
    with open(path, "rb") as fh:
        return fh.read()


class LogWriter:
    """Writes one build's log, compressed, while keeping the last lines for
    error messages.  Thread-safe: the builder's output is pumped by a thread."""

    def __init__(self, log_dir: str | None, drv_path: str, *, tail_lines: int = 10) -> None:
        self.path: str | None = None
        self._fh: bz2.BZ2File | None = None
        self._lock = threading.Lock()
        self._tail: list[bytes] = []
        self._partial = b""
        self._tail_lines = tail_lines
        if log_dir is not None:
            base = log_file_base(log_dir, drv_path)
            os.makedirs(os.path.dirname(base), exist_ok=True)
            self.path = base + _COMPRESSED_SUFFIX
            self._fh = bz2.BZ2File(self.path, "wb", compresslevel=6)

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.write(data)
            lines = (self._partial + data).split(b"\n")
            self._partial = lines.pop()
            self._tail.extend(lines)
            del self._tail[: -self._tail_lines or len(self._tail)]

    def tail(self) -> list[str]:
        """The last lines written (for ``last 10 log lines:``)."""
        with self._lock:
            lines = [*self._tail, self._partial] if self._partial else list(self._tail)
        return [ln.decode("utf-8", "replace") for ln in lines[-self._tail_lines :]]

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

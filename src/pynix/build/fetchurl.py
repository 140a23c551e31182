"""``builtin:fetchurl``: the builder of ``<nix/fetchurl.nix>`` derivations.

It runs inside pynix (no sandbox, no builder process): download ``url`` into
the output location.  With ``unpack = true`` the download is a NAR (``.xz``
compressed if the URL ends in ``.xz``) that is restored as the output, as
Nix's builtin does; with ``executable = true`` the file is made executable.
The fixed-output hash check happens afterwards like for any other
fixed-output derivation.  TLS certificates are not verified: the content is
checked against the declared hash anyway.
"""

from __future__ import annotations

import lzma
import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import BinaryIO, Final

from ..compat.derivation import Derivation
from ..compat.nar_reader import restore_nar
from .builtins import BuiltinContext, BuiltinError

_CHUNK: Final = 1 << 20
USER_AGENT: Final = "curl/7.88 Nix/2.8.0 pynix"


class FetchError(BuiltinError):
    pass


def _open(url: str, timeout: float) -> BinaryIO:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        response: BinaryIO = urllib.request.urlopen(request, timeout=timeout, context=context)
    except urllib.error.HTTPError as e:
        raise FetchError(f"unable to download '{url}': HTTP error {e.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise FetchError(f"unable to download '{url}': {reason}") from None
    return response


class _Stream:
    """A readable over downloaded chunks, optionally xz-decompressed."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def read(self, size: int, /) -> bytes:
        while len(self._buf) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buf += chunk
        out, self._buf = self._buf[:size], self._buf[size:]
        return out


def _chunks(fh: BinaryIO, url: str, xz: bool) -> Iterator[bytes]:
    decompressor = lzma.LZMADecompressor() if xz else None
    while True:
        try:
            data = fh.read(_CHUNK)
        except OSError as e:
            raise FetchError(f"unable to download '{url}': {e}") from None
        if not data:
            break
        yield decompressor.decompress(data) if decompressor is not None else data


def download_to(url: str, location: str, *, timeout: float = 300.0) -> None:
    """Download ``url`` into a new file at ``location``."""
    with _open(url, timeout) as fh:
        fd = os.open(location, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as out:
            for chunk in _chunks(fh, url, False):
                out.write(chunk)


def build(ctx: BuiltinContext) -> None:
    """The ``builtin:fetchurl`` builder."""
    out = ctx.outputs.get("out")
    if out is None:
        raise FetchError("builtin:fetchurl requires an output 'out'")
    builtin_fetchurl(ctx.drv, out, ctx.log)


def builtin_fetchurl(
    drv: Derivation,
    output_location: str,
    log: Callable[[str], None],
    *,
    timeout: float = 300.0,
) -> None:
    """Build a ``builtin:fetchurl`` derivation into ``output_location``."""
    url = drv.env.get("url")
    if url is None:
        raise FetchError("attribute 'url' missing")
    unpack = drv.env.get("unpack") == "1"
    log(f"downloading '{url}'...\n")
    with _open(url, timeout) as fh:
        chunks = _chunks(fh, url, unpack and url.endswith(".xz"))
        if unpack:
            restore_nar(_Stream(chunks), output_location)
        else:
            fd = os.open(output_location, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
    if drv.env.get("executable") == "1":
        os.chmod(output_location, 0o755)

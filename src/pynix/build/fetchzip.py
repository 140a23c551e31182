"""``builtin:fetchzip``: download an archive and unpack it as the output.

The builder of the package set's ``fetchzip``: the archive at ``url``
(.tar, .tar.gz/.tgz, .tar.bz2, .tar.xz or .zip, recognised by its contents)
is downloaded like ``builtin:fetchurl`` does and unpacked into the output;
with ``stripRoot = "1"`` the single top-level directory is removed.  Only
regular files, directories and symlinks are created, nothing outside the
output (absolute names, ``..`` and links leading out are refused).  The
output is a fixed-output derivation: its recursive hash is checked after.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import zipfile

from .builtins import BuiltinContext, BuiltinError
from .fetchurl import download_to


def build(ctx: BuiltinContext) -> None:
    out = ctx.outputs.get("out")
    if out is None:
        raise BuiltinError("builtin:fetchzip requires an output 'out'")
    url = ctx.attr("url")
    archive = os.path.join(ctx.build_dir, "archive")
    ctx.log(f"downloading '{url}'...\n")
    download_to(url, archive)
    unpacked = tempfile.mkdtemp(prefix="unpacked-", dir=ctx.build_dir)
    try:
        if zipfile.is_zipfile(archive):
            _unzip(archive, unpacked)
        else:
            try:
                with tarfile.open(archive) as tar:
                    tar.extractall(unpacked, filter="data")
            except (tarfile.TarError, EOFError, OSError) as e:
                raise BuiltinError(f"cannot unpack '{url}': {e}") from None
    except zipfile.BadZipFile as e:
        raise BuiltinError(f"cannot unpack '{url}': {e}") from None
    entries = os.listdir(unpacked)
    source = unpacked
    if ctx.drv.env.get("stripRoot", "1") == "1":
        if len(entries) != 1 or not os.path.isdir(os.path.join(unpacked, entries[0])):
            raise BuiltinError(
                f"'{url}' does not contain exactly one top-level directory "
                f"(it has {len(entries)} entries); use stripRoot = false"
            )
        source = os.path.join(unpacked, entries[0])
    shutil.move(source, out)


def _unzip(archive: str, dest: str) -> None:
    root = os.path.realpath(dest)
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            target = os.path.realpath(os.path.join(dest, info.filename))
            if target != root and not target.startswith(root + os.sep):
                raise BuiltinError(f"zip entry '{info.filename}' leads outside the output")
            mode = info.external_attr >> 16
            if info.is_dir():
                os.makedirs(target, exist_ok=True)
            elif stat.S_ISLNK(mode):
                link = z.read(info).decode("utf-8", "surrogateescape")
                resolved = os.path.realpath(os.path.join(os.path.dirname(target), link))
                if not resolved.startswith(root + os.sep):
                    raise BuiltinError(f"zip link '{info.filename}' leads outside the output")
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.symlink(link, target)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with z.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.chmod(target, 0o755 if mode & 0o111 else 0o644)

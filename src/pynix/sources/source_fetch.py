"""``builtin:fetch-debian-source``: one file of a Debian source package.

A fixed-output derivation (``<pynix/pkgs/build-support/fetch-debian-source.nix>``)
names the source package, its version and the file wanted (usually the
upstream tarball, ``hello_2.10.orig.tar.gz``); the builder downloads the
source package with ``apt-get source --download-only`` through pynix's private
apt configuration (the machine's own mirrors, base suite of its release) and
keeps that one file.  Its hash is checked afterwards like that of any
fixed-output derivation, so the pin is the sha256, not the mirror.
"""

from __future__ import annotations

import os

from ..build.builtins import BuiltinContext, BuiltinError
from .apt import AptError, PrivateApt
from .lock import copy_to


class DebianSourceError(BuiltinError):
    pass


def _check_file_name(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise DebianSourceError(f"builtin:fetch-debian-source: '{name}' is not a file name")


def build_fetch_debian_source(ctx: BuiltinContext) -> None:
    """Attributes ``package``, ``version`` (of the source package), ``file``."""
    package = ctx.attr("package")
    version = ctx.attr("version")
    wanted = ctx.attr("file")
    _check_file_name(wanted)
    out = ctx.outputs.get("out")
    if out is None:
        raise DebianSourceError("builtin:fetch-debian-source requires an output 'out'")
    what = f"Debian source package '{package}' version '{version}'"
    try:
        apt = PrivateApt()
        ctx.log(f"downloading {what} from the '{apt.release}' archive...\n")
        files = apt.source_download(package, version, os.path.join(ctx.build_dir, "src"))
    except AptError as e:
        raise DebianSourceError(
            f"{e}\n(the archive may no longer serve {what}: `apt-cache showsrc {package}` "
            "through pynix's apt configuration lists the versions it has; update the "
            "pin's version and sha256)") from None
    by_name = {os.path.basename(f): f for f in files}
    if wanted not in by_name:
        raise DebianSourceError(f"{what} has no file '{wanted}'; its files are: "
                                + ", ".join(sorted(by_name)))
    copy_to(by_name[wanted], out)
    os.chmod(out, 0o444)
    ctx.log(f"kept '{wanted}' of {what}\n")

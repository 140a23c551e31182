"""The builtin builders of pinned inputs: ``builtin:fetch-deb`` and ``builtin:fetch-pypi``.

Both are fixed-output derivations (``<pynix/pkgs/build-support/fetch-deb.nix>``,
``fetch-pypi.nix``): the builder gets the file with the ordinary client of its
registry -- ``apt-get download`` with pynix's private apt configuration, or
``pip download`` -- and the output is checked against the declared hash
afterwards, like any fixed-output derivation.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Final

from ..build.builtins import BuiltinContext, BuiltinError
from .apt import AptError, PrivateApt
from .lock import LockError, copy_to, pip_download, unavailable_message


class SourceFetchError(BuiltinError):
    pass


def _out(ctx: BuiltinContext) -> str:
    out = ctx.outputs.get("out")
    if out is None:
        raise SourceFetchError(f"{ctx.drv.builder} requires an output 'out'")
    return out


def build_fetch_deb(ctx: BuiltinContext) -> None:
    """``builtin:fetch-deb``: attributes ``package``, ``version``, ``arch``."""
    package = ctx.attr("package")
    version = ctx.attr("version")
    arch = ctx.attr("arch", "") or None
    out = _out(ctx)
    try:
        apt = PrivateApt()
        apt.ensure_updated()
        records = apt.records(package, arch)
        if version not in [r.version for r in records]:
            raise SourceFetchError(unavailable_message(
                package, version, [r.version for r in records], apt.release))
        ctx.log(f"downloading Debian package '{package}' version '{version}'"
                f"{f' ({arch})' if arch else ''} from the '{apt.release}' archive...\n")
        path = apt.download(package, version, os.path.join(ctx.build_dir, "deb"), arch)
    except AptError as e:
        raise SourceFetchError(str(e)) from None
    copy_to(path, out)
    os.chmod(out, 0o444)


# -- PyPI --------------------------------------------------------------------------------

_WHEEL: Final = re.compile(
    r"^(?P<name>[^-]+)-(?P<version>[^-]+)(?:-(?P<build>\d[^-]*))?"
    r"-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$")
_SDIST_SUFFIXES: Final = (".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz")


def _python_version(tag: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"[a-z]+(\d)(\d*)", tag)
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2) or "0")


def pip_args_for(filename: str) -> list[str]:
    """``pip download`` flags that select exactly ``filename``'s kind of file."""
    m = _WHEEL.match(filename)
    if m is None:
        if filename.endswith(_SDIST_SUFFIXES):
            return ["--no-binary", ":all:"]
        raise SourceFetchError(f"'{filename}' is neither a wheel nor a source distribution")
    current = sys.version_info[:2]
    py_tags = m.group("py").split(".")
    abis = m.group("abi").split(".")
    platforms = m.group("plat").split(".")
    args = ["--only-binary", ":all:"]
    impl = "cp" if any(t.startswith("cp") for t in py_tags) else "py"
    if impl == "cp":
        versions = [v for v in map(_python_version, py_tags) if v is not None]
        # abi3 wheels run on later CPythons too: prefer this one's version
        if "abi3" in abis and versions and max(versions) <= current:
            version = current
        else:
            version = max(versions) if versions else current
    else:
        version = current
    args += ["--implementation", impl, "--python-version", f"{version[0]}.{version[1]}"]
    for abi in abis:
        args += ["--abi", abi]
    for plat in platforms:
        args += ["--platform", plat]
    return args


def build_fetch_pypi(ctx: BuiltinContext) -> None:
    """``builtin:fetch-pypi``: attributes ``pname``, ``version``, ``filename``."""
    pname = ctx.attr("pname")
    version = ctx.attr("version")
    filename = ctx.attr("filename")
    out = _out(ctx)
    what = f"PyPI package '{pname}' version '{version}' ({filename})"
    ctx.log(f"downloading {what}...\n")
    try:
        path = pip_download([*pip_args_for(filename), f"{pname}=={version}"],
                            os.path.join(ctx.build_dir, "pypi"), what)
    except LockError as e:
        raise SourceFetchError(str(e)) from None
    got = os.path.basename(path)
    if got != filename:
        raise SourceFetchError(f"{what}: pip chose '{got}' instead; the pin may name a "
                               "file that this machine's package index no longer serves")
    copy_to(path, out)
    os.chmod(out, 0o444)

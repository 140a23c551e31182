"""The build sandbox: a bubblewrap (``bwrap``) command line (spec 8.4).

A sandboxed builder runs in new user, mount, PID, IPC and UTS namespaces
(and a new network namespace unless the derivation is fixed-output), as uid
1000 / gid 100 without capabilities, with hostname ``localhost``.  Its file
system is a fresh tmpfs root holding only:

* ``/nix/store``: a directory of ours (mode 1775) where the builder creates
  its outputs, with every path of the input closure bind-mounted read-only at
  its logical location (the *real* location comes from the store, so chroot
  stores work);
* ``/build``: the build directory; ``/tmp``: an empty tmpfs (1777);
* ``/dev`` (bwrap's minimal set), a new ``/proc``;
* ``/etc/passwd``, ``/etc/group`` and, except for fixed-output derivations,
  ``/etc/hosts``, generated; fixed-output derivations get the host's
  ``resolv.conf``, ``services`` and ``hosts`` and an ``nsswitch.conf``;
* whatever the ``sandbox-paths`` setting lists (read-only: unlike Nix's build
  users, our builder's uid maps to the user running pynix, so a writable bind
  would let a builder change host files).

Without the sandbox a chroot store still needs a mount namespace in which its
store appears at ``/nix/store``: :func:`relaxed_args` gives the host's whole
file system plus that, as Nix's ``sandbox = false`` gives the real one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from ..compat.storepath import STORE_DIR

SANDBOX_BUILD_DIR: Final = "/build"
SANDBOX_UID: Final = 1000
SANDBOX_GID: Final = 100

ETC_PASSWD: Final = (
    "root:x:0:0:Nix build user:/build:/noshell\n"
    "nixbld:x:1000:100:Nix build user:/build:/noshell\n"
    "nobody:x:65534:65534:Nobody:/:/noshell\n"
)
ETC_GROUP: Final = "root:x:0:\nnixbld:!:100:\nnogroup:x:65534:\n"
ETC_HOSTS: Final = "127.0.0.1 localhost\n::1 localhost\n"
ETC_NSSWITCH: Final = "hosts: files dns\nservices: files\n"
# Host files a fixed-output derivation (which has network access) gets.
FOD_HOST_FILES: Final = ("/etc/resolv.conf", "/etc/services", "/etc/hosts")


class SandboxError(Exception):
    pass


@dataclass(frozen=True)
class SandboxPath:
    """One ``sandbox-paths`` entry: ``target=source``, or a path bound at
    itself; a trailing ``?`` makes it optional (skipped when missing)."""

    target: str
    source: str
    optional: bool = False

    @classmethod
    def parse(cls, entry: str) -> SandboxPath:
        optional = entry.endswith("?")
        if optional:
            entry = entry[:-1]
        target, sep, source = entry.partition("=")
        if not sep:
            source = target
        if not target.startswith("/") or not source.startswith("/"):
            raise SandboxError(f"sandbox path '{entry}' must be absolute")
        return cls(target, source, optional)


def parse_sandbox_paths(entries: Iterable[str]) -> list[SandboxPath]:
    """Parse the ``sandbox-paths`` setting (already split on whitespace)."""
    return [SandboxPath.parse(e) for e in entries if e]


def find_bwrap() -> str | None:
    """The bubblewrap executable, or None when it is not installed."""
    return shutil.which("bwrap")


@dataclass
class SandboxSpec:
    """Everything the sandbox is made of, in host paths."""

    # the directory mounted at /nix/store, where outputs are created
    store_source: str
    # (real path, logical store path) of every input closure path
    inputs: list[tuple[str, str]]
    # the real build directory, mounted at /build
    build_dir: str
    # a private directory for generated files (etc/...)
    scratch_dir: str
    fixed_output: bool = False
    paths: list[SandboxPath] = field(default_factory=list)
    store_dir: str = STORE_DIR


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def sandbox_args(spec: SandboxSpec) -> list[str]:
    """bwrap options (without the command) for a fully sandboxed build."""
    args = [
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--uid", str(SANDBOX_UID),
        "--gid", str(SANDBOX_GID),
        "--hostname", "localhost",
        "--die-with-parent",
        "--cap-drop", "ALL",
    ]  # fmt: skip
    if not spec.fixed_output:
        args.append("--unshare-net")
    args += ["--bind", spec.store_source, spec.store_dir, "--chmod", "1775", spec.store_dir]
    for real, logical in spec.inputs:
        args += ["--ro-bind", real, logical]
    args += ["--bind", spec.build_dir, SANDBOX_BUILD_DIR]
    args += ["--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp"]

    etc = os.path.join(spec.scratch_dir, "etc")
    _write(os.path.join(etc, "passwd"), ETC_PASSWD)
    _write(os.path.join(etc, "group"), ETC_GROUP)
    args += ["--ro-bind", os.path.join(etc, "passwd"), "/etc/passwd"]
    args += ["--ro-bind", os.path.join(etc, "group"), "/etc/group"]
    if spec.fixed_output:
        _write(os.path.join(etc, "nsswitch.conf"), ETC_NSSWITCH)
        args += ["--ro-bind", os.path.join(etc, "nsswitch.conf"), "/etc/nsswitch.conf"]
        for host_file in FOD_HOST_FILES:
            args += ["--ro-bind-try", host_file, host_file]
    else:
        _write(os.path.join(etc, "hosts"), ETC_HOSTS)
        args += ["--ro-bind", os.path.join(etc, "hosts"), "/etc/hosts"]

    for p in spec.paths:
        if not os.path.lexists(p.source):
            if p.optional:
                continue
            raise SandboxError(f"path '{p.source}' (in sandbox-paths) does not exist")
        args += ["--ro-bind", p.source, p.target]
    args += ["--chdir", SANDBOX_BUILD_DIR]
    return args


def relaxed_args(spec: SandboxSpec) -> list[str]:
    """bwrap options for an unsandboxed build whose store is not at its
    logical place (a chroot store) or whose outputs must go elsewhere
    (``--check``): the host file system, the host network, the caller's uid,
    and a ``/nix/store`` holding the input closure and the new outputs."""
    args = ["--dev-bind", "/", "/", "--die-with-parent"]
    args += ["--bind", spec.store_source, spec.store_dir]
    for real, logical in spec.inputs:
        args += ["--ro-bind", real, logical]
    args += ["--chdir", spec.build_dir]
    return args

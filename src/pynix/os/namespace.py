"""The machine namespace: a private mount namespace showing a machine root.

``enter(root, store_dir)`` unshares the mount namespace of the calling process
(``unshare(CLONE_NEWNS)``), makes every mount private (so nothing propagates
back to the host), and bind-mounts ``root/{etc,var,run,home,root,tmp}`` on
``/etc``... and the store on ``/nix/store`` (and ``root/nix/var`` on
``/nix/var``).  The sources are opened before the first bind mount and mounted
through ``/proc/self/fd``, because the root may itself live under ``/tmp``,
which the mounts hide.  The network, PIDs and users stay the host's.

Done with ``ctypes`` (Python 3.11 has no ``os.unshare``); needs root.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

from .machine import MACHINE_DIRS

CLONE_NEWNS = 0x00020000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
O_PATH = 0o10000000

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_void_p]  # fmt: skip
_libc.unshare.argtypes = [ctypes.c_int]


class NamespaceError(Exception):
    pass


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise NamespaceError(f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, flags: int) -> None:
    rc = _libc.mount(source.encode() if source else None, target.encode(), None, flags, None)
    _check(rc, f"cannot mount '{source}' on '{target}'")


def enter(root: str, store_dir: str) -> None:
    """Move the calling process into a new machine namespace for ``root``."""
    binds: list[tuple[str, str]] = []
    if root != "/":
        binds += [(os.path.join(root, d), "/" + d) for d in MACHINE_DIRS]
        nix_var = os.path.join(root, "nix", "var")
        if os.path.isdir(nix_var) and os.path.isdir("/nix/var"):
            binds.append((nix_var, "/nix/var"))
    if os.path.realpath(store_dir) != "/nix/store":
        if not os.path.isdir("/nix/store"):
            raise NamespaceError(
                "cannot show the machine's store at /nix/store: /nix/store does not exist "
                "on this host (create the empty directory)")
        binds.append((store_dir, "/nix/store"))
    # the sources must be opened in the new namespace (a mount of another
    # namespace cannot be bound) but before any mount hides them
    _check(_libc.unshare(CLONE_NEWNS), "cannot create a mount namespace (unshare)")
    _mount(None, "/", MS_REC | MS_PRIVATE)
    fds: list[tuple[int, str, str]] = []
    try:
        for source, target in binds:
            try:
                fd = os.open(source, O_PATH | os.O_CLOEXEC | os.O_DIRECTORY)
            except OSError as e:
                raise NamespaceError(f"cannot open '{source}': {e.strerror}") from None
            fds.append((fd, source, target))
        for fd, source, target in fds:
            try:
                _mount(f"/proc/self/fd/{fd}", target, MS_BIND | MS_REC)
            except NamespaceError as e:
                raise NamespaceError(f"{e} (binding '{source}')") from None
    finally:
        for fd, _, _ in fds:
            os.close(fd)
    os.chdir("/")

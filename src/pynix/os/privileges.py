"""Becoming a unit's user: groups, gid, uid, and the ambient capabilities
``AmbientCapabilities=`` grants (nginx binds port 80 as user nginx with
``CAP_NET_BIND_SERVICE``), plus ``NoNewPrivileges=``.

Capabilities survive the change of uid because of ``PR_SET_KEEPCAPS``; they
are then made inheritable and raised in the ambient set, which ``execve``
carries over to a program that has no file capabilities.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

from .accounts import Credentials

CAPABILITIES = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
    "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
    "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15, "CAP_SYS_MODULE": 16,
    "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23, "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25,
    "CAP_MKNOD": 27, "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_SETFCAP": 31,
    "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36, "CAP_BPF": 39,
}  # fmt: skip

PR_SET_KEEPCAPS = 8
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class PrivilegeError(Exception):
    pass


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]  # fmt: skip


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]  # fmt: skip


def parse_capabilities(words: list[str]) -> list[int]:
    caps = []
    for w in words:
        name = w.upper().lstrip("~")
        if name not in CAPABILITIES:
            raise PrivilegeError(f"unknown capability '{w}'")
        caps.append(CAPABILITIES[name])
    return caps


def _prctl(option: int, arg2: int = 0, arg3: int = 0) -> None:
    if _libc.prctl(option, arg2, arg3, 0, 0) != 0:
        err = ctypes.get_errno()
        raise PrivilegeError(f"prctl({option}) failed: {os.strerror(err)}")


def _set_caps(caps: list[int]) -> None:
    mask = [0, 0]
    for c in caps:
        mask[c // 32] |= 1 << (c % 32)
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)(*[_Data(mask[i], mask[i], mask[i]) for i in range(2)])
    if _libc.capset(ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise PrivilegeError(f"capset failed: {os.strerror(err)}")


def _bounding_set() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("CapBnd:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return (1 << 64) - 1


def become(creds: Credentials | None, ambient: list[int], no_new_privileges: bool) -> None:
    """Switch the calling process to ``creds`` keeping ``ambient`` capabilities
    (those this process may have at all: a container's bounding set may lack some)."""
    bounding = _bounding_set()
    ambient = [c for c in ambient if bounding >> c & 1]
    if creds is not None:
        if ambient:
            _prctl(PR_SET_KEEPCAPS, 1)
        os.setgroups(list(creds.groups))
        os.setgid(creds.gid)
        os.setuid(creds.uid)
        if ambient:
            _set_caps(ambient)
            for c in ambient:
                _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c)
    if no_new_privileges:
        _prctl(PR_SET_NO_NEW_PRIVS, 1)

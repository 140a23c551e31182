"""Socket units where systemd does not run them: what a ``.socket`` unit asks
for (:class:`SocketSpec`), binding its sockets as systemd does, and the
launcher's half of the hand-over (:func:`receive_sockets`).

The machine's activator daemon (:mod:`pynix.os.activator`) holds the
listening sockets of every active socket unit.  At the first connection (or
datagram) it starts the service through supervisord and stops watching; the
service's launcher asks the daemon for the sockets over the control socket
``/run/pynix/activator.sock`` (SCM_RIGHTS), puts them at fd 3.. and sets
``LISTEN_FDS``/``LISTEN_PID``/``LISTEN_FDNAMES`` (the sd_listen_fds protocol)
before it ``exec``s the service in its own PID.  When that PID exits the
daemon watches the sockets again, so connections made meanwhile wait in the
kernel's queue and are answered by the next instance.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .statefile import read_dict
from .units import Unit

CONTROL = "/run/pynix/activator.sock"  # logical: the launcher sees it in the machine
SOCKETS_FILE = "active-sockets.json"  # in <run/pynix>: written by the manager
SOCKETS_STATE = "sockets-state.json"  # written by the daemon
_TRUE = ("1", "yes", "true", "on")
# [Socket] settings that change how sockets are made and that this manager
# does not implement: refused rather than silently ignored
UNSUPPORTED = ("ListenFIFO", "ListenSpecial", "ListenNetlink", "ListenMessageQueue",
               "ListenUSBFunction", "SocketUser", "SocketGroup", "BindToDevice",
               "ExecStartPre", "ExecStartPost", "ExecStopPre", "ExecStopPost")


# [Socket] settings this manager implements (others are ignored, with a note)
HANDLED = frozenset({"ListenStream", "ListenDatagram", "ListenSequentialPacket", "Accept",
                     "Service", "SocketMode", "DirectoryMode", "Backlog", "FileDescriptorName",
                     "BindIPv6Only", "ReusePort", "RemoveOnStop"})


class SocketError(Exception):
    """A socket unit this manager cannot run (the message names the unit and setting)."""


@dataclass(frozen=True)
class Listen:
    kind: str  # ListenStream, ListenDatagram or ListenSequentialPacket
    address: str  # as written in the unit

    @property
    def type(self) -> int:
        return {"ListenStream": socket.SOCK_STREAM, "ListenDatagram": socket.SOCK_DGRAM,
                "ListenSequentialPacket": socket.SOCK_SEQPACKET}[self.kind]

    def parsed(self) -> tuple[int, object]:
        """(address family, address): a unix path, or an IP address and port;
        a bare port is every address (IPv6 and IPv4)."""
        a = self.address
        if a.startswith("/"):
            return socket.AF_UNIX, a
        if a.startswith("@"):
            return socket.AF_UNIX, "\0" + a[1:]
        if self.kind == "ListenSequentialPacket":
            raise ValueError("ListenSequentialPacket= takes a unix socket path")
        if a.isdigit():
            return socket.AF_INET6, ("::", _port(a))
        if a.startswith("["):
            host, sep, port = a[1:].partition("]:")
            if not sep:
                raise ValueError("expected [ADDRESS]:PORT")
            socket.inet_pton(socket.AF_INET6, host.split("%", 1)[0])
            return socket.AF_INET6, (host, _port(port))
        host, sep, port = a.rpartition(":")
        if not sep:
            raise ValueError("expected PORT, ADDRESS:PORT, [ADDRESS]:PORT or a path")
        try:
            socket.inet_pton(socket.AF_INET, host)
        except OSError:
            raise ValueError(f"'{host}' is not an IPv4 address (names are not resolved)") \
                from None
        return socket.AF_INET, (host, _port(port))


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"'{text}' is not a port (1-65535)")
    return int(text)


def _mode(u: Unit, key: str, default: int) -> int:
    text = u.get("Socket", key)
    if text is None:
        return default
    try:
        return int(text, 8)
    except ValueError:
        raise SocketError(f"{u.name}: {key}={text} is not an octal mode") from None


@dataclass(frozen=True)
class SocketSpec:
    name: str
    service: str
    listens: tuple[Listen, ...] = ()
    socket_mode: int = 0o666
    directory_mode: int = 0o755
    backlog: int = socket.SOMAXCONN
    fd_name: str = ""
    ipv6_only: bool = False
    reuse_port: bool = False
    ignored: tuple[str, ...] = field(default=())  # settings without effect here

    @classmethod
    def from_unit(cls, u: Unit) -> SocketSpec:
        """The socket unit's settings; SocketError for one this manager cannot
        run (the message names the unit and setting)."""
        accept = (u.get("Socket", "Accept") or "no").strip().lower()
        if accept in _TRUE:
            raise SocketError(
                f"{u.name}: Accept=yes (a service instance per connection) is not supported "
                "by the supervisor service manager; only systemd runs this socket unit")
        for key in UNSUPPORTED:
            if u.values("Socket", key):
                raise SocketError(f"{u.name}: {key}= is not supported by the supervisor "
                                  "service manager")
        listens: list[Listen] = []
        for kind in ("ListenStream", "ListenDatagram", "ListenSequentialPacket"):
            for value in u.values("Socket", kind):
                listen = Listen(kind, value.strip())
                try:
                    listen.parsed()
                except (ValueError, OSError) as e:
                    raise SocketError(f"{u.name}: {kind}={value}: {e}") from None
                listens.append(listen)
        if not listens:
            raise SocketError(f"{u.name}: the socket has no ListenStream= or ListenDatagram=")
        service = u.get("Socket", "Service") or u.name.rsplit(".", 1)[0] + ".service"
        backlog = u.get("Socket", "Backlog")
        if backlog is not None and not backlog.strip().isdigit():
            raise SocketError(f"{u.name}: Backlog={backlog} is not a number")
        return cls(
            name=u.name, service=service, listens=tuple(listens),
            socket_mode=_mode(u, "SocketMode", 0o666),
            directory_mode=_mode(u, "DirectoryMode", 0o755),
            backlog=int(backlog) if backlog else socket.SOMAXCONN,
            fd_name=u.get("Socket", "FileDescriptorName") or u.name,
            ipv6_only=(u.get("Socket", "BindIPv6Only") or "").strip() == "ipv6-only",
            reuse_port=u.get_bool("Socket", "ReusePort"),
            ignored=tuple(sorted(set(u.sections.get("Socket", {})) - HANDLED)))


def _at_dir(path: str, action: Callable[[str], None]) -> None:
    """``action`` on a unix socket path however long it is: through
    ``/proc/self/fd`` of its directory (a socket address holds 107 bytes)."""
    if len(path.encode()) < 100:
        action(path)
        return
    fd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        action(f"/proc/self/fd/{fd}/{os.path.basename(path)}")
    finally:
        os.close(fd)


def bind(spec: SocketSpec, listen: Listen, host: Callable[[str], str]) -> socket.socket:
    """A listening socket for ``listen`` (left blocking: the service shares it);
    unix socket paths are made at ``host(path)``, their directory first."""
    family, address = listen.parsed()
    try:
        sock = socket.socket(family, listen.type)
    except OSError:
        if not listen.address.isdigit():
            raise
        # a port alone on a host without IPv6: every IPv4 address, as systemd does
        family, address = socket.AF_INET, ("0.0.0.0", int(listen.address))
        sock = socket.socket(family, listen.type)
    try:
        if family == socket.AF_UNIX and isinstance(address, str) and address.startswith("/"):
            path = host(address)
            os.makedirs(os.path.dirname(path), mode=spec.directory_mode, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    os.unlink(path)  # left by a socket that was not stopped
            _at_dir(path, sock.bind)
            _at_dir(path, lambda p: os.chmod(p, spec.socket_mode))
        else:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY,
                                1 if spec.ipv6_only or address[0] != "::" else 0)  # type: ignore[index]
            if listen.type == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if spec.reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)  # type: ignore[arg-type]
        if listen.type != socket.SOCK_DGRAM:
            sock.listen(spec.backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def unlink(listen: Listen, host: Callable[[str], str]) -> None:
    if listen.address.startswith("/"):
        path = host(listen.address)
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)


def read_state(state_dir: str) -> dict[str, dict[str, Any]]:
    """What the activator says of each active socket unit."""
    return read_dict(os.path.join(state_dir, SOCKETS_STATE))


# -- the launcher's side ------------------------------------------------------------

MAX_FDS = 64


def receive_sockets(service: str, pid: int, also: list[str] | None = None,
                    control: str = CONTROL, timeout: float = 30) -> tuple[list[int], list[str]]:
    """The listening sockets of ``service`` from the activator daemon (fds
    and names): those of the active socket units that activate it and of the
    ones in ``also`` (its ``Sockets=``); none when no daemon runs."""
    if not os.path.exists(control):
        return [], []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        try:
            _at_dir(control, conn.connect)
        except (ConnectionRefusedError, FileNotFoundError):
            return [], []
        request = {"service": service, "pid": pid, "sockets": also or []}
        conn.sendall(json.dumps(request).encode() + b"\n")
        data, fds, _, _ = socket.recv_fds(conn, 65536, MAX_FDS)
        while data and not data.endswith(b"\n"):
            more = conn.recv(65536)
            if not more:
                break
            data += more
    reply = json.loads(data or b"{}")
    names = [str(n) for n in reply.get("names", [])]
    if reply.get("error"):
        for fd in fds:
            os.close(fd)
        raise SocketError(str(reply["error"]))
    if len(names) != len(fds):
        for fd in fds:
            os.close(fd)
        raise SocketError(f"the activator sent {len(fds)} sockets for {len(names)} names")
    return fds, names


def install_fds(fds: list[int]) -> None:
    """Put ``fds`` at 3, 4... (inherited by the ``exec``).  Called before the
    launcher opens anything it keeps: what else is at those numbers is closed."""
    import fcntl

    n = len(fds)
    # first above the target range, so that no target number is still a source
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3 + n) for fd in fds]
    for fd in fds:
        os.close(fd)
    for i, fd in enumerate(high):
        os.dup2(fd, 3 + i, inheritable=True)
        os.close(fd)

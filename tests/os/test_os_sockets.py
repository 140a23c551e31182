"""Socket units under the supervisor manager: the machine's activator daemon
listens on a socket unit's addresses, starts the service at the first
connection and hands it the listening sockets (sd_listen_fds: fd 3..,
LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES); a service killed meanwhile is back
without a refused connection; a changed socket alone keeps listening as it
was (sockets are not restarted), a changed service restarts its socket; a
removed one is closed; Accept=yes is refused with the unit named."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
from pathlib import Path

import pytest
from os_nspawn import container, require
from os_synth import PYTHON, World, free_port, line, wait_for

from pynix.os.managers import UnitGraph
from pynix.os.sockets import SocketError, SocketSpec, bind, unlink
from pynix.os.switch import Plan, Switcher
from pynix.os.units import Unit, parse_unit_text
from pynix.store.url import open_store

# serves every socket it was handed; each connection gets one line about it
ECHO = r'''
import os, socket, sys, threading
n = int(os.environ.get("LISTEN_FDS", "0"))
if n == 0:
    sys.exit("no sockets were passed")
info = "pid=%d listen_pid=%s fds=%d names=%s" % (
    os.getpid(), os.environ.get("LISTEN_PID"), n, os.environ.get("LISTEN_FDNAMES"))
def serve(fd):
    s = socket.socket(fileno=fd)
    while True:
        if s.type == socket.SOCK_DGRAM:
            _, peer = s.recvfrom(64)
            s.sendto((info + " via=%d\n" % fd).encode(), peer)
            continue
        c, _ = s.accept()
        with c:
            c.sendall((info + " via=%d\n" % fd).encode())
threads = [threading.Thread(target=serve, args=(3 + i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
'''

UNIX_PATH = "/run/sock-test/echo.sock"


def socket_unit(port: int, mode: str = "0660") -> str:
    return ("[Unit]\nDescription=echo socket\n\n[Socket]\n"
            f"ListenStream=127.0.0.1:{port}\nListenStream={UNIX_PATH}\nSocketMode={mode}\n"
            "\n[Install]\nWantedBy=sockets.target\n")


def ask(address: str | tuple[str, int]) -> dict[str, str]:
    """One connection: the answer's fields (pid, listen_pid, fds, names, via)."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(address)
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return dict(kv.split("=", 1) for kv in data.decode().split())


def ask_udp(port: int) -> dict[str, str]:
    """One datagram to ``port``: the fields of the answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(30)
        s.sendto(b"?", ("127.0.0.1", port))
        data = s.recv(4096)
    return dict(kv.split("=", 1) for kv in data.decode().split())


def gone(pid: str) -> bool:
    """The process has exited and its parent has reaped it (only then are all
    its threads gone: one dying in accept() may still take a connection)."""
    return not os.path.exists(f"/proc/{pid}")


def states(w: World) -> dict[str, dict[str, object]]:
    r = w.os("status", "--json")
    assert r.returncode == 0, r.stderr
    return {str(e["unit"]): e for e in json.loads(r.stdout)}


def test_socket_activation_under_supervisor(world: World) -> None:
    w = world
    port = free_port()
    echo = w.add_file("echo.py", ECHO)
    service = f"[Service]\nExecStart={PYTHON} {echo}\nRestart=always\n"
    # a second socket unit for the same service (Service=): a datagram socket
    udp_port = free_port()
    udp = (f"[Socket]\nListenDatagram=127.0.0.1:{udp_port}\nService=echo.service\n"
           "KeepAlive=yes\n")

    def echo_system(label: str, mode: str = "0660", echo_service: str = service,
                    more: dict[str, str] | None = None) -> str:
        """echo.socket and echo-udp.socket (wanted, with the sockets in ``more``)
        activating echo.service."""
        units = {"echo.socket": socket_unit(port, mode=mode), "echo.service": echo_service,
                 "echo-udp.socket": udp, **(more or {})}
        return w.system(units, wanted=sorted(n for n in units if n.endswith(".socket")),
                        label=label)

    gen1 = echo_system("sockets")
    first = w.switch(gen1)
    assert first.returncode == 0, first.stderr
    assert line(first.stderr, "starting the following units:") == [
        "echo-udp.socket", "echo.socket"]
    assert "does not run these units" not in first.stderr

    # listening, the service not started yet
    before = states(w)
    assert before["echo.socket"]["state"] == "listening", before
    assert before["echo.service"]["state"] == "STOPPED", before
    host_path = w.root / UNIX_PATH.lstrip("/")
    assert stat.S_ISSOCK(host_path.stat().st_mode)
    assert stat.S_IMODE(host_path.stat().st_mode) == 0o660

    # the first connection starts it and is answered by it, through fd 4
    # (the sockets of echo-udp.socket, then of echo.socket, in their order)
    one = ask(("127.0.0.1", port))
    assert one["pid"] == one["listen_pid"], one
    assert one["fds"] == "3", one
    assert one["names"] == "echo-udp.socket:echo.socket:echo.socket", one
    assert one["via"] == "4"
    # (supervisord counts it as started after a second)
    after = wait_for("echo.service running", lambda: (
        x := states(w))["echo.service"]["state"] == "RUNNING" and x)
    assert isinstance(after, dict)
    assert str(after["echo.service"]["pid"]) == one["pid"]
    assert after["echo.socket"]["state"] == "running"
    # the unix socket (fd 4) reaches the same process
    via_unix = ask(str(host_path))
    assert via_unix["pid"] == one["pid"] and via_unix["via"] == "5"
    via_udp = ask_udp(udp_port)
    assert via_udp["pid"] == one["pid"] and via_udp["via"] == "3"
    log = (w.root / "var/log/pynix/pynix-activator.log").read_text()
    assert "echo-udp.socket: ignored here (systemd would apply them): KeepAlive=" in log

    # kill -9: a connection made at once waits in the queue and is answered
    # by the restarted service (never refused)
    os.kill(int(one["pid"]), signal.SIGKILL)
    wait_for("the killed service to be gone", lambda: gone(one["pid"]))
    two = ask(("127.0.0.1", port))
    assert two["pid"] != one["pid"] and two["pid"] == two["listen_pid"], two
    assert ask(str(host_path))["pid"] == two["pid"]

    # the activator itself killed: the service keeps the sockets it holds
    # (the new activator cannot bind them while it runs) and still answers
    activator = states(w)["pynix-activator"]["pid"]
    assert activator
    os.kill(int(str(activator)), signal.SIGKILL)
    wait_for("the activator back", lambda: (x := states(w)["pynix-activator"])["state"]
             == "RUNNING" and x["pid"] != activator)
    wait_for("the sockets left to the service",
             lambda: states(w)["echo.socket"]["state"] == "held")
    assert ask(("127.0.0.1", port))["pid"] == two["pid"]

    # a changed socket unit alone is not restarted: it keeps its sockets as
    # they are, the service keeps running
    changed = echo_system("sockets-changed", mode="0600")
    quiet = w.switch(changed)
    assert quiet.returncode == 0, quiet.stderr
    assert not line(quiet.stderr, "stopping the following units:"), quiet.stderr
    assert not line(quiet.stderr, "starting the following units:"), quiet.stderr
    assert stat.S_IMODE(host_path.stat().st_mode) == 0o660
    assert ask(("127.0.0.1", port))["pid"] == two["pid"]

    # a changed service it activates: the service and its socket are stopped,
    # the socket (now with its new definition) is started instead of the service
    service2 = service + 'Environment="CHANGED=1"\n'
    gen2 = echo_system("sockets2", mode="0600", echo_service=service2)
    second = w.switch(gen2)
    assert second.returncode == 0, second.stderr
    assert line(second.stderr, "stopping the following units:") == [
        "echo.service", "echo.socket"]
    assert line(second.stderr, "starting the following units:") == ["echo.socket"]
    assert stat.S_IMODE(host_path.stat().st_mode) == 0o600
    assert states(w)["echo.service"]["state"] in ("STOPPED", "EXITED")
    # a datagram activates it too
    three = ask_udp(udp_port)
    assert three["pid"] not in (one["pid"], two["pid"]) and three["pid"] == three["listen_pid"]
    assert ask(str(host_path))["pid"] == three["pid"]

    # Accept=yes is refused, naming the unit: the switch fails, gen2 is back
    gen3 = echo_system("accept", mode="0600", echo_service=service2, more={
        "acc.socket": f"[Socket]\nListenStream={free_port()}\nAccept=yes\n",
        "acc@.service": f"[Service]\nExecStart={PYTHON} {echo}\n"})
    third = w.switch(gen3)
    assert third.returncode == 4, third.stderr
    assert "Failed to start acc.socket" in third.stderr
    assert "acc.socket: Accept=yes" in third.stderr
    assert ask(("127.0.0.1", port))["pid"] == three["pid"]

    # a system without the socket: the port is closed, the unix socket gone
    gen4 = w.system({}, wanted=[], label="nosockets")
    fourth = w.switch(gen4)
    assert fourth.returncode == 0, fourth.stderr
    assert {"echo.socket", "echo.service"} <= set(
        line(fourth.stderr, "stopping the following units:"))

    def closed() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) != 0

    wait_for("the port to be closed", closed, timeout=10)
    assert not host_path.exists()


def test_sockets_that_fail(world: World) -> None:
    """A port taken by someone else: the switch fails naming the socket,
    the address and the reason.  A service that never takes its sockets
    makes its socket fail."""
    w = world
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        echo = w.add_file("echo.py", ECHO)
        gen = w.system({"busy.socket": f"[Socket]\nListenStream=127.0.0.1:{port}\n",
                        "busy.service": f"[Service]\nExecStart={PYTHON} {echo}\n"},
                       wanted=["busy.socket"], label="busy")
        r = w.switch(gen)
    assert r.returncode == 4, r.stderr
    assert "Failed to start busy.socket" in r.stderr
    assert f"ListenStream=127.0.0.1:{port}" in r.stderr
    assert "in use" in r.stderr

    # a service that exits without serving: activated again and again by the
    # waiting connection until its start limit (here 3 in a minute): the
    # socket fails (closed)
    port = free_port()
    gen = w.system({"dud.socket": f"[Socket]\nListenStream=127.0.0.1:{port}\n",
                    "dud.service": "[Unit]\nStartLimitBurst=3\nStartLimitIntervalSec=1min\n"
                                   "[Service]\nExecStart=/bin/sh -c 'exit 3'\n"},
                   wanted=["dud.socket"], label="dud")
    r = w.switch(gen)
    assert r.returncode == 0, r.stderr

    def refused() -> bool:
        with socket.socket() as s:
            s.settimeout(5)
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return True
            with contextlib.suppress(OSError):
                s.recv(1)  # closed by the activator, or waiting in the queue
            return False

    wait_for("the socket to fail", refused, timeout=30)
    dud = states(w)["dud.socket"]
    assert dud["state"] == "failed", dud
    assert "dud.service was activated 4 times within 60 s" in str(dud["error"]), dud
    # the next switch starts the failed socket again, as systemd's would
    again = w.switch(gen)
    assert again.returncode == 0, again.stderr
    assert line(again.stderr, "starting the following units:") == ["dud.socket"]
    assert states(w)["dud.socket"]["state"] == "listening"


def _spec(text: str, name: str = "t.socket") -> SocketSpec:
    return SocketSpec.from_unit(Unit(name, parse_unit_text(text, name)))


def test_addresses_bind_as_systemd_reads_them(tmp_path: Path) -> None:
    """Port only (every address, IPv4 and IPv6), [IPv6]:port, a datagram
    socket and a unix path longer than a socket address holds, with its
    directory made; the settings; what is refused."""
    any_port, v6_port, dgram_port = free_port(), free_port(), free_port()
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    spec = _spec(f"[Socket]\nListenStream={any_port}\nListenStream=[::1]:{v6_port}\n"
                 f"ListenDatagram=127.0.0.1:{dgram_port}\nListenStream=/run/x/app.sock\n"
                 "SocketMode=0600\nDirectoryMode=0700\nFileDescriptorName=web\n"
                 "Service=other.service\nBacklog=8\n")
    assert spec.service == "other.service" and spec.fd_name == "web" and spec.backlog == 8
    assert [(x.kind, x.address) for x in spec.listens] == [
        ("ListenStream", str(any_port)), ("ListenStream", f"[::1]:{v6_port}"),
        ("ListenStream", "/run/x/app.sock"), ("ListenDatagram", f"127.0.0.1:{dgram_port}")]

    def host(path: str) -> str:
        return str(deep) + path

    socks = [bind(spec, x, host) for x in spec.listens]
    try:
        for family, addr in ((socket.AF_INET, ("127.0.0.1", any_port)),
                             (socket.AF_INET6, ("::1", any_port)),
                             (socket.AF_INET6, ("::1", v6_port))):
            with socket.socket(family) as c:
                c.settimeout(10)
                c.connect(addr)
        path = Path(host("/run/x/app.sock"))
        assert len(str(path)) > 108
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.sendto(b"ping", ("127.0.0.1", dgram_port))
        socks[3].settimeout(10)
        assert socks[3].recv(16) == b"ping"
    finally:
        for s in socks:
            s.close()
    unlink(spec.listens[2], host)
    assert not Path(host("/run/x/app.sock")).exists()

    for text, message in (
            ("ListenStream=80\nAccept=yes\n", "t.socket: Accept=yes"),
            ("ListenFIFO=/run/f\n", "t.socket: ListenFIFO= is not supported"),
            ("ListenStream=localhost:80\n", "'localhost' is not an IPv4 address"),
            ("ListenStream=127.0.0.1:99999\n", "'99999' is not a port"),
            ("Accept=no\n", "t.socket: the socket has no ListenStream="),
            ("ListenStream=80\nSocketMode=rw\n", "SocketMode=rw is not an octal mode")):
        with pytest.raises(SocketError) as e:
            _spec("[Socket]\n" + text)
        assert message in str(e.value)


CONNECT_UNIX = r'''
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
print(s.makefile().readline().strip())
'''


def test_socket_activation_under_systemd(tmp_path: Path) -> None:
    """The same units in a machine booted under systemd: systemd listens,
    starts the service at the first connection with the sd_listen_fds
    variables, restarts a killed one, restarts the socket of a changed
    service (with the socket's new definition), closes a removed one."""
    require()
    w = World(tmp_path)
    with open_store(w.url):  # the store exists before it is bound into the container
        pass
    port = free_port()
    echo = w.add_file("echo.py", ECHO)
    service = f"[Service]\nExecStart={PYTHON} {echo}\nRestart=always\n"
    gen1 = w.system({"echo.socket": socket_unit(port), "echo.service": service},
                    wanted=["echo.socket"], label="sockets")
    service2 = service + 'Environment="CHANGED=1"\n'
    gen2 = w.system({"echo.socket": socket_unit(port, mode="0600"), "echo.service": service2},
                    wanted=["echo.socket"], label="sockets2")
    gen3 = w.system({}, wanted=[], label="nosockets")
    with container(tmp_path, w.root / "nix") as c:
        units = f"{gen1}/etc/systemd/system"
        r = c.run("systemd-analyze", "verify", f"{units}/echo.socket", f"{units}/echo.service")
        assert r.returncode == 0 and not r.stderr.strip(), r.stderr
        first = c.pynix("os", "switch", "--system", gen1)
        assert first.returncode == 0, first.stderr
        assert line(first.stderr, "starting the following units:") == ["echo.socket"]
        assert c.show("echo.socket", "ActiveState") == "active"
        assert c.show("echo.service", "ActiveState") == "inactive"
        one = ask(("127.0.0.1", port))  # the container shares the host's network
        assert one["pid"] == one["listen_pid"] == c.show("echo.service", "MainPID"), one
        assert one["fds"] == "2" and one["names"] == "echo.socket:echo.socket", one
        via_unix = c.run(PYTHON, "-c", CONNECT_UNIX, UNIX_PATH)
        assert f"pid={one['pid']} " in via_unix.stdout and "via=4" in via_unix.stdout, via_unix

        assert c.run("kill", "-9", one["pid"]).returncode == 0
        wait_for("the killed service to be gone",
                 lambda: c.run("kill", "-0", one["pid"]).returncode != 0)
        two = ask(("127.0.0.1", port))
        assert two["pid"] != one["pid"] and two["pid"] == two["listen_pid"], two

        second = c.pynix("os", "switch", "--system", gen2)
        assert second.returncode == 0, second.stderr
        assert line(second.stderr, "stopping the following units:") == [
            "echo.service", "echo.socket"]
        assert line(second.stderr, "starting the following units:") == ["echo.socket"]
        assert c.show("echo.service", "ActiveState") == "inactive"
        mode = c.run("stat", "-c", "%a", UNIX_PATH).stdout.strip()
        assert mode == "600"
        assert ask(("127.0.0.1", port))["pid"] not in (one["pid"], two["pid"])

        third = c.pynix("os", "switch", "--system", gen3)
        assert third.returncode == 0, third.stderr

        def closed() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) != 0

        wait_for("the port to be closed", closed, timeout=10)


def _graph(units: dict[str, str]) -> UnitGraph:
    g = UnitGraph(unit_dir="/x")
    for name, text in units.items():
        g.units[name] = Unit(name, parse_unit_text(text, name))
    return g


def test_plan_of_changed_sockets_and_socket_activated_services() -> None:
    """A changed socket is left alone (sockets are deliberately not restarted),
    whether its service runs or not.  A changed service whose socket is active:
    the socket is restarted instead of the service (it comes at the next
    connection), unless the service is X-NotSocketActivated."""
    svc = "[Service]\nExecStart=/bin/{n}\n"
    sock = "[Socket]\nListenStream={n}\n"
    old = _graph({
        "web.socket": sock.format(n=1), "web.service": svc.format(n="w"),
        "api.socket": sock.format(n=2), "api.service": svc.format(n="a"),
        "rpc.socket": sock.format(n=3) + "Service=rpcd.service\n",
        "rpcd.service": svc.format(n="r"),
        "direct.socket": sock.format(n=4), "direct.service": svc.format(n="d"),
        "idle.socket": sock.format(n=5), "idle.service": svc.format(n="i"),
        "multi-user.target": "[Unit]\nDescription=m\n",
    })
    new = _graph({
        "web.socket": sock.format(n=10), "web.service": svc.format(n="w"),
        "api.socket": sock.format(n=2), "api.service": svc.format(n="a2"),
        "rpc.socket": sock.format(n=30) + "Service=rpcd.service\n",
        "rpcd.service": svc.format(n="r"),
        "direct.socket": sock.format(n=4),
        "direct.service": svc.format(n="d2") + "X-NotSocketActivated=true\n",
        "idle.socket": sock.format(n=50), "idle.service": svc.format(n="i"),
        "multi-user.target": "[Unit]\nDescription=m\n",
    })
    # idle.service is not running (never activated)
    active = set(old.units) - {"idle.service"}
    sw = Switcher.__new__(Switcher)
    sw.unsupported = set()
    sw.wanted_closure = lambda g, root="multi-user.target": (  # type: ignore[method-assign]
        {"multi-user.target"})
    p = sw.plan(old, new, active, persisted=False)
    assert p == Plan(stop={"api.socket", "api.service", "direct.service"},
                     start={"api.socket", "direct.service"})

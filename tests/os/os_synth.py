"""Synthetic systems for the switching tests: store paths laid out as the
toplevel contract says (``activate``, ``etc/systemd/system`` with unit files and
``.wants`` links, ``nixos-version``, ``services.json``), added to a machine's
chroot store, with services written in Python (the host's interpreter)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from pynix.store.url import open_store


def _service_python() -> str:
    """A Python for the test services that the machine namespace does not hide
    (not under /root, /tmp, /home...: those are the machine's own)."""
    for candidate in (os.path.realpath(sys.executable), "/usr/bin/python3"):
        top = candidate.split("/")[1]
        if top not in ("root", "tmp", "home", "var", "run", "etc") and os.path.exists(candidate):
            return candidate
    raise RuntimeError("no Python outside the machine's directories (install python3)")


PYTHON = _service_python()
PYNIX = str(Path(sys.executable).parent / "pynix")

# a small HTTP service: answers "<MESSAGE> uid=<uid> reloads=<n> pid=<pid>"
SERVER = r'''
import http.server, os, signal, sys
reloads = 0
def hup(signum, frame):
    global reloads
    reloads += 1
signal.signal(signal.SIGHUP, hup)
state = os.environ.get("STATE_DIRECTORY")
if state:
    with open(os.path.join(state, "started"), "a") as fh:
        fh.write("%d\n" % os.getpid())
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("%s uid=%d reloads=%d pid=%d" % (os.environ.get("MESSAGE", ""), os.getuid(),
                reloads, os.getpid())).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'''

ACTIVATE = r'''#!/bin/sh
# synthetic activation: accounts, /etc through /etc/static, the atomic flip
systemConfig="$1"
echo "activating $systemConfig ($NIXOS_ACTION)"
mkdir -p /etc /run /var/lib /var/log
cat > /etc/passwd.tmp <<EOF
root:x:0:0:root:/root:/bin/sh
svc:x:990:990:service user:/var/empty:/bin/sh
EOF
mv /etc/passwd.tmp /etc/passwd
cat > /etc/group.tmp <<EOF
root:x:0:
svc:x:990:
EOF
mv /etc/group.tmp /etc/group
ln -sfn "$systemConfig/etc" /etc/.static.tmp && mv -T /etc/.static.tmp /etc/static
mkdir -p /etc/systemd
ln -sfn /etc/static/systemd/system /etc/systemd/.system.tmp
mv -T /etc/systemd/.system.tmp /etc/systemd/system
@EXTRA@
ln -sfn "$systemConfig" /run/.current-system.tmp
mv -T /run/.current-system.tmp /run/current-system
exit ${_status:-0}
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_unit(port: int, message: str, *, server: str, extra: str = "",
                after: str = "", restart: str = "always") -> str:
    return (
        "[Unit]\nDescription=test server\n" + (f"After={after}\n" if after else "")
        + f'\n[Service]\nEnvironment="MESSAGE={message}"\n'
        f"ExecStart={PYTHON} {server} {port}\nRestart={restart}\nKillSignal=SIGTERM\n"
        + extra + "\n[Install]\nWantedBy=multi-user.target\n"
    )


class World:
    """A machine root and a way to make systems for it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "machine"
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = f"local?root={self.root}"
        self.count = 0
        # each system carries the server (a system's closure must hold what it runs)
        self.server = "/run/current-system/server.py"

    def add_file(self, name: str, text: str) -> str:
        path = self.base / name
        path.write_text(text)
        return self.add(str(path), name)

    def add(self, src: str, name: str) -> str:
        """Add to the machine's store (closed at once: its temporary roots go with it)."""
        with open_store(self.url) as store:
            return store.add_to_store(src, name)

    def system(self, units: dict[str, str], *, label: str = "test", activate_extra: str = "",
               wanted: list[str] | None = None) -> str:
        """A toplevel with these unit files, ``wanted`` (default: every service)
        wanted by multi-user.target."""
        self.count += 1
        d = self.base / f"system-src-{self.count}"
        if d.exists():
            shutil.rmtree(d)
        unit_dir = d / "etc" / "systemd" / "system"
        wants = unit_dir / "multi-user.target.wants"
        wants.mkdir(parents=True)
        (unit_dir / "multi-user.target").write_text("[Unit]\nDescription=Multi-User System\n")
        for name, text in units.items():
            (unit_dir / name).write_text(text)
        for name in (wanted if wanted is not None else
                     [n for n in units if n.endswith(".service")]):
            (wants / name).symlink_to(f"../{name}")
        (d / "server.py").write_text(SERVER)
        act = d / "activate"
        act.write_text(ACTIVATE.replace("@EXTRA@", activate_extra))
        act.chmod(0o755)
        (d / "nixos-version").write_text(label)
        (d / "system").write_text("x86_64-linux")
        (d / "services.json").write_text(json.dumps(
            {n: {"wantedBy": ["multi-user.target"], "after": [], "requires": [], "wants": []}
             for n in units}))
        return self.add(str(d), f"pynix-system-test-{label}")

    def pynix(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([PYNIX, *args], capture_output=True, text=True, timeout=timeout,
                              check=False, cwd=self.base,
                              env={**os.environ, "PYNIX_CONFIG": "", "NIX_PATH": ""})
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    def os(self, action: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.pynix("os", action, "--root", str(self.root), *args, timeout=timeout)

    def switch(self, system: str, action: str = "switch") -> subprocess.CompletedProcess[str]:
        return self.os(action, "--system", system)

    def current_system(self) -> str | None:
        try:
            return os.readlink(self.root / "run" / "current-system")
        except OSError:
            return None

    def profile_target(self) -> str | None:
        profiles = self.root / "nix" / "var" / "nix" / "profiles"
        try:
            return os.readlink(profiles / os.readlink(profiles / "system"))
        except OSError:
            return None

    def halt(self) -> None:
        self.os("halt", timeout=60)
        # whatever is left of this machine's processes (a test that failed midway)
        with contextlib.suppress(OSError):
            pid = int((self.root / "run" / "pynix" / "supervisord.pid").read_text())
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def get(port: int, timeout: float = 2, wait: float = 10) -> str:
    """The page on ``port``; a service that was just started (and so may not
    listen yet: a simple service counts as started once it runs) gets ``wait`` s."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=timeout) as r:
                return str(r.read().decode())
        except urllib.error.URLError as e:
            refused = isinstance(e.reason, ConnectionRefusedError)
            if not refused or time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def wait_for(what: str, check: Callable[[], object], timeout: float = 20) -> object:
    """Poll ``check`` until it returns something true (what it returns); an
    error it raises meanwhile is kept for the message of the timeout."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
            last = value
        except (OSError, subprocess.SubprocessError, ValueError) as e:
            last = e
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def refused(port: int) -> bool:
    """Nothing answers on ``port`` (now)."""
    try:
        get(port, timeout=1, wait=0)
    except OSError:
        return True
    return False


def line(output: str, prefix: str) -> list[str]:
    """The units of the plan line that starts with ``prefix``."""
    m = re.search("^" + re.escape(prefix) + " (.*)$", output, re.M)
    return m.group(1).split(", ") if m else []


def answer(port: int) -> dict[str, str]:
    """The server's answer as fields: message, uid, reloads, pid."""
    text = get(port)
    message, _, rest = text.partition(" uid=")
    fields = dict(kv.split("=", 1) for kv in ("uid=" + rest).split())
    fields["message"] = message
    return fields


@contextlib.contextmanager
def machine(base: Path) -> Iterator[World]:
    w = World(base)
    try:
        yield w
    finally:
        w.halt()


def timer_dues(root: Path, timer: str) -> list[float]:
    """When ``timer`` was due each time the machine's pynix-activator started its
    service (from its log: the scheduled moments, not the late start of a
    loaded machine)."""
    try:
        text = (root / "var/log/pynix/pynix-activator.log").read_text()
    except FileNotFoundError:
        return []
    pattern = re.escape(timer) + r" \(due ([0-9-]+ [0-9:.]+)\): elapsed; started "
    return [datetime.strptime(m, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()
            for m in re.findall(pattern, text)]

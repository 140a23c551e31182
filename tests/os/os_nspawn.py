"""A machine booted under real systemd: ``systemd-nspawn`` runs Debian's
systemd as PID 1 in a throwaway root that holds the host's ``/usr`` (read
only), a machine's ``/nix`` (its store and profiles) and pynix itself; the
tests enter it with ``nsenter`` and run ``pynix os`` there, at ``/``, so that
the systemd service manager is the one chosen.  The network is the host's (its
services answer on the host's 127.0.0.1) unless the container is made with
``private_network``: then it has a loopback of its own, so that services on
fixed ports (80, 5432) cannot meet another test's."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import needs
import pynix

ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
       "PYNIX_CONFIG": "", "NIX_PATH": ""}
PYNIX = str(Path(sys.executable).parent / "pynix")


def require() -> None:
    """Root, systemd-nspawn and nsenter, or (outside CI) a skip."""
    needs.root("booting a machine under systemd")
    for tool in ("systemd-nspawn", "nsenter"):
        needs.tool(tool)


def _host_dirs() -> list[str]:
    """What pynix needs from the host besides /usr: its source tree, its
    virtual environment and the Python that environment runs on."""
    source = Path(pynix.__file__).resolve().parents[2]
    dirs = {str(source), sys.prefix, sys.base_prefix,
            os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
    keep = sorted(d for d in dirs if not (d == "/usr" or d.startswith("/usr/")))
    # a directory inside another one that is bound already comes with it
    return [d for d in keep if not any(d != o and d.startswith(o + "/") for o in keep)]


class Container:
    def __init__(self, base: Path, nix: Path, private_network: bool = False) -> None:
        self.base = base
        self.nix = nix
        self.private_network = private_network
        self.root = base / "ct"
        self.proc: subprocess.Popen[bytes] | None = None
        self.leader = 0

    def _tree(self) -> None:
        r = self.root
        for d in ("usr", "etc", "var", "tmp", "run", "root", "nix", "proc", "sys", "dev"):
            (r / d).mkdir(parents=True, exist_ok=True)
        for d in ("bin", "sbin", "lib", "lib64"):
            if os.path.isdir(f"/usr/{d}"):
                (r / d).symlink_to(f"usr/{d}")
        # nspawn looks for os-release before mounting /usr; systemd sets the
        # machine id from the container's UUID when the file is empty
        shutil.copy("/usr/lib/os-release", r / "etc/os-release")
        (r / "etc/machine-id").write_text("")

    def boot(self, timeout: float = 60) -> None:
        self._tree()
        binds = [f"--bind-ro={d}" for d in _host_dirs()]
        cmd = ["systemd-nspawn", "--quiet", "--directory", str(self.root), "--boot",
               "--register=no", "--keep-unit", "--console=passive", "--bind-ro=/usr",
               *binds, f"--bind={self.nix}:/nix", f"--machine=pynix-test-{os.getpid()}"]
        if self.private_network:
            cmd.append("--private-network")
        self.log = self.base / "nspawn.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self.leader:
            if self.proc.poll() is not None:
                raise AssertionError(f"systemd-nspawn exited ({self.proc.returncode}):\n"
                                     + self.log.read_text(errors="replace"))
            if time.monotonic() > deadline:
                raise AssertionError("the container's systemd did not start:\n"
                                     + self.log.read_text(errors="replace"))
            self.leader = self._find_leader()
            if not self.leader:
                time.sleep(0.05)
        # wait until systemd has booted (degraded is fine: the container lacks hardware)
        while True:
            state = self.run("systemctl", "is-system-running", "--wait", timeout=timeout)
            if state.stdout.strip() in ("running", "degraded"):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the container did not finish booting: {state.stdout}"
                                     f"{state.stderr}")
            time.sleep(0.2)

    def _find_leader(self) -> int:
        """The container's PID 1: the child of nspawn in a PID namespace of its
        own (nspawn first forks helpers that set the container up and exit)."""
        assert self.proc is not None
        ours = os.readlink("/proc/self/ns/pid")
        with contextlib.suppress(OSError, ValueError):
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
            for pid in children.read_text().split():
                if os.readlink(f"/proc/{pid}/ns/pid") == ours:
                    continue
                if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                    return int(pid)
        return 0

    def run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a command inside the container (all its namespaces)."""
        return subprocess.run(["nsenter", "--target", str(self.leader), "--all",
                               "env", "-i", *(f"{k}={v}" for k, v in ENV.items()), *argv],
                              capture_output=True, text=True, timeout=timeout, check=False)

    def pynix(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        proc = self.run(PYNIX, *args, timeout=timeout)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    def show(self, unit: str, prop: str) -> str:
        return self.run("systemctl", "show", "-p", prop, "--value", unit).stdout.strip()

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # nspawn asks systemd to power off
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    if self.leader:
                        os.kill(self.leader, signal.SIGKILL)  # ends the PID namespace
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.proc = None


@contextlib.contextmanager
def container(base: Path, nix: Path, private_network: bool = False) -> Iterator[Container]:
    c = Container(base, nix, private_network)
    try:
        c.boot()
        yield c
    finally:
        c.stop()

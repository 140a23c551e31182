"""Fixtures of the system-module tests (``<pynix/os>``): configurations are
evaluated and built by the real pynix (in-process, like the CLI tests) in a
chroot store shared by the test workers (builds are locked per output, so
the Debian imports happen once), and activation scripts run for real, as
root, in a bubblewrap machine root that shows nothing of the host: a tmpfs
``/`` with the machine's etc, var, run, home, root and tmp directories and
the store at /nix/store (contract item 4, stricter: no host /usr either).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

import needs
from pynix.cli import nixcmd  # type: ignore[import-untyped,unused-ignore]

TRACEBACK = b"Traceback (most recent call last)"
STORE_PATH = re.compile(r"/nix/store/[0-9a-df-np-sv-z]{32}-[^/\s'\"]+")
MACHINE_DIRS = ("etc", "var", "run", "home", "root", "tmp")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Result:
    status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.status == 0


@dataclass
class OsWorld:
    """A chroot store at ``root``; ``dir`` holds the configurations."""

    root: Path
    dir: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            # one home for every test: compiled Nix files are cached by home
            "HOME": str(self.root.parent / "home"),
            "XDG_CONFIG_HOME": str(self.dir / ".config"),
            "XDG_CACHE_HOME": str(self.root.parent / "cache"),
            "NIX_PATH": "",
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "PYNIX_STORE": f"local?root={self.root}",
            "PYNIX_CONFIG": "cores = 2\nmax-jobs = 4\n",
        }

    def pynix(self, *args: str) -> Result:
        rc, out, err = nixcmd.run(list(args), env=self.env, cwd=str(self.dir))
        assert TRACEBACK not in err, err.decode(errors="replace")
        return Result(rc, out.decode(errors="replace"), err.decode(errors="replace"))

    def write(self, name: str, text: str) -> str:
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return str(path)

    def system_file(self, name: str, config: str, expr: str) -> str:
        """``name``.nix: ``EXPR`` with ``r`` the evaluation of the module
        ``config`` (written to ``name``-configuration.nix)."""
        conf = self.write(f"{name}-configuration.nix", config)
        return self.write(f"{name}.nix", (
            f"let r = import <pynix/os/eval-config.nix> {{ modules = [ {conf} ]; }};\n"
            f"    inherit (r) config options pkgs; lib = import <pynix/lib>; in\n{expr}\n"))

    def eval(self, config: str, expr: str, name: str = "eval") -> object:
        r = self.pynix("eval", "--json", "-f", self.system_file(name, config, expr))
        assert r.ok, r.stderr
        return json.loads(r.stdout)

    def eval_fails(self, config: str, expr: str, name: str = "fail") -> str:
        """The error message, each line stripped of its indentation (the
        evaluator may indent the lines of a multi-line message)."""
        r = self.pynix("eval", "--json", "-f", self.system_file(name, config, expr))
        assert not r.ok, f"the evaluation succeeded: {r.stdout[:2000]}"
        return "\n".join(line.strip() for line in r.stderr.splitlines())

    def build(self, config: str, name: str = "system",
              attr: str = "config.system.build.toplevel") -> str:
        file = self.system_file(name, config, f"r.{attr}")
        r = self.pynix("build", "--no-link", "--print-out-paths", "-j", "4", "-f", file)
        assert r.ok, r.stderr[-6000:]
        (path,) = r.stdout.split()
        return path

    def build_fails(self, config: str, name: str = "broken") -> str:
        file = self.system_file(name, config, "r.config.system.build.toplevel")
        r = self.pynix("build", "--no-link", "--print-out-paths", "-f", file)
        assert not r.ok, f"the build succeeded: {r.stdout}"
        return r.stderr

    def real(self, path: str) -> Path:
        """Where a /nix/store path of the chroot store is on the host."""
        return Path(str(self.root) + path)

    def read(self, path: str) -> str:
        """The text of a file of the chroot store, following store links."""
        return self.resolve(path).read_text()

    def resolve(self, path: str) -> Path:
        """``path`` (under /nix/store) with every link resolved inside the
        chroot store."""
        parts = [p for p in path.split("/") if p]
        current = "/"
        for _ in range(100):
            if not parts:
                return self.real(current)
            nxt = os.path.join(current, parts.pop(0))
            real = self.real(nxt)
            if real.is_symlink():
                target = os.readlink(real)
                if not target.startswith("/"):
                    target = os.path.join(os.path.dirname(nxt), target)
                parts = [p for p in target.split("/") if p] + parts
                current = "/"
            else:
                current = nxt
        raise AssertionError(f"too many links resolving {path}")


@dataclass
class Machine:
    """A machine root DIR (etc, var, run, home, root, tmp) for activation."""

    dir: Path
    store: Path  # the host directory of the store (shown at /nix/store)

    def __post_init__(self) -> None:
        for d in MACHINE_DIRS:
            (self.dir / d).mkdir(parents=True, exist_ok=True)

    def path(self, absolute: str) -> Path:
        """The host path of the machine's ``absolute`` path."""
        return self.dir / absolute.lstrip("/")

    def run(self, argv: Sequence[str], env: dict[str, str] | None = None,
            timeout: float = 120, host_usr: bool = False) -> Result:
        """``argv`` as root in the machine: a private mount namespace (and PID
        namespace) whose / is an empty tmpfs with the machine's directories
        and the store bound in. ``host_usr`` shows the host's /usr, /bin and
        /lib read-only (as the machine namespace of `pynix os` does)."""
        bwrap = needs.tool("bwrap")
        cmd = [bwrap, "--tmpfs", "/"]
        for d in MACHINE_DIRS:
            cmd += ["--bind", str(self.dir / d), f"/{d}"]
        # (bwrap makes the parents of mount points 0700: /nix must be 0755 for
        # the services' users to reach the store)
        cmd += ["--perms", "0755", "--dir", "/nix", "--ro-bind", str(self.store), "/nix/store",
                "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm",
                "--cap-add", "ALL", "--uid", "0", "--gid", "0", "--unshare-pid",
                "--unshare-ipc", "--die-with-parent"]  # fmt: skip
        if host_usr:
            for d in ("/usr", "/bin", "/lib", "/lib64", "/sbin"):
                if os.path.lexists(d):
                    cmd += ["--ro-bind", d, d] if not os.path.islink(d) else \
                        ["--symlink", os.readlink(d), d]
        for k, v in (env or {}).items():
            cmd += ["--setenv", k, v]
        proc = subprocess.run([*cmd, "--", *argv], capture_output=True, text=True,
                              timeout=timeout, check=False, env={"PATH": "/empty"})
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def activate(self, toplevel: str, action: str = "switch", dry: bool = False) -> Result:
        script = "dry-activate" if dry else "activate"
        return self.run([f"{toplevel}/{script}", toplevel], env={"NIXOS_ACTION": action})

    def passwd(self) -> dict[str, list[str]]:
        return table(self.path("/etc/passwd"))

    def group(self) -> dict[str, list[str]]:
        return table(self.path("/etc/group"))


def table(path: Path) -> dict[str, list[str]]:
    rows = [line.split(":") for line in path.read_text().splitlines() if line]
    return {r[0]: r for r in rows}


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file: name -> [(key, value)] in order."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        elif line.strip():
            key, _, value = line.partition("=")
            current.append((key, value))
    return sections


@pytest.fixture(scope="session")
def os_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One chroot store for every worker of the session (pynix locks each
    output, so parallel workers never build a path twice)."""
    needs.tool("apt-get")
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    return base / "nix-os-store" / "root"


@pytest.fixture
def world(os_store: Path, tmp_path: Path) -> OsWorld:
    work = tmp_path / "work"
    work.mkdir()
    return OsWorld(os_store, work)


@pytest.fixture
def machine(os_store: Path, tmp_path: Path) -> Machine:
    needs.root("activation")
    return Machine(tmp_path / "machine", Path(str(os_store) + "/nix/store"))

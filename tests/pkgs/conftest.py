"""Fixtures of the package collection tests: a chroot store for pynix and a
package set (``pkgs.nix``) whose bootstrap tools are the HOST's (``/bin/bash``,
``/usr`` and, when gcc is installed, a cc-wrapper around the host gcc), which
the sandbox sees through ``sandbox-paths``.

Builds run in-process with ``pynix.cli.nixcmd.run``, like the CLI tests.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

import needs
from pynix.cli import nixcmd  # type: ignore[import-untyped,unused-ignore]

TRACEBACK = b"Traceback (most recent call last)"
SH = os.path.realpath("/bin/sh")
BASH = os.path.realpath("/bin/bash")
SANDBOX_PATHS = f"/bin/sh={SH} /bin/bash={BASH} /usr /lib" + (
    " /lib64" if os.path.exists("/lib64") else ""
)


def dynamic_linker() -> str | None:
    for pattern in ("/lib64/ld-linux-*.so.*", "/lib/ld-linux-*.so.*", "/lib/*/ld-linux-*.so.*"):
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def have_cc() -> bool:
    return all(shutil.which(t) for t in ("gcc", "g++", "make")) and dynamic_linker() is not None


def require_cc() -> None:
    """Skip a test that compiles C without a host gcc; under CI it must fail."""
    if not have_cc():
        needs.unavailable("the host has no gcc/make (install build-essential) "
                          "for the C build tests")


def pkgs_nix() -> str:
    cc = "null"
    if have_cc():
        cc = ('{ gcc = "/usr"; libc = "/usr"; '
              f'dynamicLinker = "{dynamic_linker()}"; }}')
    return (
        "# the package set with the host's tools as bootstrap\n"
        "args: import <pynix/pkgs> ({\n"
        '  bootstrap = { shell = "/bin/bash"; initialPath = [ "/usr" ]; '
        f"cc = {cc}; }};\n"
        "} // args)\n"
    )


@dataclass
class Result:
    status: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.status == 0

    @property
    def err(self) -> str:
        return self.stderr.decode(errors="replace")


@dataclass
class PkgsWorld:
    """A chroot store at ``root``; ``dir`` holds pkgs.nix and the test files."""

    root: Path
    dir: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.dir),
            "XDG_CONFIG_HOME": str(self.dir / ".config"),
            "XDG_CACHE_HOME": str(self.dir / ".cache"),
            "NIX_PATH": "",
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "PYNIX_STORE": f"local?root={self.root}",
            "PYNIX_CONFIG": f"sandbox-paths = {SANDBOX_PATHS}\ncores = 2\n",
        }

    def pynix(self, *args: str) -> Result:
        r = Result(*nixcmd.run(list(args), env=self.env, cwd=str(self.dir)))
        assert TRACEBACK not in r.stderr, r.err
        return r

    def write(self, name: str, text: str) -> str:
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return name

    def expr_file(self, name: str, body: str) -> str:
        """``name`` holding ``let pkgs = import ./pkgs.nix {}; in with pkgs; BODY``."""
        return self.write(name, "let pkgs = import ./pkgs.nix { }; in\nwith pkgs;\n" + body + "\n")

    def build(self, file: str, attr: str = "") -> str:
        args = ["build", "--no-link", "--print-out-paths", "-f", file]
        r = self.pynix(*args, *([attr] if attr else []))
        assert r.ok, r.err
        (path,) = r.stdout.decode().split()
        return path

    def build_fails(self, file: str, attr: str = "") -> Result:
        args = ["build", "--no-link", "--print-out-paths", "-f", file]
        r = self.pynix(*args, *([attr] if attr else []))
        assert not r.ok, f"the build of {attr or file} succeeded"
        return r

    def eval(self, file: str, attr: str = "") -> object:
        r = self.pynix("eval", "--json", "-f", file, *([attr] if attr else []))
        assert r.ok, r.err
        return json.loads(r.stdout)

    def eval_fails(self, file: str, attr: str = "") -> Result:
        r = self.pynix("eval", "--json", "-f", file, *([attr] if attr else []))
        assert not r.ok, f"evaluating {attr or file} succeeded: {r.stdout!r}"
        return r

    def log(self, path: str) -> str:
        r = self.pynix("log", path)
        assert r.ok, r.err
        return r.stdout.decode(errors="replace")

    def real(self, path: str) -> Path:
        return Path(str(self.root) + path)


PYNIX_NIX_DIR = str(Path(nixcmd.__file__).resolve().parent.parent / "nix")


def require_nix() -> None:
    """Skip a comparison with the real Nix without it; under CI it must fail."""
    for tool in ("nix", "nix-build", "nix-instantiate"):
        needs.nix(tool)


def real_nix(tool: str, world: PkgsWorld, *args: str) -> str:
    """Run the real Nix's ``tool`` on the same files, with its own chroot
    store next to pynix's and ``<pynix>`` pointing at pynix's Nix files."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(world.dir),
        "NIX_PATH": "",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "NIX_CONFIG": "substituters =\nexperimental-features = nix-command\n"
                      f"sandbox-paths = {SANDBOX_PATHS}\ncores = 2\n",
    }
    store = str(world.root.parent / "nixroot")
    proc = subprocess.run([tool, "--store", store, "-I", f"pynix={PYNIX_NIX_DIR}", *args],
                          capture_output=True, text=True, cwd=world.dir, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def nix_path_info(world: PkgsWorld, path: str) -> dict[str, object]:
    store = str(world.root.parent / "nixroot")
    proc = subprocess.run(["nix", "--extra-experimental-features", "nix-command", "path-info",
                           "--store", store, "--json", path],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    (info,) = json.loads(proc.stdout)
    assert isinstance(info, dict)
    return info


@pytest.fixture(scope="session")
def pkgs_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One chroot store per test session (worker): stdenv is built once."""
    return tmp_path_factory.mktemp("pkgs-store") / "root"


@pytest.fixture
def pk(pkgs_store: Path, tmp_path: Path) -> PkgsWorld:
    work = tmp_path / "work"
    work.mkdir()
    (work / "pkgs.nix").write_text(pkgs_nix())
    return PkgsWorld(pkgs_store, work)

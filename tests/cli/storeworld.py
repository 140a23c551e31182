"""Helpers of the store command tests: a chroot store for pynix, the same
derivations built by the real Nix in its own chroot store (the oracle), and
ways to run both.

pynix runs in-process (``nixcmd.run``, ``nix_store.run``...) with an
environment naming its store (``PYNIX_STORE=local?root=...``, never the real
``/nix``) and its settings (``PYNIX_CONFIG``: ``/bin/sh`` and the host's
``/usr`` in the sandbox, so that builders can use coreutils).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import needs
from pynix.cli import instantiate, nix_build, nix_store, nixcmd

from .oracle import TRACEBACK, Result

SH = os.path.realpath("/bin/sh")
SANDBOX_PATHS = f"/bin/sh={SH} /usr /lib" + (" /lib64" if os.path.exists("/lib64") else "")

# Builders use dash builtins and coreutils from /usr/bin (the same binaries for
# Nix and pynix, so that outputs are bit for bit the same).
TEST_NIX = r"""
let
  mk = attrs: derivation ({ system = "x86_64-linux"; builder = "/bin/sh"; PATH = "/usr/bin"; }
                          // attrs);
in rec {
  dep = mk { name = "dep"; args = [ "-c" "echo hi > $out" ]; };
  lib = mk {
    name = "lib"; inherit dep;
    args = [ "-c" ''
      mkdir -p $out/lib $out/share
      echo "library using $dep/data" > $out/lib/config
      ln -s $dep $out/share/dep-link
      echo plain > $out/share/readme
    '' ];
  };
  top = mk {
    name = "top"; inherit dep lib;
    args = [ "-c" ''
      mkdir -p $out/bin
      echo "$lib" > $out/lib-ref
      printf '#!/bin/sh\n\001binary\002 %s/x\n' "$dep" > $out/bin/run
      chmod +x $out/bin/run
    '' ];
  };
  multi = mk {
    name = "multi"; outputs = [ "out" "dev" ]; inherit top;
    args = [ "-c" "echo $top > $out; echo $out > $dev" ];
  };
  selfref = mk { name = "selfref"; inherit dep; args = [ "-c" "echo $out $dep > $out" ]; };
  noisy = mk {
    name = "noisy";
    args = [ "-c" "echo to-stdout; echo to-stderr >&2; echo done > $out" ];
  };
  fod = mk {
    name = "fod"; args = [ "-c" "echo fixed > $out" ];
    outputHash = "sha256-DDBxQY5jVuYUiYyE7QZMqV6IVRvAgRtTS98ZUuza5TQ=";
    outputHashAlgo = "sha256"; outputHashMode = "flat";
  };
  failing = mk {
    name = "failing";
    args = [ "-c" "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line $i; done; exit 3" ];
  };
}
"""

# what the real Nix builds for the oracle (everything but 'failing')
BUILT_ATTRS = ["dep", "lib", "top", "multi", "multi.dev", "selfref", "noisy", "fod"]

STORE_PATH = re.compile(rb"/nix/store/[0-9a-z]{32}-[^\s'\"]+")


def require_nix_tools() -> None:
    for tool in ("nix", "nix-store", "nix-build", "nix-instantiate"):
        needs.nix(tool)


def nix_env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "NIX_PATH": "",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "NIX_CONFIG": "substituters =\nexperimental-features = nix-command\n"
                      f"sandbox-paths = {SANDBOX_PATHS}\n",
    }


@dataclass
class NixWorld:
    """The real Nix with a chroot store at ``root``; ``dir`` holds test.nix."""

    root: str
    dir: Path
    outputs: dict[str, str] = field(default_factory=dict)  # attribute -> output path
    drvs: dict[str, str] = field(default_factory=dict)  # attribute -> drv path

    def run(self, tool: str, *args: str, stdin: bytes = b"", check: bool = True) -> Result:
        cmd = [tool, "--store", self.root, *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, cwd=self.dir,
                              env=nix_env(self.dir), timeout=120)
        r = Result(proc.returncode, proc.stdout, proc.stderr)
        if check and not r.ok:
            raise AssertionError(f"{' '.join(cmd)} failed:\n{r.stderr.decode()}")
        return r

    def nix(self, *args: str, check: bool = True) -> Result:
        return self.run("nix", *args, check=check)

    def store(self, *args: str, stdin: bytes = b"", check: bool = True) -> Result:
        return self.run("nix-store", *args, stdin=stdin, check=check)


def make_nix_world(base: Path) -> NixWorld:
    require_nix_tools()
    base.mkdir(parents=True, exist_ok=True)
    (base / "test.nix").write_text(TEST_NIX)
    world = NixWorld(str(base / "nixroot"), base)
    for attr in BUILT_ATTRS:
        r = world.nix("build", "--json", "--no-link", "-f", "test.nix", attr)
        (entry,) = json.loads(r.stdout)
        output = "dev" if attr.endswith(".dev") else "out"
        world.outputs[attr] = entry["outputs"][output]
        world.drvs[attr] = entry["drvPath"]
    return world


def pynix_env(root: Path, home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "NIX_PATH": "",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "PYNIX_STORE": f"local?root={root}",
        "PYNIX_CONFIG": f"sandbox-paths = {SANDBOX_PATHS}\n",
    }


@dataclass
class PynixWorld:
    """A fresh chroot store for pynix; ``dir`` is the working directory."""

    root: Path
    dir: Path

    @property
    def env(self) -> dict[str, str]:
        return pynix_env(self.root, self.dir)

    def pynix(self, *args: str, stdin: bytes = b"") -> Result:
        return Result(*nixcmd.run(list(args), stdin=stdin, env=self.env, cwd=str(self.dir)))

    def store(self, *args: str, stdin: bytes = b"") -> Result:
        return Result(*nix_store.run(list(args), stdin=stdin, env=self.env, cwd=str(self.dir)))

    def build(self, *args: str) -> Result:
        return Result(*nix_build.run(list(args), env=self.env, cwd=str(self.dir)))

    def instantiate(self, *args: str) -> Result:
        return Result(*instantiate.run(list(args), env=self.env, cwd=str(self.dir)))

    def real(self, path: str) -> Path:
        return Path(str(self.root) + path)

    def ok(self, r: Result) -> bytes:
        assert r.ok, r.stderr.decode(errors="replace")
        assert TRACEBACK not in r.stderr
        return r.stdout

    def build_attrs(self, *attrs: str) -> dict[str, str]:
        """Build attributes of test.nix; attribute -> output path."""
        out: dict[str, str] = {}
        for attr in attrs:
            r = self.pynix("build", "--json", "--no-link", "-f", "test.nix", attr)
            (entry,) = json.loads(self.ok(r))
            out[attr] = entry["outputs"]["dev" if attr.endswith(".dev") else "out"]
        return out


def make_pynix_world(base: Path) -> PynixWorld:
    base.mkdir(parents=True, exist_ok=True)
    work = base / "work"
    work.mkdir(exist_ok=True)
    (work / "test.nix").write_text(TEST_NIX)
    return PynixWorld(base / "root", work)


def lines(data: bytes) -> list[str]:
    return data.decode().splitlines()

"""Helpers of the command-line tests: the real Nix as an oracle, pynix as a command.

Tests that need the real Nix skip when it is missing, except under CI (env ``CI``
set), where a missing oracle is a failure: a test that cannot run must not pass.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import needs

TRACEBACK = b"Traceback (most recent call last)"
ANSI = re.compile(rb"\x1b\[[0-9;]*m")

FIXTURE_FILES = {
    "f.nix": '{ a = { b = 1; c = "x"; }; l = [ 1 2 3 ]; f = x: x; fn = { y ? 2 }: y; '
             's = "str"; }\n',
    "fun.nix": '{ x ? 1, y }: { sum = x + y; s = "y=${toString y}"; }\n',
    "nested.nix": "{ top = { mid = { leaf = [ 1 { deep = true; } ]; }; }; "
                  "list = [ [ 1 2 ] [ ] { } ]; }\n",
    "dir/default.nix": '{ fromDir = "yes"; }\n',
    "sp/lib.nix": "{ double = x: x * 2; name = \"lib\"; }\n",
    "pkgs.nix": "{ system ? \"x86_64-linux\" }: rec {\n"
                "  hello = { pname = \"hello\"; version = \"2.12\"; inherit system; };\n"
                "  names = builtins.attrNames { inherit hello; };\n"
                "}\n",
    "home/.keep": "",
}


def base_env(fixtures: Path) -> dict[str, str]:
    """What both pynix and Nix see: small, fixed, independent of the caller."""
    home = fixtures / "home"
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "NIX_PATH": "",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
    }


@dataclass(frozen=True)
class Result:
    status: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.status == 0


def run_nix(args: list[str], *, stdin: bytes = b"", cwd: Path, timeout: float = 60) -> Result:
    """``nix ARGS`` with the nix-command feature on."""
    exe = needs.nix("nix")
    proc = subprocess.run(
        [exe, "--extra-experimental-features", "nix-command", *args],
        input=stdin, capture_output=True, env=base_env(cwd), cwd=cwd, timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def pynix_command() -> list[str]:
    exe = shutil.which("pynix")
    if exe:
        return [exe]
    return ["python3", "-c", "import sys; from pynix.cli.nixcmd import main; main(sys.argv[1:])"]


def run_pynix_command(args: list[str], *, stdin: bytes = b"", cwd: Path,
                      env: dict[str, str] | None = None, timeout: float = 60) -> Result:
    proc = subprocess.run(
        [*pynix_command(), *args], input=stdin, capture_output=True,
        env=env or base_env(cwd), cwd=cwd, timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_clean_failure(r: Result) -> None:
    """A failure reported as Nix reports one: ``error:`` first, never a traceback."""
    assert not r.ok, r
    assert r.stderr.startswith(b"error: "), r.stderr.decode(errors="replace")
    assert TRACEBACK not in r.stderr
    assert b"internal error" not in r.stderr, r.stderr.decode(errors="replace")

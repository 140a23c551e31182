"""Evaluate Nix expressions that use ``import <pynix/lib>`` with pynix (in-process) and
with the real Nix (``nix-instantiate``, the oracle), and compare the two."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import needs

NIX_DIR = Path(__file__).resolve().parents[3] / "src" / "pynix" / "nix"
PRELUDE = (
    "let lib = import <pynix/lib>; "
    "inherit (lib) mkOption types mkIf mkMerge mkForce mkDefault mkOverride mkOrder "
    "mkBefore mkAfter mkOptionDefault mkVMOverride evalModules; in "
)
TIMEOUT = 120.0


@dataclass
class Result:
    ok: bool
    stdout: str
    stderr: str

    def value(self) -> Any:
        assert self.ok, self.stderr
        return json.loads(self.stdout)


def _argv(expr: str) -> list[str]:
    return ["--eval", "--strict", "--json", "-I", f"pynix={NIX_DIR}", "-E", PRELUDE + expr]


def pynix_eval(expr: str) -> Result:
    from pynix.cli.instantiate import run

    env = dict(os.environ)
    env.pop("NIX_PATH", None)
    status, out, err = run(_argv(expr), env=env, cwd=str(NIX_DIR))
    return Result(status == 0, out.decode(), err.decode())


def nix_available() -> bool:
    """Whether the real Nix can be asked as well (in CI it must be)."""
    if shutil.which("nix-instantiate") or os.environ.get("CI"):
        needs.nix()
        return True
    return False


def nix_eval(expr: str) -> Result:
    env = dict(os.environ)
    env.pop("NIX_PATH", None)
    env["NIX_REMOTE"] = env.get("NIX_REMOTE", "")
    proc = subprocess.run(
        ["nix-instantiate", *_argv(expr)],
        capture_output=True,
        timeout=TIMEOUT,
        env=env,
        cwd=str(NIX_DIR),
    )
    return Result(proc.returncode == 0, proc.stdout.decode(), proc.stderr.decode())


def message(stderr: str) -> str:
    """The error text with the evaluators' layout removed: Nix indents continuation
    lines and appends positions and hints; only the words are compared."""
    lines = []
    for line in stderr.splitlines():
        s = line.strip()
        if s.startswith(("(use '--show-trace'", "at ", "… ")) or re.match(r"^\d+\|", s):
            continue
        lines.append(s)
    return re.sub(r"\s+", " ", " ".join(lines)).strip()


def check_cases(cases: dict[str, tuple[str, Any]]) -> None:
    """Evaluate every ``name: (expression, expected)`` at once with pynix; each
    value must be the expected one, and the real Nix must give the same set."""
    expr = "{\n" + "\n".join(f'  "{n}" = {e};' for n, (e, _) in cases.items()) + "\n}"
    got = pynix_eval(expr).value()
    for name, (_, expected) in cases.items():
        assert got[name] == expected, name
    if nix_available():
        assert nix_eval(expr).value() == got

"""Shared helpers of the store and profile tests."""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import needs
from pynix.store import LocalStore

VECTORS = Path(__file__).parents[1] / "data" / "vectors"
SRC = Path(__file__).parents[2] / "src"
WORKER = Path(__file__).with_name("worker.py")


@cache
def vectors(name: str) -> Any:
    with open(VECTORS / name, encoding="utf-8") as f:
        return json.load(f)


def build_node(node: dict[str, Any], path: Path) -> None:
    kind = node["type"]
    if kind == "regular":
        path.write_bytes(base64.b64decode(node["contents_b64"]))
        path.chmod(0o755 if node["executable"] else 0o644)
    elif kind == "symlink":
        os.symlink(node["target"], path)
    else:
        path.mkdir()
        path.chmod(0o755)
        for name, child in node["entries"].items():
            build_node(child, path / name)


def build_fixtures(root: Path) -> Path:
    for name, node in vectors("fixtures.json")["fixtures"].items():
        build_node(node, root / name)
    return root


def random_tree(path: Path, rng: random.Random, *, depth: int = 2, width: int = 4) -> Path:
    """A small tree of files (some executable), directories and symlinks."""
    path.mkdir(parents=True)
    for i in range(rng.randint(1, width)):
        kind = rng.random()
        name = f"e{i}-{rng.randint(0, 999)}"
        if kind < 0.55 or depth == 0:
            p = path / name
            p.write_bytes(rng.randbytes(rng.randint(0, 3000)))
            p.chmod(0o755 if rng.random() < 0.3 else 0o644)
        elif kind < 0.7:
            os.symlink(rng.choice(["../x", "target", "/etc/hostname", "a/b/c"]), path / name)
        else:
            random_tree(path / name, rng, depth=depth - 1, width=width)
    return path


def run_nix(args: list[str], tmp: Path) -> str:
    """Run a Nix tool with a throw-away chroot store and state (never the real /nix)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "NIX_CONF_DIR": str(tmp),
        "NIX_STATE_DIR": str(tmp / "state"),
        "NIX_LOG_DIR": str(tmp / "log"),
        "XDG_CACHE_HOME": str(tmp / "cache"),
    }
    (tmp / "nix.conf").write_text("sandbox = false\nsubstituters =\n")
    proc = subprocess.run(
        [needs.nix(args[0]), *args[1:]],
        capture_output=True, env=env, timeout=120, check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"{args} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode()


def worker_env(tmpdir: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if tmpdir is not None:
        tmpdir.mkdir(parents=True, exist_ok=True)
        env["TMPDIR"] = str(tmpdir)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def worker(*args: str, tmpdir: Path | None = None, **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start ``worker.py ARGS`` in a fresh interpreter (temporary files in ``tmpdir``)."""
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        env=worker_env(tmpdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def open_local(root: Path, **options: Any) -> LocalStore:
    return LocalStore(str(root), **options)

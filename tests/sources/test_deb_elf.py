"""Reading .deb files and ELF files: real Debian packages (``apt-get download``)
and host binaries checked against ``dpkg-deb`` and ``readelf``; damaged and
hostile inputs give errors that name the file."""

from __future__ import annotations

import glob
import io
import os
import random
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

import needs
from pynix.sources.deb import DebError, extract_data, open_deb, parse_control, read_ar
from pynix.sources.elf import ET_DYN, ET_EXEC, ElfError, is_elf, read_elf


def apt_download(dest: Path, *names: str) -> dict[str, Path]:
    """``apt-get download NAME...`` into ``dest``; name -> .deb file."""
    needs.tool("apt-get")
    dest.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["apt-get", "download", *names], cwd=dest, capture_output=True,
                          text=True, timeout=600, check=False)  # fmt: skip
    if proc.returncode != 0:
        needs.unavailable(f"apt-get download failed: {proc.stderr[-2000:]}")
    found: dict[str, Path] = {}
    for name in names:
        (match,) = glob.glob(str(dest / f"{name}_*.deb"))
        found[name] = Path(match)
    return found


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return apt_download(tmp_path_factory.mktemp("debs"), "hello", "libc6", "gawk")


# -- synthetic packages --------------------------------------------------------------


def ar_archive(members: list[tuple[str, bytes]]) -> bytes:
    out = bytearray(b"!<arch>\n")
    for name, data in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n"
        out += header.encode()
        out += data
        if len(data) % 2:
            out += b"\n"
    return bytes(out)


def tar_bytes(entries: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:xz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:  # type: ignore[call-overload]
        for info, data in entries:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def entry(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644,
          link: str = "") -> tarfile.TarInfo:  # fmt: skip
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = link
    return info


CONTROL = ("Package: synthetic\nVersion: 1.0-1\nArchitecture: amd64\n"
           "Description: a test\n long text\n")


def make_deb(
    path: Path,
    data: list[tuple[tarfile.TarInfo, bytes | None]],
    *,
    data_name: str = "data.tar.xz",
    data_bytes: bytes | None = None,
) -> Path:
    control = tar_bytes([(entry("./control"), CONTROL.encode()),
                         (entry("./postinst", mode=0o755), b"#!/bin/sh\nexit 0\n")])  # fmt: skip
    payload = data_bytes if data_bytes is not None else tar_bytes(data)
    path.write_bytes(ar_archive([("debian-binary", b"2.0\n"), ("control.tar.xz", control),
                                 (data_name, payload)]))  # fmt: skip
    return path


# -- .deb ---------------------------------------------------------------------------


def test_control_of_real_packages(debs: dict[str, Path]) -> None:
    hello = open_deb(str(debs["hello"]))
    assert hello.package == "hello"
    assert hello.version == "2.0"
    assert hello.control["Architecture"] == "amd64"
    assert "libc6" in hello.control["Depends"]
    assert hello.data_member.name.startswith("data.tar")
    if shutil.which("dpkg-deb"):
        shown = subprocess.run(["dpkg-deb", "-f", str(debs["hello"]), "Version"],
                               capture_output=True, text=True, check=False)  # fmt: skip
        assert hello.control["Version"] == shown.stdout.strip()
    libc = open_deb(str(debs["libc6"]))
    assert {"postinst", "preinst"} <= set(libc.scripts)
    gawk = open_deb(str(debs["gawk"]))
    assert "update-alternatives" in gawk.scripts["postinst"]
    # multi-line fields
    assert "\n" in hello.control["Description"]


def test_parse_control_continuations() -> None:
    fields = parse_control("Package: a\nDescription: short\n line one\n .\n line two\n\nX: y\n")
    assert fields == {"Package": "a", "Description": "short\nline one\n.\nline two"}
    with pytest.raises(ValueError):
        parse_control("no colon here\n")


def test_extract_matches_dpkg_deb(debs: dict[str, Path], tmp_path: Path) -> None:
    needs.tool("dpkg-deb")
    ours = tmp_path / "ours"
    ours.mkdir()
    deb = open_deb(str(debs["libc6"]))
    result = extract_data(deb, str(ours))
    theirs = tmp_path / "theirs"
    subprocess.run(["dpkg-deb", "-x", str(debs["libc6"]), str(theirs)], check=True)
    count = 0
    for dirpath, _dirs, files in os.walk(theirs):
        for name in files:
            t = Path(dirpath) / name
            o = ours / t.relative_to(theirs)
            if t.is_symlink():
                assert os.readlink(o) == os.readlink(t)
            else:
                assert o.read_bytes() == t.read_bytes(), o
                assert (o.stat().st_mode & 0o111) == (t.stat().st_mode & 0o111)
            count += 1
    assert count == result.files + result.hardlinks + len(result.symlinks) > 100


def test_not_an_ar_archive(tmp_path: Path) -> None:
    bad = tmp_path / "bad.deb"
    bad.write_bytes(b"PK\x03\x04 this is a zip")
    with pytest.raises(DebError, match=r"bad\.deb.*not a Debian package"):
        open_deb(str(bad))


def test_truncated_deb(debs: dict[str, Path], tmp_path: Path) -> None:
    data = debs["hello"].read_bytes()
    for cut in (8, 30, 100, 1000, len(data) // 2, len(data) - 10):
        bad = tmp_path / f"cut{cut}.deb"
        bad.write_bytes(data[:cut])
        with pytest.raises(DebError, match=rf"cut{cut}\.deb"):
            deb = open_deb(str(bad))
            out = tmp_path / f"out{cut}"
            out.mkdir()
            extract_data(deb, str(out))


def test_corrupt_deb_contents(debs: dict[str, Path], tmp_path: Path) -> None:
    members = read_ar(str(debs["hello"]))
    data = bytearray(debs["hello"].read_bytes())
    member = next(m for m in members if m.name.startswith("data.tar"))
    rng = random.Random(7)
    for _ in range(200):
        data[member.offset + member.size // 2 + rng.randrange(member.size // 3)] ^= 0xFF
    bad = tmp_path / "corrupt.deb"
    bad.write_bytes(bytes(data))
    deb = open_deb(str(bad))
    with pytest.raises(DebError, match=r"corrupt\.deb.*data\.tar"):
        out = tmp_path / "out"
        out.mkdir()
        extract_data(deb, str(out))
    # a damaged header
    header = bytearray(debs["hello"].read_bytes())
    header[8 + 58] = ord("X")
    bad.write_bytes(bytes(header))
    with pytest.raises(DebError, match="corrupt 'ar' member header"):
        open_deb(str(bad))


def test_bad_versions_and_members(tmp_path: Path) -> None:
    p = tmp_path / "v3.deb"
    p.write_bytes(ar_archive([("debian-binary", b"3.0\n")]))
    with pytest.raises(DebError, match=r"format version '3\.0'"):
        open_deb(str(p))
    p.write_bytes(ar_archive([("control.tar.xz", b"")]))
    with pytest.raises(DebError, match="debian-binary"):
        open_deb(str(p))
    p.write_bytes(ar_archive([("debian-binary", b"2.0\n")]))
    with pytest.raises(DebError, match=r"no control\.tar"):
        open_deb(str(p))


def test_zstd_is_a_clear_error(tmp_path: Path) -> None:
    deb = make_deb(tmp_path / "z.deb", [], data_name="data.tar.zst",
                   data_bytes=b"\x28\xb5\x2f\xfd not really")  # fmt: skip
    pkg = open_deb(str(deb))
    with pytest.raises(DebError, match=r"z\.deb.*zstd"):
        extract_data(pkg, str(tmp_path))


def test_other_compressions(tmp_path: Path) -> None:
    files = [(entry("./usr/bin/tool", mode=0o755), b"#!/bin/sh\n")]
    for name, mode in (("data.tar", "w"), ("data.tar.gz", "w:gz"), ("data.tar.bz2", "w:bz2")):
        deb = make_deb(tmp_path / f"{name}.deb", [], data_name=name,
                       data_bytes=tar_bytes(files, mode))  # fmt: skip
        out = tmp_path / name
        out.mkdir()
        extract_data(open_deb(str(deb)), str(out))
        assert (out / "usr/bin/tool").read_bytes() == b"#!/bin/sh\n"
        assert os.access(out / "usr/bin/tool", os.X_OK)


@pytest.mark.parametrize(
    ("members", "problem"),
    [
        ([(entry("/etc/passwd"), b"x")], "absolute path"),
        ([(entry("./usr/../../etc/passwd"), b"x")], r"contains '\.\.'"),
        ([(entry("./escape", tarfile.SYMTYPE, link="/tmp"), None),
          (entry("./escape/owned"), b"x")], "through a symbolic link"),
    ],
)
def test_unsafe_members(tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]],
                        problem: str) -> None:  # fmt: skip
    deb = make_deb(tmp_path / "evil.deb", members)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DebError, match=rf"evil\.deb.*{problem}"):
        extract_data(open_deb(str(deb)), str(out))
    assert not Path("/tmp/owned").exists()


def test_hard_link_to_a_symbolic_link_does_not_follow_it(tmp_path: Path) -> None:
    deb = make_deb(tmp_path / "h.deb", [
        (entry("./a", tarfile.SYMTYPE, link="/etc/hostname"), None),
        (entry("./b", tarfile.LNKTYPE, link="./a"), None),
    ])  # fmt: skip
    out = tmp_path / "out"
    out.mkdir()
    extract_data(open_deb(str(deb)), str(out))
    assert os.readlink(out / "b") == "/etc/hostname"
    assert os.lstat(out / "b").st_ino != os.stat("/etc/hostname").st_ino


def test_special_members(tmp_path: Path) -> None:
    dev = entry("./dev/null", tarfile.CHRTYPE)
    fifo = entry("./run/fifo", tarfile.FIFOTYPE)
    deb = make_deb(tmp_path / "s.deb", [
        (entry("./usr/bin/su", mode=0o4755), b"setuid"),
        (entry("./usr/bin/wall", mode=0o2755), b"setgid"),
        (entry("./usr/bin/su2", tarfile.LNKTYPE, link="./usr/bin/su"), None),
        (dev, None), (fifo, None),
    ])  # fmt: skip
    out = tmp_path / "out"
    out.mkdir()
    result = extract_data(open_deb(str(deb)), str(out))
    assert sorted(result.dropped_setid) == ["usr/bin/su", "usr/bin/wall"]
    for name in ("su", "wall", "su2"):
        mode = (out / "usr/bin" / name).stat().st_mode
        assert not mode & 0o6000 and mode & 0o111
    assert (out / "usr/bin/su").stat().st_ino == (out / "usr/bin/su2").stat().st_ino
    assert not (out / "dev/null").exists() and not (out / "run/fifo").exists()
    assert any("device file" in s for s in result.skipped)
    assert any("FIFO" in s for s in result.skipped)


# -- ELF ------------------------------------------------------------------------------


def readelf_facts(path: str) -> dict[str, object]:
    headers = subprocess.run(["readelf", "-h", "-l", "-d", "-W", path], capture_output=True,
                             text=True, check=False).stdout  # fmt: skip
    m = re.search(r"Type:\s+(\w+)", headers)
    interp = re.search(r"Requesting program interpreter: ([^\]]+)\]", headers)

    def tagged(tag: str) -> list[str]:
        return re.findall(rf"\({tag}\)\s+[^:\n]+: \[([^\]]*)\]", headers)

    return {
        "type": m.group(1) if m else None,
        "interpreter": interp.group(1) if interp else None,
        "needed": tagged("NEEDED"),
        "soname": (tagged("SONAME") or [None])[0],
        "rpath": (tagged("RPATH") or [None])[0],
        "runpath": (tagged("RUNPATH") or [None])[0],
    }


def host_elves() -> list[str]:
    candidates = ["/bin/ls", "/bin/sh", os.path.realpath("/usr/bin/python3"),
                  "/lib64/ld-linux-x86-64.so.2"]  # fmt: skip
    candidates += sorted(glob.glob("/usr/lib/x86_64-linux-gnu/*.so*"))[:60]
    candidates += sorted(glob.glob("/usr/lib/x86_64-linux-gnu/*/*.so*"))[:40]
    return [os.path.realpath(c) for c in candidates if os.path.isfile(c) and is_elf(c)]


def test_elf_against_readelf() -> None:
    needs.tool("readelf")
    seen_runpath = seen_interp = seen_soname = 0
    for path in dict.fromkeys(host_elves()):
        info = read_elf(path)
        facts = readelf_facts(path)
        assert {ET_EXEC: "EXEC", ET_DYN: "DYN"}.get(info.type) == facts["type"], path
        assert info.interpreter == facts["interpreter"], path
        assert info.needed == facts["needed"], path
        assert info.soname == facts["soname"], path
        assert info.rpath == facts["rpath"], path
        assert info.runpath == facts["runpath"], path
        seen_runpath += info.runpath is not None or info.rpath is not None
        seen_interp += info.interpreter is not None
        seen_soname += info.soname is not None
    assert seen_interp >= 2 and seen_soname >= 20


def test_elf_known_facts_of_ls() -> None:
    info = read_elf("/bin/ls")
    assert info.interpreter is not None and "ld-linux-x86-64.so.2" in info.interpreter
    assert "libc.so.6" in info.needed
    assert info.is_executable and info.soname is None
    libc = read_elf(os.path.realpath("/lib/x86_64-linux-gnu/libc.so.6"))
    assert libc.soname == "libc.so.6" and not libc.is_executable
    assert is_elf("/bin/ls") and not is_elf("/etc/hostname") and not is_elf("/nonexistent")


def test_truncated_and_corrupt_elf(tmp_path: Path) -> None:
    data = Path("/bin/ls").read_bytes()
    target = tmp_path / "damaged"
    for cut in (0, 3, 4, 20, 63, 64, 100, 400, 1000, 4000, len(data) // 3):
        target.write_bytes(data[:cut])
        try:
            read_elf(str(target))
        except ElfError as e:
            assert str(target) in str(e)
    rng = random.Random(1)
    for _ in range(300):
        damaged = bytearray(data[:8192])
        for _ in range(rng.randrange(1, 8)):
            damaged[rng.randrange(16, 1024)] = rng.randrange(256)
        target.write_bytes(bytes(damaged))
        try:
            read_elf(str(target))
        except ElfError as e:
            assert str(target) in str(e)
    target.write_bytes(data[:20])
    with pytest.raises(ElfError, match="truncated"):
        read_elf(str(target))


def test_unsupported_elf(tmp_path: Path) -> None:
    data = bytearray(Path("/bin/ls").read_bytes()[:4096])
    data[4] = 1  # ELFCLASS32
    p = tmp_path / "elf32"
    p.write_bytes(bytes(data))
    with pytest.raises(ElfError, match="64-bit"):
        read_elf(str(p))
    data[4], data[5] = 2, 2  # big-endian
    p.write_bytes(bytes(data))
    with pytest.raises(ElfError, match="little-endian"):
        read_elf(str(p))
    p.write_text("#!/bin/sh\n")
    with pytest.raises(ElfError, match="not an ELF file"):
        read_elf(str(p))

"""The private apt configuration and Debian/PyPI lock files.

The offline tests cover parsing (sources, records, versions, relations) and
the resolver on a made-up archive; the others use the real archive of this
machine's apt sources (a few small packages) and real pip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import needs
from pynix.cli import nixcmd
from pynix.sources.apt import (
    AptError,
    PackageRecord,
    PrivateApt,
    SourceEntry,
    compare_versions,
    default_apt_dir,
    machine_sources,
    parse_deb822,
    parse_one_line,
    parse_records,
    parse_relations,
    parse_reverse_provides,
    private_sources,
    render_sources,
)
from pynix.sources.lock import (
    LockError,
    Request,
    Resolver,
    lock_debian,
    merge_packages,
    parse_request,
    pypi_entry,
    read_lock,
    render_lock,
    write_lock,
)

# -- offline -----------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("1.0", "1.0", 0), ("1.0~rc1", "1.0", -1), ("1.0", "1.0~rc1", 1), ("1:0.1", "2.0", 1),
    ("2.10-3", "2.10-2", 1), ("1.0a", "1.0", 1), ("1.0-1", "1.0", 1), ("1.0+b1", "1.0", 1),
    ("2.36-9+deb12u14", "2.34", 1), ("1.2.10", "1.2.9", 1), ("0~", "0", -1),
    ("1.0-1~bpo1", "1.0-1", -1), ("001.02", "1.2", 0), ("1.0.", "1.0", 1), ("a", "+", -1),
    ("7.88.1-10+deb12u5", "7.88.1-10+deb12u12", -1), ("2:1.0", "1:9.9", 1),
])
def test_compare_versions(a: str, b: str, expected: int) -> None:
    assert compare_versions(a, b) == expected
    assert compare_versions(b, a) == -expected


def test_compare_versions_agrees_with_dpkg() -> None:
    dpkg = needs.tool("dpkg")
    pairs = [("1.0~~", "1.0~"), ("1.0-0", "1.0"), ("1.2a", "1.2+"), ("1:1", "1.1"),
             ("1.0.0~rc.1", "1.0.0~rc1"), ("3.0-1", "3.0-1.1"), ("10", "9a")]
    for a, b in pairs:
        for op, want in (("lt", -1), ("eq", 0), ("gt", 1)):
            ok = subprocess.run([dpkg, "--compare-versions", a, op, b]).returncode == 0
            assert ok == (compare_versions(a, b) == want), (a, op, b)


def test_parse_relations() -> None:
    groups = parse_relations("libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0, "
                             "python3:any (>= 3.11~), foo [amd64] <!nocheck>, ")
    assert [[str(a) for a in g] for g in groups] == [
        ["libc6 (>= 2.34)"], ["debconf (>= 0.5)", "debconf-2.0"],
        ["python3:any (>= 3.11~)"], ["foo"]]
    (libc,), _, (py,), _ = groups
    assert libc.satisfied_by("2.36-9") and not libc.satisfied_by("2.31-13")
    assert py.satisfied_by("3.11.2-1") and py.arch == "any"
    assert parse_relations("") == ()
    for op, version, ok in (("<<", "2.0", True), ("<<", "1.0", False), ("=", "1.0", True),
                            (">>", "1.0", False), ("<=", "1.0", True)):
        (rel,), = parse_relations(f"x ({op} {version})")
        assert rel.satisfied_by("1.0") == ok, (op, version)


SOURCES_DIR = {
    "sources.list": (
        "# a comment\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://mirror.invalid/debian "
        "bookworm main contrib\n"
        "deb http://mirror.invalid/debian bookworm-updates main\n"
        "deb-src http://mirror.invalid/debian bookworm main non-free\n"
        "deb http://other.invalid/x cloud-sdk-bookworm main\n"
    ),
    "sources.list.d/debian.sources": (
        "Types: deb\n"
        "# http://snapshot.invalid/archive\n"
        "URIs: http://mirror2.invalid/debian\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        "\n"
        "Types: deb\n"
        "URIs: http://mirror2.invalid/debian-security\n"
        "Suites: bookworm-security\n"
        "Components: main\n"
        "\n"
        "Types: deb\n"
        "URIs: http://off.invalid/debian\n"
        "Suites: bookworm\n"
        "Components: main\n"
        "Enabled: no\n"
        "\n"
        "Types: deb\n"
        "URIs: http://inline.invalid/debian\n"
        "Suites: bookworm\n"
        "Components: main\n"
        "Signed-By:\n"
        " -----BEGIN PGP PUBLIC KEY BLOCK-----\n"
        " .\n"
        " abc\n"
        " -----END PGP PUBLIC KEY BLOCK-----\n"
    ),
    "sources.list.d/ignored.list.disabled": "deb http://no.invalid/ bookworm main\n",
}


def _write_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_private_sources_keep_the_base_suite_only(tmp_path: Path) -> None:
    _write_tree(tmp_path, SOURCES_DIR)
    entries = machine_sources(str(tmp_path))
    assert len(entries) == 7  # 4 one-line entries, 3 enabled stanzas
    private = private_sources(entries, "bookworm")
    assert [(e.uris, e.components) for e in private] == [
        (("http://mirror.invalid/debian",), ("main", "contrib")),
        (("http://mirror.invalid/debian",), ("main", "non-free")),
        (("http://mirror2.invalid/debian",), ("main",)),
        (("http://inline.invalid/debian",), ("main",)),
    ]
    assert all(e.types == ("deb", "deb-src") and e.suites == ("bookworm",) for e in private)
    assert private[0].options == (("Architectures", "amd64"),
                                  ("Signed-By", "/usr/share/keyrings/k.gpg"))
    text = render_sources(private)
    assert "bookworm-updates" not in text and "security" not in text
    assert "off.invalid" not in text and "no.invalid" not in text
    # an inline key survives, continuation lines and all
    reparsed = parse_deb822(text)
    assert reparsed[3]["Signed-By"].splitlines()[1:] == [
        " -----BEGIN PGP PUBLIC KEY BLOCK-----", " .", " abc",
        " -----END PGP PUBLIC KEY BLOCK-----"]
    assert reparsed[2]["Signed-By"] == "/usr/share/keyrings/debian-archive-keyring.gpg"


def test_one_line_sources() -> None:
    (e,) = parse_one_line("deb [ trusted=yes lang=en,de ] file:/srv/repo bookworm main # x\n")
    assert e == SourceEntry(("deb",), ("file:/srv/repo",), ("bookworm",), ("main",),
                            (("Trusted", "yes"), ("Languages", "en de")))


def test_no_source_for_the_release_is_a_clear_error(tmp_path: Path) -> None:
    _write_tree(tmp_path / "etc", {"sources.list": "deb http://x.invalid/ sid main\n"})
    apt = PrivateApt(str(tmp_path / "apt"), etc_dir=str(tmp_path / "etc"), release="bookworm")
    with pytest.raises(AptError, match="no apt source of this machine serves the suite "
                                       "'bookworm'"):
        apt.ensure_updated()


def test_default_apt_dir() -> None:
    assert default_apt_dir({"PYNIX_APT_DIR": "/x/apt", "HOME": "/h"}) == "/x/apt"
    assert default_apt_dir({"XDG_CACHE_HOME": "/c", "HOME": "/h"}) == "/c/pynix/apt"
    assert default_apt_dir({"HOME": "/h"}) == "/h/.cache/pynix/apt"


RECORDS = """\
Package: hello
Version: 2.10-3
Architecture: amd64
Depends: libc6 (>= 2.34)
Description: example package based on GNU hello
Multi-Arch: foreign
Filename: pool/main/h/hello/hello_2.10-3_amd64.deb
Size: 53080
SHA256: 2e6e2f1a0007dc43bc91c273fd36e91e40a4f1c2765a03eca68b70a42103878a

Package: dash
Essential: yes
Version: 0.5.12-2
Architecture: amd64
Pre-Depends: libc6 (>= 2.34)
Provides: sh (= 1.0)
Description: POSIX-compliant shell
 The Debian Almquist Shell.
Filename: pool/main/d/dash/dash_0.5.12-2_amd64.deb
Size: 94000
SHA256: aa
"""


def test_parse_records() -> None:
    hello, dash = parse_records(RECORDS)
    assert (hello.package, hello.version, hello.architecture, hello.size) == (
        "hello", "2.10-3", "amd64", 53080)
    assert hello.filename == "pool/main/h/hello/hello_2.10-3_amd64.deb"
    assert hello.multi_arch == "foreign" and not hello.essential
    assert [str(a) for g in hello.depends for a in g] == ["libc6 (>= 2.34)"]
    assert dash.essential and dash.description == "POSIX-compliant shell"
    assert [str(p) for p in dash.provides] == ["sh (= 1.0)"]
    assert [str(a) for g in dash.pre_depends for a in g] == ["libc6 (>= 2.34)"]


def test_parse_reverse_provides() -> None:
    text = ("Package: awk\nVersions: \n\nReverse Depends: \n  base-files,awk\n"
            "Dependencies: \nProvides: \nReverse Provides: \n"
            "original-awk 2022-09-12-1 (= )\nmawk 1.3.4.20200120-3.1 (= )\n"
            "gawk 1:5.2.1-2 (= )\n")
    assert parse_reverse_provides(text) == {"awk": ["original-awk", "mawk", "gawk"]}


class FakeApt:
    """An archive made of records, for the resolver."""

    release = "bookworm"
    native_arch = "amd64"

    def __init__(self, text: str) -> None:
        self.records = parse_records(text)

    def show(self, names: Sequence[str]) -> list[PackageRecord]:
        return [r for r in self.records if r.package in names]

    def providers(self, names: Sequence[str]) -> dict[str, list[str]]:
        return {n: [r.package for r in self.records if any(p.name == n for p in r.provides)]
                for n in names}


def _stanza(name: str, version: str, **fields: str) -> str:
    lines = [f"Package: {name}", f"Version: {version}", "Architecture: amd64",
             f"Filename: pool/{name}_{version}.deb", "Size: 10", f"SHA256: {name}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in fields.items()]
    return "\n".join(lines) + "\n\n"


ARCHIVE = (
    _stanza("app", "1.0", Depends="libfoo (>= 2), awk, missing | libbar, mailer",
            Pre_Depends="libc6")
    + _stanza("libfoo", "2.1", Depends="libc6:any (>= 2.30)")
    + _stanza("libbar", "1.0")
    + _stanza("libc6", "2.36-9")
    + _stanza("gawk", "5.2", Provides="awk", Priority="optional")
    + _stanza("mawk", "1.3", Provides="awk", Priority="required")
    + _stanza("exim", "4.9", Provides="mailer (= 1)", Priority="extra")
    + _stanza("broken", "1.0", Depends="libfoo (>= 3), nothing-at-all, mailer (>= 2)")
)


def test_resolver_alternatives_and_virtual_packages() -> None:
    apt = FakeApt(ARCHIVE)
    entries = lock_debian(apt, [Request("app")])  # type: ignore[arg-type]
    assert sorted(entries) == ["app", "exim", "libbar", "libc6", "libfoo", "mawk"]
    assert entries["app"]["depends"] == ["exim", "libbar", "libc6", "libfoo", "mawk"]
    assert entries["libfoo"]["depends"] == ["libc6"]
    assert entries["app"] == {"version": "1.0", "arch": "amd64", "sha256": "app", "size": 10,
                              "filename": "pool/app_1.0.deb",
                              "depends": ["exim", "libbar", "libc6", "libfoo", "mawk"]}
    # a provider already in the closure wins over a more important one
    both = lock_debian(apt, [Request("gawk"), Request("app")])  # type: ignore[arg-type]
    assert "mawk" not in both and "gawk" in both["app"]["depends"]


def test_resolver_reports_every_unsatisfiable_dependency() -> None:
    apt = FakeApt(ARCHIVE)
    with pytest.raises(LockError) as e:
        Resolver(apt).resolve([Request("broken")])  # type: ignore[arg-type]
    msg = str(e.value)
    assert "broken 1.0 depends on 'libfoo (>= 3)', but the version of libfoo chosen is 2.1" in msg
    assert "broken 1.0 depends on 'nothing-at-all', which the archive ('bookworm') does " \
           "not have" in msg
    assert "'mailer (>= 2)'" in msg


def test_resolver_pinned_versions() -> None:
    apt = FakeApt(ARCHIVE)
    with pytest.raises(LockError, match=r"Debian package 'libfoo' version '2.0' is not "
                                        r"available from the configured archive \(it has "
                                        r"2.1\); relock it with: pynix debian lock libfoo"):
        Resolver(apt).resolve([Request("libfoo", "2.0")])  # type: ignore[arg-type]
    with pytest.raises(LockError, match=r"'awk' .*virtual: provided by gawk, mawk"):
        Resolver(apt).resolve([Request("awk")])  # type: ignore[arg-type]


def test_parse_request() -> None:
    assert parse_request("hello") == Request("hello")
    assert parse_request("libc6:amd64=2.36-9") == Request("libc6", "2.36-9", "amd64")
    for bad in ("Hello", "x=", "", "a b"):
        with pytest.raises(LockError, match="is not a Debian package name"):
            parse_request(bad)


def test_lock_file_format_and_merge(tmp_path: Path) -> None:
    path = str(tmp_path / "lock.json")
    entry = {"version": "1", "arch": "all", "sha256": "00", "size": 1, "filename": "f",
             "depends": []}
    write_lock(path, merge_packages(path, "bookworm", {"b": entry}))
    write_lock(path, merge_packages(path, "bookworm", {"a": dict(entry, version="2")}))
    text = Path(path).read_text()
    assert text.endswith("}\n") and text == render_lock(json.loads(text))
    assert text.startswith('{\n  "packages": {\n    "a": {\n      "arch": "all",')
    lock = read_lock(path)
    assert lock is not None and sorted(lock["packages"]) == ["a", "b"]
    assert lock["release"] == "bookworm" and lock["version"] == 1
    with pytest.raises(LockError, match="pins release 'bookworm', but this machine's archive "
                                        "is 'trixie'"):
        merge_packages(path, "trixie", {})
    Path(path).write_text("[1]")
    with pytest.raises(LockError, match="is not a version 1 pynix lock file"):
        read_lock(path)
    assert read_lock(str(tmp_path / "none.json")) is None


# -- the real archive --------------------------------------------------------------------


def _require_archive() -> PrivateApt:
    needs.tool("apt-get")
    apt = PrivateApt()
    try:
        apt.ensure_updated()
    except AptError as e:
        needs.unavailable(str(e))
    return apt


@pytest.fixture(scope="module")
def apt() -> PrivateApt:
    return _require_archive()


def pynix(args: list[str], cwd: Path, **env: str) -> tuple[int, str, str]:
    full = {"PATH": os.environ["PATH"], "HOME": str(cwd),
            "PYNIX_APT_DIR": default_apt_dir(), **env}
    rc, out, err = nixcmd.run(args, env=full, cwd=str(cwd))
    assert b"Traceback" not in err
    return rc, out.decode(), err.decode()


def apt_cache_show(apt: PrivateApt, name: str) -> dict[str, str]:
    """What ``apt-cache show`` says, run here by hand."""
    out = subprocess.run(["apt-cache", "-c", apt.path("apt.conf"), "show", name],
                         capture_output=True, text=True, check=True).stdout
    (stanza, *_) = [s for s in parse_deb822(out) if s.get("Architecture") in ("amd64", "all")]
    return stanza


def test_lock_hello(apt: PrivateApt, tmp_path: Path) -> None:
    rc, _, err = pynix(["debian", "lock", "hello"], tmp_path)
    assert rc == 0, err
    text = (tmp_path / "debian.lock.json").read_text()
    lock = json.loads(text)
    assert lock["version"] == 1 and lock["release"] == apt.release == "bookworm"
    packages = lock["packages"]
    assert sorted(packages) == ["gcc-12-base", "hello", "libc6", "libgcc-s1"]
    assert packages["hello"]["depends"] == ["libc6"]
    assert packages["libgcc-s1"]["depends"] == ["gcc-12-base", "libc6"]
    for name, entry in packages.items():
        shown = apt_cache_show(apt, name)
        assert entry == {"version": shown["Version"], "arch": shown["Architecture"],
                         "sha256": shown["SHA256"], "size": int(shown["Size"]),
                         "filename": shown["Filename"], "depends": entry["depends"]}
    assert packages["hello"]["version"] == "2.10-3"
    # stable: the same text again, and other entries are kept by a later lock
    rc, _, err = pynix(["debian", "lock", "hello"], tmp_path)
    assert rc == 0 and "no change" in err
    assert (tmp_path / "debian.lock.json").read_text() == text
    rc, _, err = pynix(["debian", "lock", "--lock", "debian.lock.json", "zlib1g"], tmp_path)
    assert rc == 0, err
    merged = json.loads((tmp_path / "debian.lock.json").read_text())["packages"]
    assert sorted(merged) == ["gcc-12-base", "hello", "libc6", "libgcc-s1", "zlib1g"]
    assert merged["hello"] == packages["hello"]
    rc, out, _ = pynix(["debian", "show", "hello"], tmp_path)
    assert rc == 0
    assert f"locked:  2.10-3 (amd64) sha256 {packages['hello']['sha256']}" in out
    assert "archive: 2.10-3 (amd64)" in out and "GNU hello" in out


def test_lock_picks_a_provider_of_a_virtual_package(apt: PrivateApt) -> None:
    # base-files pre-depends on 'awk', which mawk, gawk and original-awk provide
    entries = lock_debian(apt, [Request("base-files")])
    assert "mawk" in entries and "gawk" not in entries
    assert "mawk" in entries["base-files"]["depends"]


def test_lock_errors(apt: PrivateApt, tmp_path: Path) -> None:
    rc, _, err = pynix(["debian", "lock", "hello=2.10-2"], tmp_path)
    assert rc == 1
    assert err == ("error: Debian package 'hello' version '2.10-2' is not available from the "
                   "configured archive (it has 2.10-3); relock it with: pynix debian lock "
                   "hello\n")
    rc, _, err = pynix(["debian", "lock", "no-such-package-here"], tmp_path)
    assert rc == 1 and "Debian package 'no-such-package-here' is not available" in err
    rc, _, err = pynix(["debian", "lock"], tmp_path)
    assert rc == 1 and "no package names given" in err
    assert not (tmp_path / "debian.lock.json").exists()


def _snapshot(*roots: str) -> dict[str, tuple[int, int]]:
    state = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                st = os.lstat(path)
                state[path] = (st.st_mtime_ns, st.st_size)
    return state


@pytest.fixture
def fresh_apt(tmp_path: Path) -> Iterator[PrivateApt]:
    _require_archive()
    yield PrivateApt(str(tmp_path / "apt"))


def test_private_state_leaves_the_machine_alone(fresh_apt: PrivateApt, tmp_path: Path) -> None:
    before = _snapshot("/var/lib/apt", "/var/cache/apt", "/etc/apt")
    # two at once: one fetches the lists, the other waits for it and finds them fresh
    twin = PrivateApt(fresh_apt.root)
    with ThreadPoolExecutor(2) as pool:
        results = sorted(pool.map(lambda a: a.ensure_updated(), [fresh_apt, twin]))
    assert results == [False, True]
    assert fresh_apt.ensure_updated() is False  # fresh for a day
    lists = os.listdir(fresh_apt.path("state", "lists"))
    assert any(f.endswith("_dists_bookworm_InRelease") for f in lists)
    assert not any("updates" in f or "security" in f for f in lists), lists
    deb = fresh_apt.download("hello", "2.10-3", str(tmp_path / "dl"))
    assert os.path.basename(deb) == "hello_2.10-3_amd64.deb"
    assert os.path.getsize(deb) == 53080
    files = fresh_apt.source_download("hello", "2.10-3", str(tmp_path / "src"))
    names = [os.path.basename(f) for f in files]
    assert names[0] == "hello_2.10-3.dsc" and "hello_2.10.orig.tar.gz" in names
    assert _snapshot("/var/lib/apt", "/var/cache/apt", "/etc/apt") == before
    # a change of the machine's sources makes the lists stale
    etc = tmp_path / "etc"
    shutil.copytree("/etc/apt", etc, symlinks=True)
    with open(etc / "sources.list", "a") as fh:
        fh.write("deb http://extra.invalid/debian bookworm main\n")
    other = PrivateApt(fresh_apt.root, etc_dir=str(etc))
    assert other.is_fresh() is False and fresh_apt.is_fresh() is True
    # lists older than a day are refreshed; without a network the old ones still serve
    old = time.time() - 2 * 86400
    os.utime(fresh_apt.path("state", "updated"), (old, old))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("http_proxy", "http://127.0.0.1:9")
        mp.setenv("https_proxy", "http://127.0.0.1:9")
        with pytest.raises(AptError, match="apt-get update of the 'bookworm' lists failed"):
            PrivateApt(fresh_apt.root).ensure_updated(refresh=True)
        offline = PrivateApt(fresh_apt.root)
        assert offline.ensure_updated() is False
        assert [r.version for r in offline.records("hello")] == ["2.10-3"]


def test_download_of_a_missing_version_names_it(apt: PrivateApt, tmp_path: Path) -> None:
    with pytest.raises(AptError, match=re.escape(
            "downloading Debian package 'hello' version '2.10-2' failed: E: Version '2.10-2' "
            "for 'hello' was not found")):
        apt.download("hello", "2.10-2", str(tmp_path))


# -- PyPI --------------------------------------------------------------------------------


def test_pypi_entries(tmp_path: Path) -> None:
    entry = pypi_entry("six", "1.16.0")
    assert entry == {"version": "1.16.0", "filename": "six-1.16.0-py2.py3-none-any.whl",
                     "sha256": "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254",
                     "size": 11053}
    rc, _, err = pynix(["debian", "lock-pypi", "--platform", "manylinux2014_x86_64",
                        "MarkupSafe==2.1.3", "six==1.16.0"], tmp_path)
    assert rc == 0, err
    lock = json.loads((tmp_path / "debian.lock.json").read_text())
    assert lock["packages"] == {} and "release" not in lock
    assert lock["pypi"]["six"] == entry
    ms = lock["pypi"]["markupsafe"]
    assert ms["filename"] == ("MarkupSafe-2.1.3-cp311-cp311-manylinux_2_17_x86_64."
                              "manylinux2014_x86_64.whl")
    assert len(ms["sha256"]) == 64 and ms["size"] > 10000
    rc, _, err = pynix(["debian", "lock-pypi", "six==0.0.1"], tmp_path)
    assert rc == 1 and err.startswith("error: PyPI package 'six' version '0.0.1': pip "
                                      "download failed: ERROR: ")
    rc, _, err = pynix(["debian", "lock-pypi", "six"], tmp_path)
    assert rc == 1 and "'six' is not a pinned PyPI requirement (NAME==VERSION)" in err

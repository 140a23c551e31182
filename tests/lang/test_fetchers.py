"""fetchurl, fetchTarball, fetchGit and import-from-derivation.

Everything is fetched from this machine: ``file://`` URLs, a small HTTP server
on 127.0.0.1 (serving files, archives and a Git repository over Git's "dumb"
HTTP protocol) and Git repositories made here with fixed dates, so that every
hash is reproducible.  Results are checked against independently computed
store paths and NAR hashes (``pynix.compat``) and, where the real Nix 2.8 is
installed, against ``nix-instantiate --eval --strict --json`` run with a
throw-away chroot store and cache (it writes what it fetches).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import json
import os
import random
import shutil
import subprocess
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import needs
from pynix.compat.hashing import Hash, hash_file
from pynix.compat.nar import nar_hash
from pynix.compat.storepath import make_fixed_output_path
from pynix.lang.errors import NixError
from pynix.lang.evaluator import Evaluator
from pynix.lang.runtime import deep_force, force
from pynix.lang.store_api import ComputingStore
from pynix.lang.values import NixPath, NixStr, from_text, to_bytes

# ---------------------------------------------------------------------------
# fixtures: files, archives, a server, repositories

HELLO = b"Hello, world!\n"
HELLO_NIX32 = "1x9gyyamm7d9p2hm06hx9vx6gm4sd1mksxqlqfxaajl44i34q0fr"
HELLO_SRI = "sha256-2QFMRiSESqW6wxR3PWtomtRn+k4dGlChuKmdWpX3L/U="
ZERO_NIX32 = "0" * 52
ZERO_SRI = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def make_tree(root: Path) -> Path:
    """A small source tree: files, an executable, symlinks, an empty directory."""
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "default.nix").write_text('{ answer = 42; file = ./sub/data.txt; }\n')
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    (root / "sub" / "data.txt").write_text("data\n")
    (root / "sub" / "deeper" / "é.txt").write_text("unicode name\n")
    os.symlink("sub/data.txt", root / "link")
    os.symlink("/etc/absolute-target", root / "abs-link")
    return root


def tar_tree(src: Path, out: Path, mode: str, prefix: str | None = "proj") -> None:
    with tarfile.open(out, mode) as tf:
        for entry in sorted(src.rglob("*")):
            rel = entry.relative_to(src).as_posix()
            tf.add(entry, arcname=f"{prefix}/{rel}" if prefix else rel, recursive=False)


def zip_tree(src: Path, out: Path) -> None:
    with zipfile.ZipFile(out, "w") as zf:
        for entry in sorted(src.rglob("*")):
            rel = "proj/" + entry.relative_to(src).as_posix()
            st = os.lstat(entry)
            if entry.is_symlink():
                info = zipfile.ZipInfo(rel)
                info.create_system = 3
                info.external_attr = st.st_mode << 16
                zf.writestr(info, os.readlink(entry))
            elif entry.is_dir():
                info = zipfile.ZipInfo(rel + "/")
                info.create_system = 3
                info.external_attr = (st.st_mode << 16) | 0x10
                zf.writestr(info, b"")
            else:
                info = zipfile.ZipInfo(rel)
                info.create_system = 3
                info.external_attr = st.st_mode << 16
                zf.writestr(info, entry.read_bytes())


def evil_tar(out: Path, members: list[tuple[str, str, str]]) -> None:
    """A tarball of (name, kind, payload) members: kind "file" or "symlink"."""
    with tarfile.open(out, "w:gz") as tf:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = payload
                tf.addfile(info)
            else:
                data = payload.encode()
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))


GIT_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.org",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.org",
}


def git(repo: Path, *args: str, date: str = "2021-01-02T03:04:05Z") -> str:
    env = {**os.environ, **GIT_ENV, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    return subprocess.run(["git", "-C", str(repo), *args], env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def make_repo(root: Path) -> Path:
    """Two commits on main (fixed dates, so fixed hashes) and one on a side branch."""
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "a").write_text("one\n")
    (root / "d").mkdir()
    (root / "d" / "b").write_text("two\n")
    (root / "x.sh").write_text("#!/bin/sh\n")
    (root / "x.sh").chmod(0o755)
    os.symlink("a", root / "link")
    (root / ".gitattributes").write_text("secret export-ignore\n")
    (root / "secret").write_text("not exported\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    (root / "c").write_text("three\n")
    git(root, "add", "c")
    git(root, "commit", "-q", "-m", "second", date="2022-03-04T05:06:07+0200")
    git(root, "checkout", "-q", "-b", "side")
    (root / "s").write_text("side\n")
    git(root, "add", "s")
    git(root, "commit", "-q", "-m", "side", date="2022-05-06T00:00:00Z")
    git(root, "checkout", "-q", "main")
    return root


class Server:
    """A static HTTP server on 127.0.0.1 that stops by itself after a while."""

    def __init__(self, root: Path, lifetime: float = 300.0) -> None:
        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a: Any, **kw: Any) -> None:
                super().__init__(*a, directory=str(root), **kw)

            def do_GET(self) -> None:
                requests.append(self.path)
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.timer = threading.Timer(lifetime, self.stop)
        self.timer.daemon = True
        self.timer.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.timer.cancel()


class Fixtures:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = root / "files"
        self.files.mkdir()
        (self.files / "hello.txt").write_bytes(HELLO)
        self.src = make_tree(root / "src")
        for name, mode in (("one.tar.gz", "w:gz"), ("one.tar.xz", "w:xz"),
                           ("one.tar.bz2", "w:bz2"), ("one.tar", "w")):
            tar_tree(self.src, self.files / name, mode)
        zip_tree(self.src, self.files / "one.zip")
        # Nix 2.8 cannot unpack a zip with non-ASCII names (libarchive, C locale)
        self.ascii_src = root / "ascii-src"
        shutil.copytree(self.src, self.ascii_src, symlinks=True)
        (self.ascii_src / "sub" / "deeper" / "é.txt").unlink()
        zip_tree(self.ascii_src, self.files / "ascii.zip")
        tar_tree(self.src, self.files / "two.tar.gz", "w:gz", prefix=None)
        self.zstd = shutil.which("zstd") is not None
        if self.zstd:
            subprocess.run(["zstd", "-q", "-o", str(self.files / "one.tar.zst"),
                            str(self.files / "one.tar")], check=True)
        with tarfile.open(self.files / "single-file.tar.gz", "w:gz") as tf:
            tf.add(self.files / "hello.txt", arcname="hello.txt")
        evil_tar(self.files / "dotdot.tar.gz", [("p/ok", "file", "x"), ("p/../../evil", "file",
                                                                        "x")])
        evil_tar(self.files / "through-link.tar.gz",
                 [("p/l", "symlink", "/tmp"), ("p/l/evil", "file", "x")])
        self.repo = make_repo(root / "repo")
        self.rev1 = git(self.repo, "rev-parse", "HEAD~1")
        self.rev2 = git(self.repo, "rev-parse", "HEAD")
        self.side = git(self.repo, "rev-parse", "side")
        # the same repository, bare, served over Git's dumb HTTP protocol
        self.bare = self.files / "repo.git"
        subprocess.run(["git", "clone", "-q", "--bare", str(self.repo), str(self.bare)],
                       check=True, env={**os.environ, **GIT_ENV})
        git(self.bare, "update-server-info")
        self.server = Server(self.files)

    def url(self, name: str) -> str:
        return f"{self.server.base}/{name}"


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixtures]:
    f = Fixtures(tmp_path_factory.mktemp("fetch").resolve())
    yield f
    f.server.stop()


def evaluator(tmp: Path, store: ComputingStore | None = None, **kw: Any) -> Evaluator:
    """An evaluator with its own cache directory (Git clones) and captured stderr."""
    return Evaluator(cwd=str(tmp), store=store or ComputingStore(),
                     env={"HOME": str(tmp), "XDG_CACHE_HOME": str(tmp / "cache")},
                     stderr=io.BytesIO(), **kw)


def ev_json(ev: Evaluator, expr: str) -> Any:
    return plain(deep_force(ev.eval_string(from_text(expr))))


def plain(v: Any) -> Any:
    v = force(v)
    if isinstance(v, NixPath):
        return v.path
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, NixStr):
        return v.s
    return v


def error_of(ev: Evaluator, expr: str) -> str:
    with pytest.raises(NixError) as info:
        deep_force(ev.eval_string(from_text(expr)))
    return info.value.msg


def stderr_of(ev: Evaluator) -> str:
    assert isinstance(ev.stderr, io.BytesIO)
    return ev.stderr.getvalue().decode()


def flat_path(name: str, data: bytes) -> str:
    return make_fixed_output_path(name, Hash("sha256", hashlib.sha256(data).digest()), False)


def tree_path(name: str, tree: Path) -> str:
    return make_fixed_output_path(name, nar_hash(tree), True)


# ---------------------------------------------------------------------------
# fetchurl


def test_fetchurl_file_and_http(fx: Fixtures, tmp_path: Path) -> None:
    ev = evaluator(tmp_path)
    expected = flat_path("hello.txt", HELLO)
    for url in (f"file://{fx.files}/hello.txt", fx.url("hello.txt")):
        v = deep_force(ev.eval_string(from_text(f'builtins.fetchurl "{url}"')))
        assert isinstance(v, NixStr)
        assert v.s == expected
        assert v.ctx == frozenset([expected])
    named = ev_json(ev, f'builtins.fetchurl {{ url = "{fx.url("hello.txt")}"; name = "x"; '
                        f'sha256 = "{HELLO_NIX32}"; }}')
    assert named == flat_path("x", HELLO)
    # a directory reads as an empty file (as with curl); its name is the last component
    assert ev_json(ev, f'builtins.fetchurl "file://{fx.files}/"') == flat_path("files", b"")


def test_fetchurl_hashes(fx: Fixtures, tmp_path: Path) -> None:
    ev = evaluator(tmp_path)
    url = fx.url("hello.txt")
    for h in (HELLO_NIX32, HELLO_SRI, "sha256:" + HELLO_NIX32,
              hash_file("sha256", fx.files / "hello.txt").to_base16()):
        assert ev_json(ev, f'builtins.fetchurl {{ url = "{url}"; sha256 = "{h}"; }}') \
            == flat_path("hello.txt", HELLO)
    msg = error_of(ev, f'builtins.fetchurl {{ url = "{url}"; sha256 = "{ZERO_NIX32}"; }}')
    assert msg == (f"hash mismatch in file downloaded from '{url}':\n"
                   f"  specified: sha256:{ZERO_NIX32}\n"
                   f"  got:       sha256:{HELLO_NIX32}")
    msg = error_of(ev, f'builtins.fetchurl {{ url = "{url}"; sha256 = ""; }}')
    assert f"specified: sha256:{ZERO_NIX32}" in msg
    assert "warning: found empty hash, assuming 'sha256-AAAA" in stderr_of(ev)


def test_fetchurl_pinned_path_is_not_downloaded(fx: Fixtures, tmp_path: Path) -> None:
    store_dir = tmp_path / "nix" / "store"
    store_dir.mkdir(parents=True)
    store = ComputingStore(str(store_dir))
    ev = evaluator(tmp_path, store)
    pinned = make_fixed_output_path("hello.txt", Hash.parse(HELLO_SRI), False,
                                    store_dir=str(store_dir))
    Path(pinned).write_bytes(HELLO)
    before = len(fx.server.requests)
    url = fx.url("nowhere/hello.txt")
    assert ev_json(ev, f'builtins.fetchurl {{ url = "{url}"; sha256 = "{HELLO_SRI}"; }}') \
        == pinned
    assert len(fx.server.requests) == before
    # not pinned: downloaded (and fails)
    assert "HTTP error 404" in error_of(ev, f'builtins.fetchurl "{url}"')


def test_fetch_once_per_evaluation(fx: Fixtures, tmp_path: Path) -> None:
    ev = evaluator(tmp_path)
    url = fx.url("hello.txt?once")
    before = len(fx.server.requests)
    ev_json(ev, f'[ (builtins.fetchurl "{url}") (builtins.fetchurl "{url}") ]')
    assert len(fx.server.requests) == before + 1


@pytest.mark.parametrize(("expr", "message"), [
    ('builtins.fetchurl "@HTTP@/missing"',
     "unable to download '@HTTP@/missing': HTTP error 404 ('File not found')"),
    ('builtins.fetchurl "file:///nonexistent/x"',
     "unable to download 'file:///nonexistent/x': Couldn't read a file:// file (37)"),
    ('builtins.fetchurl "/tmp/x"',
     "unable to download '/tmp/x': URL using bad/illegal format or missing URL (3)"),
    ('builtins.fetchurl "gopher2://x/y"',
     "unable to download 'gopher2://x/y': Unsupported protocol (1)"),
    ('builtins.fetchurl "http://127.0.0.1:1/x"',
     "unable to download 'http://127.0.0.1:1/x': Couldn't connect to server (7)"),
    ('builtins.fetchurl { url = "@HTTP@/hello.txt"; foo = 1; }',
     "unsupported argument 'foo' to 'fetchurl'"),
    ('builtins.fetchurl { url = "@HTTP@/hello.txt"; hash = "@SRI@"; }',
     "unsupported argument 'hash' to 'fetchurl'"),
    ("builtins.fetchurl { }", "'url' argument required"),
    ("builtins.fetchurl 1", "value is an integer while a string was expected"),
    ('builtins.fetchurl { url = "@HTTP@/hello.txt"; sha256 = "abc"; }',
     "hash 'abc' has wrong length for hash type 'sha256'"),
    ('builtins.fetchurl { url = "@HTTP@/hello.txt"; name = "a b"; }',
     "store path 'mbwl2wv3d6f00v2fcy4svp9j180a5h9p-a b' contains illegal character ' '"),
    ('builtins.fetchurl "@HTTP@/"', "contains illegal character ':'"),
    ('builtins.fetchurl "file://${builtins.toFile "f" "x"}"',
     "the string 'file:///nix/store/x93g3gvygaiq7h4b6zls3w7l5az1y526-f' is not allowed to "
     "refer to a store path (such as '/nix/store/x93g3gvygaiq7h4b6zls3w7l5az1y526-f')"),
    ('builtins.fetchTarball { url = "@HTTP@/one.tar.gz"; hash = "x"; }',
     "unsupported argument 'hash' to 'fetchTarball'"),
])
def test_fetchurl_errors(fx: Fixtures, tmp_path: Path, expr: str, message: str) -> None:
    def fill(s: str) -> str:
        return s.replace("@HTTP@", fx.server.base).replace("@SRI@", HELLO_SRI)

    assert fill(message) in error_of(evaluator(tmp_path), fill(expr))


def test_pure_mode_needs_hashes(fx: Fixtures, tmp_path: Path) -> None:
    ev = evaluator(tmp_path, pure=True)
    url = fx.url("hello.txt")
    assert error_of(ev, f'builtins.fetchurl "{url}"') == \
        "in pure evaluation mode, 'fetchurl' requires a 'sha256' argument"
    assert error_of(ev, f'builtins.fetchTarball "{url}"') == \
        "in pure evaluation mode, 'fetchTarball' requires a 'sha256' argument"
    assert error_of(ev, f'builtins.fetchGit "{fx.repo}"') == \
        "in pure evaluation mode, 'fetchTree' requires a locked input"
    assert ev_json(ev, f'builtins.fetchurl {{ url = "{url}"; sha256 = "{HELLO_SRI}"; }}') \
        == flat_path("hello.txt", HELLO)
    assert ev_json(ev, f'(builtins.fetchGit {{ url = "{fx.repo}"; rev = "{fx.rev1}"; }}).rev') \
        == fx.rev1


# ---------------------------------------------------------------------------
# fetchTarball


ARCHIVES = ["one.tar.gz", "one.tar.xz", "one.tar.bz2", "one.tar", "one.zip", "one.tar.zst"]


@pytest.mark.parametrize("name", ARCHIVES)
def test_fetch_tarball_formats(fx: Fixtures, tmp_path: Path, name: str) -> None:
    if name.endswith(".zst"):
        needs.tool("zstd")
    ev = evaluator(tmp_path)
    v = deep_force(ev.eval_string(from_text(f'builtins.fetchTarball "{fx.url(name)}"')))
    expected = tree_path("source", fx.src)
    assert isinstance(v, NixStr)
    assert (v.s, v.ctx) == (expected, frozenset([expected]))


def test_fetch_tarball_hashes_and_names(fx: Fixtures, tmp_path: Path) -> None:
    ev = evaluator(tmp_path)
    nar = nar_hash(fx.src)
    url = f"file://{fx.files}/one.tar.gz"
    for h in (nar.to_nix32(), nar.to_sri(), nar.to_base16()):
        got = ev_json(ev, f'builtins.fetchTarball {{ url = "{url}"; sha256 = "{h}"; '
                          'name = "named"; }')
        assert got == tree_path("named", fx.src)
    msg = error_of(ev, f'builtins.fetchTarball {{ url = "{url}"; sha256 = "{ZERO_NIX32}"; }}')
    assert msg == (f"hash mismatch in file downloaded from '{url}':\n"
                   f"  specified: sha256:{ZERO_NIX32}\n"
                   f"  got:       sha256:{nar.to_nix32()}")
    # a tarball of one file is that file
    single = ev_json(ev, f'builtins.fetchTarball "{fx.url("single-file.tar.gz")}"')
    assert single == tree_path("source", fx.files / "hello.txt")


@pytest.mark.parametrize(("name", "message"), [
    ("two.tar.gz", "tarball '@URL@' contains an unexpected number of top-level files"),
    ("hello.txt", "failed to open archive: Unrecognized archive format"),
    ("dotdot.tar.gz", "failed to extract archive (Path contains '..')"),
    ("through-link.tar.gz", "failed to extract archive (Cannot extract through symlink p/l)"),
])
def test_fetch_tarball_errors(fx: Fixtures, tmp_path: Path, name: str, message: str) -> None:
    url = fx.url(name)
    assert error_of(evaluator(tmp_path), f'builtins.fetchTarball "{url}"') == \
        message.replace("@URL@", url)


@pytest.mark.parametrize("name", ARCHIVES)
def test_damaged_archives_fail_cleanly(fx: Fixtures, tmp_path: Path, name: str) -> None:
    if name.endswith(".zst"):
        needs.tool("zstd")
    data = (fx.files / name).read_bytes()
    rng = random.Random(name)
    for i in range(12):
        damaged = bytearray(data[: rng.randrange(1, len(data))] if i % 2 else data)
        for _ in range(rng.randint(0 if i % 2 else 1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        (tmp_path / "damaged").write_bytes(damaged)
        with contextlib.suppress(NixError):  # any other exception fails the test
            ev_json(evaluator(tmp_path), f'builtins.fetchTarball "file://{tmp_path}/damaged"')


class RecordingStore(ComputingStore):
    """Checks what fetchers hand to the store: the content and its hash agree."""

    def __init__(self) -> None:
        super().__init__()
        self.added: list[tuple[str, bool, str]] = []

    def add_fetched(self, path: str, *, name: str, recursive: bool, sha256: bytes) -> str:
        fs = to_bytes(path)
        digest = nar_hash(fs) if recursive else hash_file("sha256", fs)
        assert digest == Hash("sha256", sha256)
        self.added.append((name, recursive, path))
        shutil.move(fs, to_bytes(path) + b".moved")  # the store may take it away
        return super().add_fetched(path, name=name, recursive=recursive, sha256=sha256)


def test_fetchers_hand_verified_content_to_the_store(fx: Fixtures, tmp_path: Path) -> None:
    store = RecordingStore()
    ev = evaluator(tmp_path, store)
    ev_json(ev, f'[ (builtins.fetchurl "{fx.url("hello.txt")}") '
                f'(builtins.fetchTarball "{fx.url("one.tar.gz")}") '
                f'(builtins.fetchGit {fx.repo}).outPath ]')
    assert [(n, r) for n, r, _ in store.added] == [
        ("hello.txt", False), ("source", True), ("source", True)]
    # nothing is left behind
    assert not any(os.path.lexists(to_bytes(p) + b".moved") for _, _, p in store.added)


# ---------------------------------------------------------------------------
# fetchGit


def git_attrs(fx: Fixtures, rev: str, path: str, nar: str, count: int, modified: int,
              date: str) -> dict[str, Any]:
    return {"outPath": path, "rev": rev, "shortRev": rev[:7], "revCount": count,
            "lastModified": modified, "lastModifiedDate": date, "submodules": False,
            "narHash": nar}


def exported(repo: Path, rev: str, dest: Path) -> Path:
    """The tree of ``rev`` as git archive gives it (an independent export)."""
    dest.mkdir()
    data = subprocess.run(["git", "-C", str(repo), "archive", rev], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        tf.extractall(dest, filter="tar")
    return dest


def test_fetch_git_local(fx: Fixtures, tmp_path: Path) -> None:
    ev = evaluator(tmp_path)
    tree = exported(fx.repo, fx.rev2, tmp_path / "tree")
    assert not (tree / "secret").exists()  # export-ignore applies
    expected = git_attrs(fx, fx.rev2, tree_path("source", tree), nar_hash(tree).to_sri(), 2,
                         1646363167, "20220304030607")
    for arg in (str(fx.repo), f'"{fx.repo}"', f'"file://{fx.repo}"',
                f'{{ url = {fx.repo}; ref = "main"; }}',
                f'{{ url = "{fx.repo}"; ref = "refs/heads/main"; }}'):
        assert ev_json(ev, f"builtins.fetchGit {arg}") == expected
    v = deep_force(ev.eval_string(from_text(f"(builtins.fetchGit {fx.repo}).outPath")))
    assert isinstance(v, NixStr) and v.ctx == frozenset([v.s])
    # an older revision, a revision of another branch (local repositories need no ref)
    old = exported(fx.repo, fx.rev1, tmp_path / "old")
    assert ev_json(ev, f'builtins.fetchGit {{ url = {fx.repo}; rev = "{fx.rev1.upper()}"; '
                       'name = "old"; }') == git_attrs(
        fx, fx.rev1, tree_path("old", old), nar_hash(old).to_sri(), 1, 1609556645,
        "20210102030405")
    side = ev_json(ev, f'builtins.fetchGit {{ url = {fx.repo}; ref = "side"; }}')
    assert (side["rev"], side["revCount"]) == (fx.side, 3)
    shallow = ev_json(ev, f"builtins.fetchGit {{ url = {fx.repo}; shallow = true; }}")
    assert shallow == {**expected, "revCount": 0}


def test_fetch_git_dirty_tree(fx: Fixtures, tmp_path: Path) -> None:
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(fx.repo), str(work)], check=True,
                   env={**os.environ, **GIT_ENV})
    ev = evaluator(tmp_path)
    # untracked files alone leave the tree clean
    (work / "untracked").write_text("u\n")
    assert ev_json(ev, f"(builtins.fetchGit {work}).rev") == fx.rev2
    (work / "a").write_text("changed\n")
    (work / "d" / "b").unlink()
    ev = evaluator(tmp_path)
    got = ev_json(ev, f"builtins.fetchGit {work}")
    assert f"warning: Git tree '{work}' is dirty" in stderr_of(ev)
    expect = tmp_path / "expect"
    shutil.copytree(work, expect, symlinks=True, ignore=shutil.ignore_patterns(".git",
                                                                               "untracked"))
    assert got == {"outPath": tree_path("source", expect), "rev": "0" * 40,
                   "shortRev": "0000000", "revCount": 0, "lastModified": 1646363167,
                   "lastModifiedDate": "20220304030607", "submodules": False,
                   "narHash": nar_hash(expect).to_sri()}
    assert sorted(os.listdir(expect)) == [".gitattributes", "a", "c", "d", "link", "secret",
                                          "x.sh"]
    # a repository without commits: what is tracked, and lastModified 0
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q")
    (fresh / "f").write_text("x\n")
    (fresh / "g").write_text("y\n")
    git(fresh, "add", "f")
    got = ev_json(ev, f"builtins.fetchGit {fresh}")
    only_f = tmp_path / "only-f"
    only_f.mkdir()
    (only_f / "f").write_text("x\n")
    assert (got["outPath"], got["lastModified"]) == (tree_path("source", only_f), 0)


def test_fetch_git_remote(fx: Fixtures, tmp_path: Path) -> None:
    ev = evaluator(tmp_path)
    local = ev_json(ev, f"builtins.fetchGit {fx.repo}")
    for url in (f"file://{fx.bare}", fx.url("repo.git")):
        assert ev_json(ev, f'builtins.fetchGit {{ url = "{url}"; ref = "main"; }}') == local
    # Nix 2.8 fetches "master" from a repository that is not a local working tree
    assert error_of(ev, f'builtins.fetchGit "file://{fx.bare}"') == \
        "program 'git' failed with exit code 128"
    assert "couldn't find remote ref refs/heads/master" in stderr_of(ev)
    # a rev outside the fetched ref needs allRefs
    url = fx.url("repo.git")
    msg = error_of(ev, f'builtins.fetchGit {{ url = "{url}"; ref = "main"; rev = "{fx.side}"; }}')
    assert msg == (f"Cannot find Git revision '{fx.side}' in ref 'main' of repository '{url}'! "
                   "Please make sure that the rev exists on the ref you've specified or add "
                   "allRefs = true; to fetchGit.")
    got = ev_json(ev, f'builtins.fetchGit {{ url = "{url}"; ref = "main"; rev = "{fx.side}"; '
                      "allRefs = true; }")
    assert got["rev"] == fx.side
    # the clone is kept: a known rev is found again without the server
    before = len(fx.server.requests)
    ev2 = evaluator(tmp_path)
    assert ev_json(ev2, f'(builtins.fetchGit {{ url = "{url}"; rev = "{fx.rev1}"; }}).rev') \
        == fx.rev1
    assert len(fx.server.requests) == before


def test_fetch_git_submodules(fx: Fixtures, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    # git refuses file:// submodules unless told (CVE-2022-39253)
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "protocol.file.allow")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "always")
    outer = tmp_path / "outer"
    outer.mkdir()
    git(outer, "init", "-q", "-b", "main")
    (outer / "top").write_text("top\n")
    git(outer, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(fx.repo), "sub")
    git(outer, "add", ".")
    git(outer, "commit", "-q", "-m", "with submodule")
    ev = evaluator(tmp_path)
    without = ev_json(ev, f"builtins.fetchGit {outer}")
    assert os.listdir(exported(outer, "HEAD", tmp_path / "plain") / "sub") == []
    assert without["outPath"] == tree_path("source", tmp_path / "plain")
    with_subs = ev_json(ev, f"builtins.fetchGit {{ url = {outer}; submodules = true; }}")
    expect = tmp_path / "expect"
    exported(outer, "HEAD", expect)
    shutil.rmtree(expect / "sub")
    # a submodule is checked out, not archived: export-ignore does not apply in it
    shutil.copytree(fx.repo, expect / "sub", symlinks=True,
                    ignore=shutil.ignore_patterns(".git", "s"))
    assert with_subs["submodules"] is True
    assert with_subs["outPath"] == tree_path("source", expect)


@pytest.mark.parametrize(("arg", "message"), [
    ('{ url = @REPO@; rev = "1111111111111111111111111111111111111111"; }',
     "Cannot find Git revision '1111111111111111111111111111111111111111' in ref 'main' of "
     "repository '@REPO@'! Please make sure that the rev exists on the ref you've specified "
     "or add allRefs = true; to fetchGit."),
    ('{ url = @REPO@; rev = "abc"; }', "hash 'abc' has wrong length for hash type 'sha1'"),
    ('{ url = @REPO@; ref = "nonexistent"; }', "program 'git' failed with exit code 128"),
    ('{ url = @REPO@; ref = "a b"; }', "invalid Git branch/tag name 'a b'"),
    ('{ url = @REPO@; foo = true; }', "unsupported Git input attribute 'foo'"),
    ('{ url = @REPO@; type = "git"; }', "unexpected attribute 'type'"),
    ("{ url = @REPO@; shallow = null; }",
     "fetchTree argument 'shallow' is null while a string, Boolean or integer is expected"),
    ("{ url = @REPO@; x = 1.5; }",
     "fetchTree argument 'x' is a float while a string, Boolean or integer is expected"),
    ("{ url = @REPO@; submodules = 1; }", "input attribute 'submodules' is not a Boolean"),
    ("{ url = @REPO@; ref = 1; }",
     'input attribute \'ref\' is not a string {"ref":1,"type":"git","url":"file://@REPO@"}'),
    ("{ }", "input attribute 'url' is missing"),
    ('"relative"', "file:// URL 'file://relative' has unexpected authority 'relative'"),
    ('{ url = @REPO@; name = "a b"; }', "contains illegal character ' '"),
    ('{ url = @REPO@; narHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="; }',
     "NAR hash mismatch in input 'git+file://@REPO@' ("),
    ("{ url = @REPO@; revCount = 5; }",
     "'revCount' attribute mismatch in input 'git+file://@REPO@?ref=main&rev=@REV@', "
     "expected 5"),
    ("{ url = @REPO@; lastModified = 5; }", "'lastModified' attribute mismatch in input"),
    ("@ROOT@/files", "program 'git' failed with exit code 128"),
])
def test_fetch_git_errors(fx: Fixtures, tmp_path: Path, arg: str, message: str) -> None:
    def fill(s: str) -> str:
        return s.replace("@REPO@", str(fx.repo)).replace("@REV@", fx.rev2) \
            .replace("@ROOT@", str(fx.root))

    assert fill(message) in error_of(evaluator(tmp_path), "builtins.fetchGit " + fill(arg))


def test_fetch_git_shallow_repository(fx: Fixtures, tmp_path: Path) -> None:
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{fx.repo}", str(shallow)],
                   check=True, env={**os.environ, **GIT_ENV})
    ev = evaluator(tmp_path)
    assert error_of(ev, f"builtins.fetchGit {shallow}") == \
        f"'{shallow}' is a shallow Git repository, but a non-shallow repository is needed"
    got = ev_json(ev, f"builtins.fetchGit {{ url = {shallow}; shallow = true; }}")
    assert (got["rev"], got["revCount"]) == (fx.rev2, 0)


# ---------------------------------------------------------------------------
# fetchTree (experimental: the "git" and "tarball" inputs)


def flakes(ev: Evaluator) -> Evaluator:
    ev.experimental_features = {"flakes"}  # type: ignore[attr-defined]
    return ev


def test_fetch_tree(fx: Fixtures, tmp_path: Path) -> None:
    assert error_of(evaluator(tmp_path), f'builtins.fetchTree "git+file://{fx.repo}"') == (
        "experimental Nix feature 'flakes' is disabled; use "
        "'--extra-experimental-features flakes' to override")
    ev = flakes(evaluator(tmp_path))
    git_result = ev_json(ev, f"builtins.fetchGit {fx.repo}")
    for arg in (f'{{ type = "git"; url = "{fx.repo}"; }}', f'"git+file://{fx.repo}"',
                f'"git+file://{fx.repo}?ref=main&rev={fx.rev2}"'):
        assert ev_json(ev, f"builtins.fetchTree {arg}") == git_result
    nar = nar_hash(fx.src)
    tarball = {"outPath": tree_path("source", fx.src), "narHash": nar.to_sri()}
    for arg in (f'{{ type = "tarball"; url = "{fx.url("one.tar.gz")}"; }}',
                f'"{fx.url("one.zip")}"', f'"file://{fx.files}/one.tar.xz"',
                f'{{ type = "tarball"; url = "{fx.url("one.tar")}"; '
                f'narHash = "{nar.to_sri()}"; }}'):
        assert ev_json(ev, f"builtins.fetchTree {arg}") == tarball
    # a dirty tree has no revision
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(fx.repo), str(work)], check=True,
                   env={**os.environ, **GIT_ENV})
    (work / "a").write_text("changed\n")
    assert sorted(ev_json(ev, f'builtins.fetchTree {{ type = "git"; url = "{work}"; }}')) == [
        "lastModified", "lastModifiedDate", "narHash", "outPath", "submodules"]


@pytest.mark.parametrize(("arg", "message"), [
    ('{ type = "tarball"; url = "@HTTP@/one.tar.gz"; foo = 1; }',
     "unsupported tarball input attribute 'foo'"),
    ('{ type = "tarball"; url = "@HTTP@/one.tar.gz"; name = "x"; }',
     "attribute 'name' isn't supported in call to 'fetchTree'"),
    ('{ url = "@HTTP@/one.tar.gz"; }', "attribute 'type' is missing in call to 'fetchTree'"),
    ('{ type = "foo"; }', "cannot fetch unsupported input '{\"type\":\"foo\"}'"),
    ('"@HTTP@/hello.txt"', "input '@HTTP@/hello.txt' is unsupported"),
    ('"/some/path"', "input 'file:///some/path' is unsupported"),
    (f'{{ type = "tarball"; url = "@HTTP@/one.tar.gz"; narHash = "{ZERO_SRI}"; }}',
     f"NAR hash mismatch in input '@HTTP@/one.tar.gz?narHash={ZERO_SRI}' (/nix/store/"),
    ("1", "cannot coerce an integer to a string"),
])
def test_fetch_tree_errors(fx: Fixtures, tmp_path: Path, arg: str, message: str) -> None:
    def fill(s: str) -> str:
        return s.replace("@HTTP@", fx.server.base)

    ev = flakes(evaluator(tmp_path))
    assert fill(message) in error_of(ev, "builtins.fetchTree " + fill(arg))


# ---------------------------------------------------------------------------
# import from derivation

IFD_DRV = ('derivation { name = "ifd"; system = "x86_64-linux"; builder = "/bin/sh"; '
           'args = [ "-c" "echo 42 > $out" ]; }')


class BuildingStore(ComputingStore):
    """Computes paths and "builds" a derivation's outputs as directories holding
    ``default.nix`` = ``{ answer = 42; }``, recording every realisation."""

    def __init__(self, store_dir: str) -> None:
        super().__init__(store_dir, keep_derivations=True)
        self.realised: list[frozenset[str]] = []

    def realise_context(self, context: set[str]) -> None:
        self.realised.append(frozenset(context))
        for element in context:
            if element.startswith("!"):
                drv_path = element.split("!", 2)[2]
                text = self.texts[drv_path][0]
                assert text is not None
                out = Path(next(word for word in text.split('"')
                                if word.startswith(self.store_dir)))
                out.mkdir(exist_ok=True)
                (out / "default.nix").write_text(ANSWER)


ANSWER = "{ answer = 42; }\n"


@pytest.mark.parametrize(("expr", "result"), [
    ("import (@D@)", {"answer": 42}),
    ("builtins.scopedImport { } (@D@)", {"answer": 42}),
    ('builtins.readFile "${@D@}/default.nix"', ANSWER),
    ("builtins.pathExists (@D@)", True),
    ("builtins.readFileType (@D@)", "directory"),
    ('builtins.hashFile "sha256" "${@D@}/default.nix"',
     hashlib.sha256(ANSWER.encode()).hexdigest()),
    ("builtins.readDir (@D@)", {"default.nix": "regular"}),
    ("builtins.path { path = @D@; }", "path"),
    ("builtins.filterSource (p: t: true) (@D@)", "path"),
    ('builtins.findFile [ { path = "${@D@}"; prefix = "p"; } ] "p/default.nix"', "path"),
])
def test_import_from_derivation(tmp_path: Path, expr: str, result: Any) -> None:
    store_dir = tmp_path / "nix" / "store"
    store_dir.mkdir(parents=True)
    store = BuildingStore(str(store_dir))
    ev = evaluator(tmp_path, store)
    got = ev_json(ev, expr.replace("@D@", IFD_DRV))
    drv_path = ev_json(ev, f"({IFD_DRV}).drvPath")
    assert store.realised == [frozenset([f"!out!{drv_path}"])]
    if result == "path":
        assert isinstance(got, str) and got.startswith(str(store_dir))
    else:
        assert got == result


def test_import_from_derivation_read_only(tmp_path: Path) -> None:
    """What a store that only computes paths says (Nix 2.8's read-only wording)."""
    store_dir = tmp_path / "nix" / "store"
    store_dir.mkdir(parents=True)
    store = ComputingStore(str(store_dir), keep_derivations=True)
    ev = evaluator(tmp_path, store)
    drv_path = ev_json(ev, f"({IFD_DRV}).drvPath")
    out_path = ev_json(ev, f"({IFD_DRV}).outPath")
    assert error_of(ev, f"import ({IFD_DRV})") == f"path '{drv_path}' is not valid"
    text = store.texts[drv_path][0]
    assert text is not None
    Path(drv_path).write_bytes(to_bytes(text))
    for builtin in ("import", "builtins.readFile", "builtins.pathExists", "builtins.readDir"):
        assert error_of(ev, f"{builtin} ({IFD_DRV})") == \
            f"cannot substitute path '{out_path}' - no write access to the Nix store"
    Path(out_path).write_text("7\n")  # built by someone else
    assert ev_json(ev, f"import ({IFD_DRV})") == 7


def test_fetched_git_url_is_realised(fx: Fixtures, tmp_path: Path) -> None:
    store = BuildingStore(str(tmp_path))
    ev = evaluator(tmp_path, store)
    expr = f'builtins.fetchGit "{fx.repo}${{builtins.substring 0 0 "${{{IFD_DRV}}}"}}"'
    assert ev_json(ev, expr)["rev"] == fx.rev2
    assert len(store.realised) == 1


# ---------------------------------------------------------------------------
# against the real Nix

NIX = "nix-instantiate"


def nix_eval(exe: str, tmp: Path, expr: str, *extra: str) -> tuple[Any, str]:
    """(JSON value or None, stderr) of the real nix-instantiate, with a store and
    caches of its own (it writes what it fetches, even with --eval)."""
    env = {**os.environ, "HOME": str(tmp), "XDG_CACHE_HOME": str(tmp / "nix-cache"),
           "NIX_PATH": ""}
    proc = subprocess.run(
        [exe, "--store", str(tmp / "nix-root"), "--option", "substituters", "", *extra,
         "--eval", "--strict", "--json", "-E", expr],
        capture_output=True, text=True, env=env, timeout=60, check=False)
    return (json.loads(proc.stdout) if proc.returncode == 0 else None), proc.stderr


def oracle_exprs(fx: Fixtures) -> dict[str, str]:
    f = f"file://{fx.files}"
    show = 'r: removeAttrs r [ "outPath" ] // { path = r.outPath; }'
    exprs = {
        "url-file": f'builtins.fetchurl "{f}/hello.txt"',
        "url-http": f'builtins.fetchurl "{fx.url("hello.txt")}"',
        "url-dir": f'builtins.fetchurl "{f}/"',
        "url-named": f'builtins.fetchurl {{ url = "{f}/hello.txt"; name = "n"; '
                     f'sha256 = "{HELLO_NIX32}"; }}',
        "url-query": f'builtins.fetchurl "{fx.url("hello.txt?x=1")}"',
        "single-file": f'builtins.fetchTarball "{f}/single-file.tar.gz"',
        "tarball-named": f'builtins.fetchTarball {{ url = "{f}/one.tar.gz"; name = "n"; }}',
        "git": f"({show}) (builtins.fetchGit {fx.repo})",
        "git-rev": f'({show}) (builtins.fetchGit {{ url = {fx.repo}; rev = "{fx.rev1}"; }})',
        "git-ref": f'({show}) (builtins.fetchGit {{ url = "{fx.repo}"; ref = "side"; '
                   'name = "n"; })',
        "git-shallow": f"({show}) (builtins.fetchGit {{ url = {fx.repo}; shallow = true; }})",
        "git-bare": f'({show}) (builtins.fetchGit {{ url = "file://{fx.bare}"; '
                    'ref = "main"; })',
        "git-http": f'({show}) (builtins.fetchGit {{ url = "{fx.url("repo.git")}"; '
                    'ref = "refs/heads/main"; })',
        "git-all-refs": f'({show}) (builtins.fetchGit {{ url = "{fx.url("repo.git")}"; '
                        f'ref = "main"; rev = "{fx.side}"; allRefs = true; }})',
        "git-attrs": f"builtins.attrNames (builtins.fetchGit {fx.repo})",
    }
    for name in [*ARCHIVES, "ascii.zip"]:
        if name != "one.zip" and (fx.zstd or not name.endswith(".zst")):
            exprs["tarball-" + name] = f'builtins.fetchTarball "{fx.url(name)}"'
    return exprs


def test_oracle_values(fx: Fixtures, tmp_path: Path) -> None:
    exe = needs.nix(NIX)
    exprs = oracle_exprs(fx)
    whole = "{ " + " ".join(f'"{k}" = {v};' for k, v in exprs.items()) + " }"
    expected, stderr = nix_eval(exe, tmp_path, whole)
    assert expected is not None, stderr
    got = ev_json(evaluator(tmp_path), whole)
    assert got == expected


def test_oracle_dirty_tree(fx: Fixtures, tmp_path: Path) -> None:
    exe = needs.nix(NIX)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(fx.repo), str(work)], check=True,
                   env={**os.environ, **GIT_ENV})
    (work / "a").write_text("changed\n")
    (work / "new").write_text("untracked\n")
    os.unlink(work / "d" / "b")
    expr = f'removeAttrs (builtins.fetchGit {work}) [ "outPath" ]'
    expected, stderr = nix_eval(exe, tmp_path, f"[ ({expr}) (builtins.fetchGit {work}).outPath ]")
    assert expected is not None, stderr
    ev = evaluator(tmp_path)
    assert ev_json(ev, f"[ ({expr}) (builtins.fetchGit {work}).outPath ]") == expected
    assert f"warning: Git tree '{work}' is dirty" in stderr
    assert f"warning: Git tree '{work}' is dirty" in stderr_of(ev)


ORACLE_ERRORS = [
    f'builtins.fetchurl {{ url = "file://@F@/hello.txt"; sha256 = "{ZERO_NIX32}"; }}',
    f'builtins.fetchTarball {{ url = "file://@F@/one.tar.gz"; sha256 = "{HELLO_SRI}"; }}',
    'builtins.fetchurl "@HTTP@/missing"',
    'builtins.fetchurl "file:///nonexistent"',
    'builtins.fetchurl { url = "file://@F@/hello.txt"; hash = "x"; }',
    'builtins.fetchTarball "file://@F@/two.tar.gz"',
    'builtins.fetchTarball "file://@F@/hello.txt"',
    'builtins.fetchGit { url = @REPO@; rev = "1111111111111111111111111111111111111111"; }',
    'builtins.fetchGit { url = "@REPO@"; ref = "a b"; }',
    "builtins.fetchGit { url = @REPO@; foo = 1; }",
    "builtins.fetchGit { url = @REPO@; ref = 1; }",
    f'builtins.fetchGit {{ url = @REPO@; narHash = "{ZERO_SRI}"; }}',
    "builtins.fetchGit { url = @REPO@; revCount = 5; }",
    'builtins.fetchGit "file://@BARE@"',
    'builtins.fetchGit "relative"',
]


@pytest.mark.parametrize("expr", ORACLE_ERRORS)
def test_oracle_errors(fx: Fixtures, tmp_path: Path, expr: str) -> None:
    exe = needs.nix(NIX)
    expr = expr.replace("@F@", str(fx.files)).replace("@HTTP@", fx.server.base) \
        .replace("@REPO@", str(fx.repo)).replace("@BARE@", str(fx.bare))
    value, stderr = nix_eval(exe, tmp_path, expr)
    assert value is None
    # Nix's message: from "error: " to the code frame or the trace hint, re-indented
    text = stderr[stderr.index("error: ") + len("error: "):]
    text = text.split("\n\n       at ")[0].split("\n(use '--show-trace'")[0]
    text = text.replace(str(tmp_path / "nix-root"), "")  # the chroot store's real paths
    lines = [line.strip() for line in text.strip().split("\n")]
    ours = [line.strip() for line in error_of(evaluator(tmp_path), expr).split("\n")]
    assert ours == lines


def test_oracle_fetch_tree(fx: Fixtures, tmp_path: Path) -> None:
    exe = needs.nix(NIX)
    exprs = [
        f'builtins.fetchTree {{ type = "git"; url = "{fx.repo}"; }}',
        f'builtins.fetchTree "git+file://{fx.repo}?ref=side"',
        f'builtins.fetchTree {{ type = "tarball"; url = "{fx.url("one.tar.gz")}"; }}',
        f'builtins.fetchTree "file://{fx.files}/ascii.zip"',
    ]
    whole = "[ " + " ".join(f'(removeAttrs ({e}) [ "outPath" ] // {{ p = ({e}).outPath; }})'
                            for e in exprs) + " ]"
    expected, stderr = nix_eval(exe, tmp_path, whole, "--extra-experimental-features", "flakes")
    assert expected is not None, stderr
    assert ev_json(flakes(evaluator(tmp_path)), whole) == expected

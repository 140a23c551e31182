"""The package set's fetchurl, fetchzip and fetchgit: real downloads from a server
on 127.0.0.1 and a real local git repository, each checked against its hash."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import subprocess
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pynix.compat.hashing import Hash
from pynix.compat.nar import nar_hash

from .conftest import PkgsWorld


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A directory served over HTTP on 127.0.0.1 (stopped after the test)."""
    files = tmp_path / "www"
    files.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(files)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", files
    finally:
        server.shutdown()
        server.server_close()


def make_tree(root: Path) -> Path:
    (root / "pkg-1.0" / "src").mkdir(parents=True)
    (root / "pkg-1.0" / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    (root / "pkg-1.0" / "configure").write_text("#!/bin/sh\necho configured\n")
    (root / "pkg-1.0" / "configure").chmod(0o755)
    (root / "pkg-1.0" / "link").symlink_to("src/main.c")
    return root / "pkg-1.0"


def sri_nar(path: Path) -> str:
    return nar_hash(str(path), "sha256").to_sri()


def test_fetchurl(pk: PkgsWorld, served: tuple[str, Path]) -> None:
    url, files = served
    (files / "data.txt").write_bytes(b"some data\n")
    sri = Hash("sha256", hashlib.sha256(b"some data\n").digest()).to_sri()
    pk.expr_file("u.nix", f'fetchurl {{ url = "{url}/data.txt"; hash = "{sri}"; }}')
    out = pk.build("u.nix")
    assert out.endswith("-data.txt")
    assert Path(str(pk.root) + out).read_bytes() == b"some data\n"
    # the old sha256 attribute (nix32) works too; a wrong hash names both
    nix32 = Hash.parse(sri).to_nix32()
    pk.expr_file("u2.nix", f'fetchurl {{ url = "{url}/data.txt"; sha256 = "{nix32}"; }}')
    assert pk.build("u2.nix") == out
    wrong = Hash("sha256", b"\0" * 32).to_sri()
    pk.expr_file("bad.nix", f'fetchurl {{ url = "{url}/data.txt"; hash = "{wrong}"; }}')
    err = pk.build_fails("bad.nix").err
    assert wrong in err and sri in err
    pk.expr_file("nohash.nix", f'fetchurl {{ url = "{url}/data.txt"; }}')
    assert "no hash given" in pk.build_fails("nohash.nix").err


@pytest.mark.parametrize("kind", ["tar.gz", "tar.xz", "zip"])
def test_fetchzip_unpacks_and_strips_the_root(pk: PkgsWorld, served: tuple[str, Path],
                                             tmp_path: Path, kind: str) -> None:
    url, files = served
    tree = make_tree(tmp_path / "tree")
    name = f"pkg-1.0.{kind}"
    if kind == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for path in sorted(tree.parent.rglob("*")):
                rel = str(path.relative_to(tree.parent))
                if path.is_symlink():
                    info = zipfile.ZipInfo(rel)
                    info.external_attr = 0o120777 << 16
                    z.writestr(info, os.readlink(path))
                elif path.is_file():
                    z.write(path, rel)
        (files / name).write_bytes(buf.getvalue())
    else:
        with tarfile.open(files / name, "w:" + kind.split(".")[1]) as tar:
            tar.add(tree, arcname="pkg-1.0")
    expected = sri_nar(tree)
    pk.expr_file("z.nix", f'fetchzip {{ url = "{url}/{name}"; hash = "{expected}"; }}')
    out = pk.build("z.nix")
    assert out.endswith("-pkg-1.0")
    real = Path(str(pk.root) + out)
    assert (real / "src" / "main.c").read_text().startswith("int main")
    assert os.access(real / "configure", os.X_OK)
    assert os.readlink(real / "link") == "src/main.c"
    # without stripping, the top-level directory stays
    whole = sri_nar(tree.parent)
    pk.expr_file("z2.nix", f'fetchzip {{ url = "{url}/{name}"; hash = "{whole}"; '
                           f'stripRoot = false; name = "whole"; }}')
    assert (Path(str(pk.root) + pk.build("z2.nix")) / "pkg-1.0" / "configure").exists()


def test_fetchzip_refuses_what_it_cannot_unpack(pk: PkgsWorld, served: tuple[str, Path]) -> None:
    url, files = served
    (files / "junk.tar.gz").write_bytes(b"this is not an archive")
    some = Hash("sha256", b"\1" * 32).to_sri()
    pk.expr_file("j.nix", f'fetchzip {{ url = "{url}/junk.tar.gz"; hash = "{some}"; }}')
    assert "cannot unpack" in pk.build_fails("j.nix").err
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escape")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    (files / "evil.tar.gz").write_bytes(evil.getvalue())
    pk.expr_file("e.nix", f'fetchzip {{ url = "{url}/evil.tar.gz"; hash = "{some}"; }}')
    assert "cannot unpack" in pk.build_fails("e.nix").err


def test_fetchgit_of_a_local_repository(pk: PkgsWorld, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@localhost"}

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], env=env, check=True,
                              capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    (repo / "README").write_text("first\n")
    git("add", "README")
    git("commit", "-qm", "one")
    rev = git("rev-parse", "HEAD")
    (repo / "README").write_text("second\n")
    git("commit", "-qam", "two")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "README").write_text("first\n")
    expected = sri_nar(checkout)
    pk.expr_file("g.nix", f'fetchgit {{ url = "{repo}"; rev = "{rev}"; hash = "{expected}"; }}')
    out = pk.eval("g.nix", "outPath")
    assert isinstance(out, str) and out.endswith("-source")
    # a build that uses it sees the checkout
    pk.expr_file("r.nix", 'runCommand "uses-it" { } "cp ${import ./g.nix}/README $out"')
    assert Path(str(pk.root) + pk.build("r.nix")).read_text() == "first\n"
    wrong = Hash("sha256", b"\0" * 32).to_sri()
    pk.expr_file("g2.nix", f'fetchgit {{ url = "{repo}"; rev = "{rev}"; hash = "{wrong}"; }}')
    err = pk.eval_fails("g2.nix", "outPath").err
    assert "hash mismatch" in err and wrong in err and expected in err

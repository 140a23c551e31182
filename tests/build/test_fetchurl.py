"""``builtin:fetchurl`` (what ``<nix/fetchurl.nix>`` makes): file:// and http://
downloads, ``executable`` and ``unpack``, and the fixed-output hash check."""

from __future__ import annotations

import hashlib
import http.server
import lzma
import os
import threading
from collections.abc import Iterator

import pytest

from pynix.build.scheduler import BuildStatus
from pynix.compat.derivation import Derivation, DerivationOutput
from pynix.compat.hashing import Hash
from pynix.compat.nar import NarDirectory, NarRegular, NarSymlink, dump_tree, nar_hash

from .conftest import Env

PAYLOAD = b"downloaded bytes\n"


def fetchurl_drv(env: Env, url: str, digest: Hash, *, executable: bool = False,
                 unpack: bool = False, name: str = "file") -> str:  # fmt: skip
    recursive = executable or unpack
    algo = ("r:" if recursive else "") + digest.algo
    drv = Derivation(
        outputs={"out": DerivationOutput("", algo, digest.to_base16())},
        platform="builtin",
        builder="builtin:fetchurl",
        env={
            "builder": "builtin:fetchurl",
            "executable": "1" if executable else "",
            "impureEnvVars": "http_proxy https_proxy ftp_proxy all_proxy no_proxy",
            "name": name,
            "out": "",
            "outputHash": digest.to_sri(),
            "outputHashMode": "recursive" if recursive else "flat",
            "preferLocalBuild": "1",
            "system": "builtin",
            "unpack": "1" if unpack else "",
            "url": url,
            "urls": url,
        },
    )
    drv = env.hasher.with_output_paths(drv)
    return env.store.add_derivation(drv, name)


@pytest.fixture
def http_root(tmp_path: object) -> Iterator[tuple[str, str]]:
    root = os.path.join(str(tmp_path), "www")
    os.makedirs(root)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, directory=root, **kw)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_file_url(env: Env, tmp_path: object) -> None:
    src = os.path.join(str(tmp_path), "src.txt")
    with open(src, "wb") as fh:
        fh.write(PAYLOAD)
    digest = Hash("sha256", hashlib.sha256(PAYLOAD).digest())
    drv = fetchurl_drv(env, "file://" + src, digest)
    report = env.build(drv, sandbox_paths=[])  # needs no shell
    assert report.success, report.results[drv].error
    out = env.out(drv)
    with open(env.real(out), "rb") as fh:
        assert fh.read() == PAYLOAD
    info = env.store.query_path_info(out)
    assert info.ca == f"fixed:sha256:{digest.to_nix32()}"
    assert env.scheduler().read_log(drv) == f"downloading 'file://{src}'...\n".encode()


def test_http_url_executable(env: Env, http_root: tuple[str, str]) -> None:
    base, root = http_root
    with open(os.path.join(root, "tool"), "wb") as fh:
        fh.write(PAYLOAD)
    tree = dump_tree(NarRegular(PAYLOAD, executable=True))
    digest = Hash("sha512", hashlib.sha512(tree).digest())
    drv = fetchurl_drv(env, base + "/tool", digest, executable=True, name="tool")
    report = env.build(drv)
    assert report.success, report.results[drv].error
    real = env.real(env.out(drv))
    assert os.stat(real).st_mode & 0o777 == 0o555


def test_unpack_xz_nar(env: Env, http_root: tuple[str, str]) -> None:
    base, root = http_root
    tree = NarDirectory({b"a": NarRegular(b"A\n"), b"l": NarSymlink(b"a")})
    nar = dump_tree(tree)
    with open(os.path.join(root, "thing.nar.xz"), "wb") as fh:
        fh.write(lzma.compress(nar))
    digest = Hash("sha256", hashlib.sha256(nar).digest())
    drv = fetchurl_drv(env, base + "/thing.nar.xz", digest, unpack=True, name="thing")
    report = env.build(drv)
    assert report.success, report.results[drv].error
    real = env.real(env.out(drv))
    assert nar_hash(real) == digest
    assert os.readlink(os.path.join(real, "l")) == "a"


def test_hash_mismatch_and_http_errors(env: Env, http_root: tuple[str, str]) -> None:
    base, root = http_root
    with open(os.path.join(root, "f"), "wb") as fh:
        fh.write(b"not what you expected\n")
    wanted = Hash("sha256", hashlib.sha256(PAYLOAD).digest())
    drv = fetchurl_drv(env, base + "/f", wanted, name="f")
    result = env.build(drv).results[drv]
    assert result.status == BuildStatus.FAILED
    got = Hash("sha256", hashlib.sha256(b"not what you expected\n").digest())
    assert f"specified: {wanted.to_sri()}" in (result.error or "")
    assert f"got:    {got.to_sri()}" in (result.error or "")
    assert not env.store.is_valid_path(env.out(drv))
    assert not os.path.lexists(env.real(env.out(drv)))

    missing = fetchurl_drv(env, base + "/nope", wanted, name="nope")
    result = env.build(missing).results[missing]
    assert result.status == BuildStatus.FAILED
    assert "HTTP error 404" in (result.error or "")

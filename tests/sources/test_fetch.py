"""``builtin:fetch-deb`` and ``builtin:fetch-pypi`` through ``fetch-deb.nix`` and
``fetch-pypi.nix``, built by ``pynix build`` in a chroot store."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

import needs
from pynix.cli import nixcmd
from pynix.sources.apt import AptError, PrivateApt, default_apt_dir
from pynix.sources.fetch import SourceFetchError, pip_args_for
from pynix.sources.lock import Request, lock_debian

ZERO = "0" * 64


@pytest.fixture(scope="module")
def hello_lock() -> dict[str, dict[str, object]]:
    needs.tool("apt-get")
    try:
        return lock_debian(PrivateApt(), [Request("hello")])
    except AptError as e:
        needs.unavailable(str(e))


class Store:
    def __init__(self, base: Path) -> None:
        self.root = base / "store"
        self.env = {"PATH": os.environ["PATH"], "HOME": str(base),
                    "PYNIX_STORE": f"local?root={self.root}",
                    "PYNIX_APT_DIR": default_apt_dir()}
        self.cwd = str(base)

    def run(self, *args: str) -> tuple[int, str, str]:
        rc, out, err = nixcmd.run(list(args), env=self.env, cwd=self.cwd)
        assert b"Traceback" not in err
        return rc, out.decode(), err.decode()

    def build(self, expr: str) -> tuple[int, str, str]:
        return self.run("build", "--no-link", "--print-out-paths", "--expr", expr)

    def real(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def store_names(self) -> list[str]:
        d = self.root / "nix" / "store"
        return sorted(n for n in os.listdir(d) if not n.startswith(".")) if d.exists() else []

    def assert_not_valid(self, expr: str) -> None:
        rc, out, err = self.run("eval", "--raw", "--expr", f"({expr}).outPath")
        assert rc == 0, err
        assert not self.real(out).exists()
        rc, _, err = self.run("path-info", out)
        assert rc != 0 and "is not valid" in err


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path)


def fetch_deb(package: str, version: str, sha256: str, arch: str = "amd64") -> str:
    return (f'import <pynix/pkgs/build-support/fetch-deb.nix> {{ package = "{package}"; '
            f'version = "{version}"; arch = "{arch}"; sha256 = "{sha256}"; }}')


def fetch_pypi(pname: str, version: str, filename: str, sha256: str) -> str:
    return (f'import <pynix/pkgs/build-support/fetch-pypi.nix> {{ pname = "{pname}"; '
            f'version = "{version}"; filename = "{filename}"; sha256 = "{sha256}"; }}')


def sri(hex_digest: str) -> str:
    return "sha256-" + base64.b64encode(bytes.fromhex(hex_digest)).decode()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_deb_matches_the_lock(hello_lock: dict[str, dict[str, object]],
                                    store: Store) -> None:
    for name in ("hello", "gcc-12-base"):
        entry = hello_lock[name]
        rc, out, err = store.build(fetch_deb(name, str(entry["version"]), str(entry["sha256"]),
                                             str(entry["arch"])))
        assert rc == 0, err
        path = out.strip()
        assert path.endswith(f"-{name}-{entry['version']}.deb")
        real = store.real(path)
        assert file_sha256(real) == entry["sha256"]
        assert real.stat().st_size == entry["size"]
        assert real.read_bytes().startswith(b"!<arch>\ndebian-binary")
    rc, out, _ = store.run("path-info", out.strip())
    assert rc == 0


def test_fetch_deb_wrong_hash_names_both_and_registers_nothing(
        hello_lock: dict[str, dict[str, object]], store: Store) -> None:
    entry = hello_lock["libgcc-s1"]
    expr = fetch_deb("libgcc-s1", str(entry["version"]), ZERO)
    rc, _, err = store.build(expr)
    assert rc != 0
    assert "hash mismatch" in err
    assert sri(ZERO) in err and sri(str(entry["sha256"])) in err
    assert [n for n in store.store_names() if not n.endswith(".drv")] == []
    store.assert_not_valid(expr)


def test_fetch_deb_missing_version_says_how_to_relock(
        hello_lock: dict[str, dict[str, object]], store: Store) -> None:
    rc, _, err = store.build(fetch_deb("hello", "2.10-2", str(hello_lock["hello"]["sha256"])))
    assert rc != 0
    assert ("Debian package 'hello' version '2.10-2' is not available from the configured "
            "archive (it has 2.10-3); relock it with: pynix debian lock hello") in err
    rc, _, err = store.build(fetch_deb("no-such-package-here", "1.0", ZERO))
    assert rc != 0
    assert "Debian package 'no-such-package-here' version '1.0' is not available" in err
    assert [n for n in store.store_names() if not n.endswith(".drv")] == []


def test_fetch_deb_derivation(store: Store) -> None:
    expr = f'({fetch_deb("foo", "1:2.0~rc1-1", ZERO)})'
    rc, out, err = store.run("eval", "--json", "--expr",
                             f"let d = {expr}; in {{ inherit (d) name builder system package "
                             "version arch outputHashMode outputHashAlgo; }")
    assert rc == 0, err
    assert out.strip() == (
        '{"arch":"amd64","builder":"builtin:fetch-deb","name":"foo-1_2.0_rc1-1.deb",'
        '"outputHashAlgo":"sha256","outputHashMode":"flat","package":"foo","system":"builtin",'
        '"version":"1:2.0~rc1-1"}')


SIX = "six-1.16.0-py2.py3-none-any.whl"
SIX_SHA256 = "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"


def test_fetch_pypi(store: Store) -> None:
    rc, out, err = store.build(fetch_pypi("six", "1.16.0", SIX, SIX_SHA256))
    assert rc == 0, err
    real = store.real(out.strip())
    assert out.strip().endswith("-" + SIX) and file_sha256(real) == SIX_SHA256
    # a file the index does not have: pip's choice is refused
    rc, _, err = store.build(fetch_pypi("six", "1.16.0", "six-1.16.0-py3-none-any.whl",
                                        SIX_SHA256))
    assert rc != 0
    assert ("PyPI package 'six' version '1.16.0' (six-1.16.0-py3-none-any.whl): pip chose "
            f"'{SIX}' instead") in err
    rc, _, err = store.build(fetch_pypi("six", "0.0.1", "six-0.0.1-py3-none-any.whl", ZERO))
    assert rc != 0 and "PyPI package 'six' version '0.0.1'" in err and "pip download failed" in err


def test_pip_args_for() -> None:
    assert pip_args_for(SIX) == ["--only-binary", ":all:", "--implementation", "py",
                                 "--python-version", "3.11", "--abi", "none",
                                 "--platform", "any"]
    assert pip_args_for("MarkupSafe-2.1.3-cp311-cp311-manylinux_2_17_x86_64."
                        "manylinux2014_x86_64.whl") == [
        "--only-binary", ":all:", "--implementation", "cp", "--python-version", "3.11",
        "--abi", "cp311", "--platform", "manylinux_2_17_x86_64",
        "--platform", "manylinux2014_x86_64"]
    abi3 = pip_args_for("cryptography-41.0.7-cp37-abi3-manylinux_2_28_x86_64.whl")
    assert abi3[abi3.index("--python-version") + 1] == "3.11"
    assert pip_args_for("psycopg2-2.9.9.tar.gz") == ["--no-binary", ":all:"]
    with pytest.raises(SourceFetchError, match="neither a wheel nor a source distribution"):
        pip_args_for("six.exe")

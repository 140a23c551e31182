"""``pynix hash`` and ``pynix-hash`` print what ``nix hash`` and ``nix-hash`` print."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import needs
from pynix.cli import hash_cmd

from .oracle import TRACEBACK, Result


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hash-tree")
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "dir" / "a").write_bytes(b"hello\n")
    (root / "dir" / "sub" / "x").write_bytes(bytes(range(256)) * 500)
    (root / "dir" / "sub" / "x").chmod(0o755)
    (root / "dir" / "link").symlink_to("sub/x")
    (root / "dir" / "empty").write_bytes(b"")
    (root / "file").write_bytes(b"contents\n")
    return root


def nix(tree: Path, *args: str) -> Result:
    needs.nix("nix")
    exe = shutil.which(args[0])
    assert exe is not None, f"{args[0]} is missing"
    proc = subprocess.run([exe, *args[1:]], capture_output=True, cwd=tree,
                          env={**os.environ, "NIX_CONFIG": "experimental-features = nix-command"})
    return Result(proc.returncode, proc.stdout, proc.stderr)


def ours(tree: Path, *args: str) -> Result:
    classic = args[0] == "nix-hash"
    return Result(*hash_cmd.run(list(args[1:] if classic else args[2:]), classic=classic,
                                cwd=str(tree)))


CASES = [
    ["nix", "hash", "path", "dir"],
    ["nix", "hash", "path", "file", "dir/a"],
    ["nix", "hash", "path", "--type", "sha512", "--base32", "dir"],
    ["nix", "hash", "path", "--type", "sha1", "--base16", "dir"],
    ["nix", "hash", "path", "--base64", "dir/link"],
    ["nix", "hash", "file", "file"],
    ["nix", "hash", "file", "--type", "md5", "--base32", "dir/sub/x"],
    ["nix", "hash", "to-base32", "sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM="],
    ["nix", "hash", "to-base16", "--type", "sha256",
     "1g2s4vlvbxn1q2bz6ky0k8bj6z1pjmmsk6gb89czf5cbyi9gsz4w"],
    ["nix", "hash", "to-sri", "sha1:f572d396fae9206628714fb2ce00f72e94f2258f"],
    ["nix", "hash", "to-base64", "--type", "md5", "d3ea68e810bc7f9297024c01b858679e"],
    ["nix-hash", "dir"],
    ["nix-hash", "--type", "sha256", "dir", "file"],
    ["nix-hash", "--type", "sha256", "--base32", "dir"],
    ["nix-hash", "--flat", "--type", "sha1", "file"],
    ["nix-hash", "--type", "sha256", "--truncate", "dir"],
    ["nix-hash", "--to-base32", "--type", "sha256",
     "9c7cfd52f48b15f75942eb99a96b95377c23179ac04ff397c0c1f6b5e9265abc"],
    ["nix-hash", "--to-base16", "--type", "sha256",
     "1g2s4vlvbxn1q2bz6ky0k8bj6z1pjmmsk6gb89czf5cbyi9gsz4w"],
]


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a))
def test_output_is_nix_s(tree: Path, args: list[str]) -> None:
    expected = nix(tree, *args)
    assert expected.ok, expected.stderr
    got = ours(tree, *args)
    assert got.ok, got.stderr
    assert got.stdout == expected.stdout


@pytest.mark.parametrize("args", [
    ["nix", "hash", "path", "missing"],
    ["nix", "hash", "path", "--type", "md7", "dir"],
    ["nix", "hash", "to-base32", "ca4455530eca8d"],
    ["nix", "hash", "to-base16", "abc"],
    ["nix", "hash", "file", "dir"],
    ["nix-hash", "--to-base32", "--type", "sha256", "ca4455530eca8d"],
    ["nix-hash", "/nonexistent/path"],
], ids=lambda a: " ".join(a))
def test_bad_input_fails_like_nix(tree: Path, args: list[str]) -> None:
    assert not nix(tree, *args).ok
    got = ours(tree, *args)
    assert not got.ok
    assert got.stderr.startswith(b"error: ")
    assert TRACEBACK not in got.stderr

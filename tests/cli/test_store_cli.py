"""``pynix path-info``, ``pynix store ...`` and ``pynix why-depends``, compared with
the real Nix where it has an answer."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from .oracle import assert_clean_failure
from .storeworld import NixWorld, PynixWorld, lines

SUMMARY = re.compile(r"^\d+ store paths deleted, \d+\.\d\d MiB freed$")


def make_tree(root: Path) -> Path:
    tree = root / "tree"
    (tree / "sub" / "deeper").mkdir(parents=True)
    (tree / "a.txt").write_text("hello\n")
    (tree / "sub" / "run").write_text("#!/bin/sh\necho run\n")
    (tree / "sub" / "run").chmod(0o755)
    (tree / "sub" / "deeper" / "empty").write_bytes(b"")
    (tree / "link").symlink_to("a.txt")
    (tree / "dangling").symlink_to("/nowhere/at/all")
    return tree


def corrupt(pw: PynixWorld, path: str, data: bytes = b"damaged\n") -> None:
    real = pw.real(path)
    real.parent.chmod(0o755)
    real.chmod(0o644)
    real.write_bytes(data)


# -- path-info -------------------------------------------------------------------------------


@pytest.mark.parametrize("flags", [[], ["-r"], ["-rsS"], ["-r", "-s", "-S", "-h"], ["--sigs"],
                                   ["-r", "--sigs", "-s"]])
def test_path_info_text_is_nix_s(pw: PynixWorld, nix_world: NixWorld, flags: list[str]) -> None:
    pw.build_attrs("multi", "fod")
    paths = [nix_world.outputs["multi"], nix_world.outputs["fod"]]
    ours = pw.ok(pw.pynix("path-info", *flags, *paths))
    assert ours == nix_world.nix("path-info", *flags, *paths).stdout


@pytest.mark.parametrize("flags", [["--json"], ["--json", "-r"], ["--json", "-S", "--sigs"]])
def test_path_info_json_is_nix_s(pw: PynixWorld, nix_world: NixWorld, flags: list[str]) -> None:
    pw.build_attrs("multi", "selfref", "fod")
    paths = [nix_world.outputs[a] for a in ("multi", "selfref", "fod")]

    def normal(data: bytes) -> list[dict[str, object]]:
        entries = json.loads(data)
        for e in entries:
            assert isinstance(e.pop("registrationTime"), int)
        return entries

    ours = pw.ok(pw.pynix("path-info", *flags, *paths))
    assert not ours.endswith(b"\n")  # as Nix 2.8
    assert normal(ours) == normal(nix_world.nix("path-info", *flags, *paths).stdout)


def test_path_info_of_installables(pw: PynixWorld, nix_world: NixWorld) -> None:
    pw.build_attrs("multi", "multi.dev")
    ours = pw.ok(pw.pynix("path-info", "-f", "test.nix", "multi"))
    assert lines(ours) == [nix_world.outputs["multi"]]
    drv = nix_world.drvs["multi"]
    assert pw.ok(pw.pynix("path-info", drv)) == nix_world.nix("path-info", drv).stdout
    r = pw.pynix("path-info", "-f", "test.nix", "noisy")  # not built
    assert_clean_failure(r)
    assert b"is not valid" in r.stderr
    invalid = nix_world.outputs["noisy"]
    entry = json.loads(pw.ok(pw.pynix("path-info", "--json", invalid)))
    assert entry == [{"path": invalid, "valid": False}]


# -- add, cat, ls, dump, restore -------------------------------------------------------------


def test_add_is_nix_store_add(pw: PynixWorld, nix_world: NixWorld) -> None:
    tree = make_tree(pw.dir)
    path = lines(pw.ok(pw.pynix("store", "add", "tree")))[0]
    assert path == nix_world.nix("store", "add-path", str(tree)).stdout.decode().strip()
    assert pw.ok(pw.pynix("store", "add-path", "--name", "other", "tree")).decode().strip() \
        == nix_world.nix("store", "add-path", "--name", "other", str(tree)).stdout.decode().strip()
    flat = pw.ok(pw.pynix("store", "add", "--mode", "flat", "tree/a.txt"))
    assert flat == nix_world.nix("store", "add-file", str(tree / "a.txt")).stdout
    assert pw.ok(pw.pynix("store", "add-file", "tree/a.txt")) == flat
    dry = pw.ok(pw.pynix("store", "add", "--dry-run", "--name", "dry", "tree"))
    assert not pw.real(dry.decode().strip()).exists()
    assert dry == nix_world.nix("store", "add-path", "--dry-run", "--name", "dry",
                                str(tree)).stdout  # fmt: skip
    assert json.loads(pw.ok(pw.pynix("store", "add", "--json", "tree"))) == [path]
    r = pw.pynix("store", "add", "missing-file")
    assert_clean_failure(r)
    assert b"No such file or directory" in r.stderr
    assert_clean_failure(pw.pynix("store", "add", "--name", "bad/name", "tree"))


@pytest.mark.parametrize("flags", [[], ["-l"], ["-R"], ["-lR"], ["--json"], ["-R", "--json"],
                                   ["-d"], ["-ld"]])
def test_ls_is_nix_store_ls(pw: PynixWorld, nix_world: NixWorld, flags: list[str]) -> None:
    tree = make_tree(pw.dir)
    path = lines(pw.ok(pw.pynix("store", "add", "tree")))[0]
    nix_world.nix("store", "add-path", str(tree))
    for sub in ("", "/sub", "/sub/run", "/link"):
        ours = pw.ok(pw.pynix("store", "ls", *flags, path + sub))
        assert ours == nix_world.nix("store", "ls", *flags, path + sub).stdout, sub


def test_cat_dump_and_restore(pw: PynixWorld, nix_world: NixWorld, tmp_path: Path) -> None:
    tree = make_tree(pw.dir)
    path = lines(pw.ok(pw.pynix("store", "add", "tree")))[0]
    nix_world.nix("store", "add-path", str(tree))
    assert pw.ok(pw.pynix("store", "cat", path + "/sub/run")) == b"#!/bin/sh\necho run\n"
    nar = pw.ok(pw.pynix("store", "dump", path))
    assert nar == nix_world.store("--dump", nix_world.root + path).stdout
    assert nar == nix_world.nix("store", "dump-path", path).stdout
    assert pw.ok(pw.store("--dump", path)) == nar
    assert pw.ok(pw.store("--dump", "tree")) == nar  # any path, as nix-store --dump
    target = tmp_path / "restored"
    pw.ok(pw.pynix("store", "restore", str(target), stdin=nar))
    assert (target / "sub" / "run").stat().st_mode & stat.S_IXUSR
    assert os.readlink(target / "dangling") == "/nowhere/at/all"
    assert pw.ok(pw.store("--dump", str(target))) == nar
    target2 = tmp_path / "restored2"
    pw.ok(pw.store("--restore", str(target2), stdin=nar))
    assert pw.ok(pw.store("--dump", str(target2))) == nar
    # the same target again, a truncated NAR, garbage: errors, and nothing left behind
    assert_clean_failure(pw.pynix("store", "restore", str(target), stdin=nar))
    for bad in (nar[: len(nar) // 2], b"garbage" * 10, nar.replace(b"sub", b"a/b")):
        r = pw.pynix("store", "restore", str(tmp_path / "bad"), stdin=bad)
        assert_clean_failure(r)
        assert not (tmp_path / "bad").exists()
        r = pw.store("--restore", str(tmp_path / "bad"), stdin=bad)
        assert_clean_failure(r)
        assert not (tmp_path / "bad").exists()


def test_cat_and_ls_errors(pw: PynixWorld) -> None:
    make_tree(pw.dir)
    path = lines(pw.ok(pw.pynix("store", "add", "tree")))[0]
    cases = [
        (["cat", path], b"is not a regular file"),
        (["cat", path + "/nope"], b"does not exist"),
        (["ls", path + "/nope"], b"does not exist"),
        (["cat", "/tmp"], b"is not in the Nix store"),
        (["cat", "/nix/store/foo"], b"store path"),
        (["cat", "/nix/store/00000000000000000000000000000000-x/y"], b"is not valid"),
        (["dump", "/nix/store/00000000000000000000000000000000-x"], b"is not valid"),
    ]
    for args, message in cases:
        r = pw.pynix("store", *args)
        assert_clean_failure(r)
        assert message in r.stderr, (args, r.stderr)
    # links outside the store are followed
    (pw.dir / "here").symlink_to(path)
    assert pw.ok(pw.pynix("store", "cat", "here/a.txt")) == b"hello\n"


# -- garbage collection -----------------------------------------------------------------------


def test_gc_print_dead_live_and_max_freed(pw: PynixWorld) -> None:
    pw.ok(pw.pynix("build", "-f", "test.nix", "top"))
    pw.build_attrs("noisy")
    make_tree(pw.dir)
    added = lines(pw.ok(pw.pynix("store", "add", "tree")))[0]
    every = set(lines(pw.ok(pw.pynix("path-info", "--all"))))
    dead = set(lines(pw.ok(pw.pynix("store", "gc", "--print-dead"))))
    live = set(lines(pw.ok(pw.pynix("store", "gc", "--print-live"))))
    assert dead | live == every and not dead & live
    top_closure = set(lines(pw.ok(pw.store("-qR", "./result"))))
    assert top_closure <= live and added in dead
    assert any(p.endswith("-top.drv") for p in live)  # keep-derivations
    assert lines(pw.ok(pw.store("--gc", "--print-dead"))) == sorted(dead)
    assert lines(pw.ok(pw.pynix("store", "gc", "--dry-run"))) == sorted(dead)
    r = pw.pynix("store", "gc", "--max-freed", "1")
    assert lines(pw.ok(r)) == [lines(r.stdout)[0]]
    assert lines(r.stdout)[0].startswith("1 store paths deleted, ")
    assert SUMMARY.match(lines(r.stdout)[0])
    assert r.stderr.decode().count("deleting '") == 1
    report = json.loads(pw.ok(pw.pynix("store", "gc", "--json")))
    assert len(report["deleted"]) == len(dead) - 1 and report["bytesFreed"] > 0
    assert set(report["deleted"]) < dead
    assert set(lines(pw.ok(pw.pynix("path-info", "--all")))) == live
    assert_clean_failure(pw.pynix("store", "gc", "--max-freed", "lots"))


def test_delete_refuses_live_and_referenced_paths(pw: PynixWorld) -> None:
    pw.ok(pw.pynix("build", "-f", "test.nix", "top"))
    top = os.readlink(pw.dir / "result")
    lib_path = pw.ok(pw.store("-q", "--references", top)).decode().split()
    for path in [top, *lib_path]:
        r = pw.pynix("store", "delete", path)
        assert_clean_failure(r)
        assert b"still alive" in r.stderr
    r = pw.store("--delete", "./result")
    assert_clean_failure(r)
    assert pw.real(top).exists()
    os.unlink(pw.dir / "result")
    dep = next(p for p in lib_path if p.endswith("-dep"))
    r = pw.pynix("store", "delete", dep)
    assert_clean_failure(r)
    assert b"still referenced by" in r.stderr
    r = pw.pynix("store", "delete", top)
    assert lines(pw.ok(r)) == [lines(r.stdout)[0]]
    assert lines(r.stdout)[0].startswith("1 store paths deleted, ")
    assert not pw.real(top).exists()
    assert_clean_failure(pw.pynix("store", "delete", top))  # gone now
    assert_clean_failure(pw.pynix("store", "delete", "/tmp"))


def test_roots(pw: PynixWorld) -> None:
    pw.ok(pw.pynix("build", "-f", "test.nix", "top", "dep"))
    top = os.readlink(pw.dir / "result-1")
    dep = os.readlink(pw.dir / "result")
    expected = [f"{pw.dir}/result -> {dep}", f"{pw.dir}/result-1 -> {top}"]
    assert lines(pw.ok(pw.pynix("store", "roots"))) == expected
    assert lines(pw.ok(pw.store("--gc", "--print-roots"))) == expected
    assert json.loads(pw.ok(pw.pynix("store", "roots", "--json"))) == [
        {"link": f"{pw.dir}/result", "path": dep}, {"link": f"{pw.dir}/result-1", "path": top}]
    # which roots keep a path alive: the result links of everything that refers to it
    assert lines(pw.ok(pw.store("-q", "--roots", dep))) == expected


# -- verify, repair, optimise ---------------------------------------------------------------


def test_verify_detects_corruption_and_repair_rebuilds(pw: PynixWorld) -> None:
    pw.ok(pw.pynix("build", "-f", "test.nix", "top"))
    top = os.readlink(pw.dir / "result")
    lib = next(p for p in lines(pw.ok(pw.store("-qR", top))) if p.endswith("-lib"))
    assert pw.ok(pw.pynix("store", "verify", "--all")) == b""
    assert pw.ok(pw.pynix("store", "verify", "-r", "./result")) == b""
    corrupt(pw, lib + "/lib/config")
    r = pw.pynix("store", "verify", "--all")
    assert r.status == 1
    assert f"path '{lib}' was modified! expected hash 'sha256:".encode() in r.stderr
    r = pw.pynix("store", "verify", "--no-contents", "--all")
    assert r.ok  # it still exists
    r = pw.pynix("store", "verify", "-r", "./result")
    assert r.status == 1 and lib.encode() in r.stderr
    report = json.loads(pw.pynix("store", "verify", "--json", lib).stdout)
    assert report["unrepaired"] and not report["repaired"]
    r = pw.pynix("store", "verify", "--repair", "-r", "./result")
    pw.ok(r)
    assert f"repaired path '{lib}'".encode() in r.stderr
    assert pw.real(lib + "/lib/config").read_text().startswith("library using /nix/store/")
    assert pw.ok(pw.pynix("store", "verify", "--all")) == b""
    # the same with 'store repair' and a file that disappeared
    pw.real(lib + "/share").chmod(0o755)
    os.unlink(pw.real(lib + "/share/readme"))
    assert pw.pynix("store", "verify", lib).status == 1
    pw.ok(pw.pynix("store", "repair", lib))
    assert pw.real(lib + "/share/readme").read_text() == "plain\n"
    assert pw.ok(pw.pynix("store", "verify", "--all")) == b""


def test_sources_cannot_be_repaired(pw: PynixWorld) -> None:
    make_tree(pw.dir)
    path = lines(pw.ok(pw.pynix("store", "add", "tree")))[0]
    corrupt(pw, path + "/a.txt")
    r = pw.pynix("store", "repair", path)
    assert r.status == 1
    assert f"cannot repair path '{path}'".encode() in r.stderr
    r = pw.pynix("store", "verify", "--repair", "--all")
    assert r.status == 1 and b"cannot repair" in r.stderr


def test_optimise_links_identical_files(pw: PynixWorld) -> None:
    (pw.dir / "one").mkdir()
    (pw.dir / "two").mkdir()
    for d in ("one", "two"):
        (pw.dir / d / "big").write_bytes(b"x" * 100_000)
    one = lines(pw.ok(pw.pynix("store", "add", "one")))[0]
    two = lines(pw.ok(pw.pynix("store", "add", "two")))[0]
    assert pw.real(one + "/big").stat().st_ino != pw.real(two + "/big").stat().st_ino
    r = pw.pynix("store", "optimise")
    pw.ok(r)
    assert re.search(rb"^0\.\d\d MiB freed by hard-linking \d+ files$", r.stderr, re.M)
    assert pw.real(one + "/big").stat().st_ino == pw.real(two + "/big").stat().st_ino
    assert json.loads(pw.ok(pw.pynix("store", "optimise", "--json")))["filesLinked"] == 0
    assert pw.ok(pw.pynix("store", "verify", "--all")) == b""


# -- why-depends ---------------------------------------------------------------------------------


@pytest.mark.parametrize("flags", [[], ["--all"], ["--precise"], ["--all", "--precise"]])
@pytest.mark.parametrize(("package", "dependency"),
                         [("multi", "dep"), ("top", "dep"), ("lib", "dep"), ("top", "top"),
                          ("selfref", "selfref")])
def test_why_depends_is_nix_s(pw: PynixWorld, nix_world: NixWorld, flags: list[str],
                              package: str, dependency: str) -> None:
    pw.build_attrs(package, dependency)
    args = [*flags, nix_world.outputs[package], nix_world.outputs[dependency]]
    ours = pw.pynix("why-depends", *args)
    theirs = nix_world.nix("why-depends", *args)
    assert pw.ok(ours) == theirs.stdout


def test_why_depends_shows_the_file(pw: PynixWorld, nix_world: NixWorld) -> None:
    pw.ok(pw.pynix("build", "-f", "test.nix", "top"))
    r = pw.pynix("why-depends", "--precise", "-f", "test.nix", "top", "dep")
    text = pw.ok(r).decode()
    assert "bin/run: …" in text  # the reference is in bin/run (non-printable bytes as '.')
    assert ".binary." in text
    r = pw.pynix("why-depends", "-f", "test.nix", "dep", "top")
    assert pw.ok(r) == b""
    assert r.stderr == b"'dep' does not depend on 'top'\n"
    assert_clean_failure(pw.pynix("why-depends", "./result"))

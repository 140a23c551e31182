"""``pynix-store``, the classic command, against the real ``nix-store``: the same
queries on the same closures print the same bytes, exports move both ways
between the two stores, and the GC / verify operations behave as scripts expect."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .oracle import assert_clean_failure
from .storeworld import BUILT_ATTRS, NixWorld, PynixWorld, lines, nix_env

QUERIES = ["--references", "--referrers", "--requisites", "--deriver", "--tree", "--graph",
           "--hash", "--size", "--referrers-closure"]


@pytest.fixture
def built(pw: PynixWorld, nix_world: NixWorld) -> PynixWorld:
    """pynix's store holding what the oracle's holds: every attribute built."""
    ours = pw.build_attrs(*BUILT_ATTRS)
    assert ours == nix_world.outputs
    return pw


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("attr", ["top", "dep", "multi.dev"])
def test_queries_are_nix_store_s(built: PynixWorld, nix_world: NixWorld, query: str,
                                 attr: str) -> None:
    path = nix_world.outputs[attr]
    ours = built.ok(built.store("-q", query, path))
    assert ours == nix_world.store("-q", query, path).stdout


@pytest.mark.parametrize("args", [
    ["-q", "--outputs", "multi"],
    ["-q", "-R", "--include-outputs", "top"],
    ["-qR", "top"],
    ["-q", "-b", "name", "top"],
    ["-q", "--binding", "outputs", "multi"],
    ["-q", "--tree", "top"],
    ["-r", "multi"],
    ["--realise", "multi!dev"],
    ["-r", "--dry-run", "top"],
])
def test_queries_and_realise_of_derivations(built: PynixWorld, nix_world: NixWorld,
                                            args: list[str]) -> None:
    def drv(word: str) -> str:
        attr, bang, outs = word.partition("!")
        return nix_world.drvs[attr] + bang + outs if attr in nix_world.drvs else word

    argv = [drv(a) for a in args]
    assert built.ok(built.store(*argv)) == nix_world.store(*argv).stdout


def test_realise_builds_from_a_drv_path(pw: PynixWorld, nix_world: NixWorld) -> None:
    drv = pw.ok(pw.instantiate("test.nix", "-A", "top")).decode().strip()
    assert drv == nix_world.drvs["top"]
    out = pw.ok(pw.store("--realise", drv, "--add-root", "keep", "--indirect"))
    assert out.decode().strip() == str(pw.dir / "keep")
    assert (pw.dir / "keep").readlink() == Path(nix_world.outputs["top"])
    roots = pw.ok(pw.store("--gc", "--print-roots")).decode()
    assert f"{pw.dir / 'keep'} -> {nix_world.outputs['top']}" in roots
    for dep in ("top", "lib", "dep"):  # the roots that keep each path alive
        query = pw.ok(pw.store("-q", "--roots", nix_world.outputs[dep])).decode()
        assert query == f"{pw.dir / 'keep'} -> {nix_world.outputs['top']}\n"


@pytest.mark.parametrize("args", [
    ["--add", "file"],
    ["--add", "tree"],
    ["--add-fixed", "sha256", "file"],
    ["--add-fixed", "sha1", "file"],
    ["--add-fixed", "--recursive", "sha256", "tree"],
    ["--add-fixed", "--recursive", "sha512", "file"],
])
def test_add_is_nix_store_add(pw: PynixWorld, nix_world: NixWorld, tmp_path: Path,
                              args: list[str]) -> None:
    src = tmp_path / "src"
    (src / "tree" / "sub").mkdir(parents=True)
    (src / "file").write_bytes(b"contents\n")
    (src / "tree" / "sub" / "x").write_bytes(b"\x00\x01binary")
    (src / "tree" / "sub" / "x").chmod(0o755)
    (src / "tree" / "l").symlink_to("sub/x")
    argv = [str(src / a) if a in ("file", "tree") else a for a in args]
    ours = pw.ok(pw.store(*argv))
    assert ours == nix_world.store(*argv).stdout
    (path,) = lines(ours)
    assert pw.ok(pw.store("--verify-path", path)) == b""


def test_dump_is_nix_store_dump(built: PynixWorld, nix_world: NixWorld) -> None:
    for attr in ("top", "lib", "dep"):
        path = nix_world.outputs[attr]
        # Nix 2.8 dumps the host path even with --store, so give it the real one
        theirs = subprocess.run(["nix-store", "--dump", nix_world.root + path],
                                capture_output=True, check=True).stdout
        assert built.ok(built.store("--dump", path)) == theirs


def test_restore_unpacks_a_nix_nar(pw: PynixWorld, nix_world: NixWorld) -> None:
    path = nix_world.outputs["lib"]
    nar = subprocess.run(["nix-store", "--dump", nix_world.root + path],
                         capture_output=True, check=True).stdout
    target = pw.dir / "restored"
    pw.ok(pw.store("--restore", str(target), stdin=nar))
    assert (target / "lib" / "config").read_bytes() == \
        Path(nix_world.root + path, "lib", "config").read_bytes()
    assert (target / "share" / "dep-link").readlink() == Path(nix_world.outputs["dep"])
    # and a damaged archive is refused, naming the problem
    assert_clean_failure(pw.store("--restore", str(pw.dir / "bad"), stdin=nar[:-24]))


def test_export_from_nix_imports_into_pynix(pw: PynixWorld, nix_world: NixWorld) -> None:
    paths = [nix_world.outputs[a] for a in ("dep", "lib", "top")]
    exported = nix_world.store("--export", *paths).stdout
    imported = pw.ok(pw.store("--import", stdin=exported))
    assert sorted(lines(imported)) == sorted(paths)
    assert pw.ok(pw.store("--verify", "--check-contents")) == b""
    for q in ("--references", "--hash", "--size"):
        assert pw.ok(pw.store("-q", q, *paths)) == nix_world.store("-q", q, *paths).stdout
    # our export of the same paths is byte for byte Nix's
    assert pw.ok(pw.store("--export", *paths)) == exported


def test_export_from_pynix_imports_into_nix(built: PynixWorld, nix_world: NixWorld,
                                            tmp_path: Path) -> None:
    paths = [nix_world.outputs[a] for a in ("dep", "lib", "top", "selfref")]
    exported = built.ok(built.store("--export", *paths))
    fresh = str(tmp_path / "fresh-nix")
    env = nix_env(tmp_path)
    r = subprocess.run(["nix-store", "--store", fresh, "--import"], input=exported,
                       capture_output=True, env=env, check=True)
    assert sorted(lines(r.stdout)) == sorted(paths)
    subprocess.run(["nix-store", "--store", fresh, "--verify-path", *paths],
                   capture_output=True, env=env, check=True)


def test_import_refuses_a_damaged_export(pw: PynixWorld, nix_world: NixWorld) -> None:
    dep = nix_world.outputs["dep"]
    exported = nix_world.store("--export", dep).stdout
    bad_magic = bytearray(exported)
    bad_magic[8] ^= 0xFF  # the NAR's magic string
    for damaged in (bytes(bad_magic), exported[:-40], exported[:len(exported) // 2]):
        assert_clean_failure(pw.store("--import", stdin=damaged))
        # nothing was registered, nothing is left behind
        assert pw.ok(pw.store("--check-validity", "--print-invalid", dep)) == f"{dep}\n".encode()
        assert not pw.real(dep).exists()
    assert_clean_failure(pw.store("--check-validity", dep))


def test_gc_print_dead_live_and_delete(built: PynixWorld, nix_world: NixWorld) -> None:
    top = nix_world.outputs["top"]
    built.ok(built.pynix("build", "-f", "test.nix", "top", "--out-link", "top-link"))
    live = set(lines(built.ok(built.store("--gc", "--print-live"))))
    dead = set(lines(built.ok(built.store("--gc", "--print-dead"))))
    closure = set(lines(built.ok(built.store("-qR", top))))
    assert closure <= live
    assert not live & dead
    assert nix_world.outputs["noisy"] in dead
    # deleting a live path is refused, a dead one goes
    assert_clean_failure(built.store("--delete", nix_world.outputs["dep"]))
    deleted = built.ok(built.store("--delete", nix_world.outputs["noisy"]))
    assert deleted == b"1 store paths deleted, 0.00 MiB freed\n"
    assert not built.real(nix_world.outputs["noisy"]).exists()
    summary = built.store("--gc")
    built.ok(summary)
    assert b"store paths deleted" in summary.stdout
    assert set(lines(built.ok(built.store("--gc", "--print-dead")))) == set()
    assert built.ok(built.store("--verify", "--check-contents")) == b""
    assert set(lines(built.ok(built.store("-qR", top)))) == closure


def test_verify_reports_damage_and_repairs(built: PynixWorld, nix_world: NixWorld) -> None:
    lib = nix_world.outputs["lib"]
    config = built.real(lib) / "lib" / "config"
    config.parent.chmod(0o755)
    config.chmod(0o644)
    config.write_text("tampered\n")
    r = built.store("--verify", "--check-contents")
    assert not r.ok
    assert lib.encode() in r.stderr and b"hash" in r.stderr
    assert not built.store("--verify-path", lib).ok
    built.ok(built.store("--repair-path", lib))
    assert built.ok(built.store("--verify", "--check-contents")) == b""
    assert config.read_bytes() == Path(nix_world.root + lib, "lib", "config").read_bytes()


def test_unknown_operations_and_bad_paths_fail_cleanly(pw: PynixWorld) -> None:
    for args in (["--frobnicate"], ["-q", "--references", "/nix/store/not-a-store-path"],
                 ["--dump", "/nix/store/00000000000000000000000000000000-missing"],
                 ["--add-fixed", "md7", "x"], ["--realise", "/etc/passwd"]):
        assert_clean_failure(pw.store(*args))

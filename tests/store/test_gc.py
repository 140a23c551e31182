"""GC roots (layout as Nix's) and garbage collection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pynix.compat.derivation import Derivation
from pynix.compat.nar import nar_hash_and_size
from pynix.profiles import Profile
from pynix.store import LocalStore, PathInfo, StoreError, auto_root_name

from .helpers import vectors, worker_env

LAYOUT = vectors("profiles-gcroots.json")


def texts(store: LocalStore, *specs: tuple[str, list[str]]) -> list[str]:
    made: list[str] = []
    for name, refs in specs:
        made.append(store.add_text_to_store(name, f"{name} {' '.join(refs)}".encode(), refs))
    return made


def fresh(root: Path, **options: object) -> LocalStore:
    """Another store object on the same store: no temporary roots of its own."""
    return LocalStore(str(root), runtime_roots=False, **options)  # type: ignore[arg-type]


def test_auto_root_names_are_nix32_sha1_of_the_link() -> None:
    for name, link in LAYOUT["autoRoots"].items():
        assert auto_root_name(link) == name


def test_result_links_are_indirect_roots(store_root: Path, tmp_path: Path) -> None:
    with fresh(store_root) as store:
        kept, gone = texts(store, ("kept", []), ("gone", []))
        project = tmp_path / "project"
        project.mkdir()
        link = store.add_perm_root(kept, str(project / "result"))
        assert os.readlink(link) == kept
        auto = store_root / "nix/var/nix/gcroots/auto" / auto_root_name(link)
        assert os.readlink(auto) == link
        assert store.find_roots()[kept] >= {link}
    with fresh(store_root) as store:
        assert store.collect_garbage().deleted == [gone]
        assert store.is_valid_path(kept)
        os.unlink(link)
        assert store.collect_garbage().deleted == [kept]
        assert not os.path.lexists(auto)  # the dangling auto root went too


def test_perm_root_refusals(store: LocalStore, tmp_path: Path) -> None:
    (p,) = texts(store, ("x", []))
    (tmp_path / "file").write_text("not a link")
    with pytest.raises(StoreError, match="already exists"):
        store.add_perm_root(p, str(tmp_path / "file"))
    with pytest.raises(StoreError, match="forbidden"):
        store.add_perm_root(p, store.real_path(p) + "-root")
    # an existing link into the store is replaced
    store.add_perm_root(p, str(tmp_path / "r"))
    (q,) = texts(store, ("y", []))
    store.add_perm_root(q, str(tmp_path / "r"))
    assert os.readlink(tmp_path / "r") == q


def test_direct_roots_and_root_files(store_root: Path) -> None:
    with fresh(store_root) as store:
        a, b, c = texts(store, ("a", []), ("b", []), ("c", []))
        gcroots = store_root / "nix/var/nix/gcroots"
        (gcroots / "per-user/alice").mkdir(parents=True)
        os.symlink(a, gcroots / "per-user/alice/direct")  # logical target
        os.symlink(store.real_path(b), gcroots / "physical")  # physical target works too
        (gcroots / os.path.basename(c)).write_text("")  # a file named like the path
        # an indirect root outside auto whose target is gone is left alone
        os.symlink("/nonexistent/link", gcroots / "dangling")
        roots = store.find_roots()
        assert set(roots) == {a, b, c}
    with fresh(store_root) as store:
        assert store.collect_garbage().deleted == []
        assert os.path.lexists(gcroots / "dangling")


def test_liveness_follows_references(store_root: Path) -> None:
    # root -> r -> a; c refers to a (dead); d3 -> d2 -> d1 (dead)
    with fresh(store_root) as store:
        a = store.add_text_to_store("a2", b"a")
        r = store.add_text_to_store("r", f"r {a}".encode(), [a])
        c = store.add_text_to_store("c2", f"c {a}".encode(), [a])
        d1 = store.add_text_to_store("d1x", b"d1")
        d2 = store.add_text_to_store("d2x", f"{d1}".encode(), [d1])
        d3 = store.add_text_to_store("d3x", f"{d2}".encode(), [d2])
        store.add_perm_root(r, str(store_root / "r-link"))
    with fresh(store_root) as store:
        live = set(store.collect_garbage(action="return-live").deleted)
        dead = set(store.collect_garbage(action="return-dead").deleted)
        assert {r, a} <= live and not live & {c, d1, d2, d3}
        assert {c, d1, d2, d3} <= dead and not dead & live
        assert live | dead == store.query_all_valid_paths()
        result = store.collect_garbage()
        assert set(result.deleted) == dead
        # referrers are deleted before what they refer to
        order = result.deleted
        assert order.index(d3) < order.index(d2) < order.index(d1)
        assert result.bytes_freed > 0
        assert store.query_all_valid_paths() == live
        assert store.verify(check_contents=True) == []


def test_delete_specific(store_root: Path) -> None:
    with fresh(store_root) as store:
        a = store.add_text_to_store("a", b"a")
        b = store.add_text_to_store("b", f"{a}".encode(), [a])
        kept = store.add_text_to_store("kept", b"k")
        store.add_perm_root(kept, str(store_root / "kept-link"))
    with fresh(store_root) as store:
        with pytest.raises(StoreError, match="still alive"):
            store.collect_garbage(action="delete-specific", paths=[kept])
        with pytest.raises(StoreError, match=f"still referenced by '{b}'"):
            store.collect_garbage(action="delete-specific", paths=[a])
        with pytest.raises(StoreError, match="not valid"):
            store.collect_garbage(
                action="delete-specific", paths=["/nix/store/" + "0" * 32 + "-x"]
            )
        assert store.query_all_valid_paths() == {a, b, kept}
        assert store.collect_garbage(action="delete-specific", paths=[b]).deleted == [b]
        assert store.collect_garbage(action="delete-specific", paths=[a]).deleted == [a]
        assert store.query_all_valid_paths() == {kept}


def test_max_freed(store_root: Path) -> None:
    with fresh(store_root) as store:
        for i in range(6):
            store.add_text_to_store(f"big{i}", bytes([i]) * 10000)
    with fresh(store_root) as store:
        result = store.collect_garbage(max_freed=25000)
        assert len(result.deleted) == 3 and result.bytes_freed >= 25000
        assert len(store.query_all_valid_paths()) == 3
        assert len(store.collect_garbage(max_freed=1).deleted) == 1
        assert len(store.collect_garbage().deleted) == 2


def test_temp_roots_of_live_and_dead_processes(store_root: Path) -> None:
    LocalStore(str(store_root)).close()
    code = (
        "import sys; from pynix.store import LocalStore\n"
        f"s = LocalStore({str(store_root)!r}, runtime_roots=False)\n"
        "print(s.add_text_to_store('held', b'held'), flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=worker_env())
    assert proc.stdout is not None
    held = proc.stdout.readline().decode().strip()
    try:
        with fresh(store_root) as store:
            assert store.find_roots()[held] == {f"{{temp:{proc.pid}}}"}
            assert store.collect_garbage().deleted == []
            assert store.is_valid_path(held)
    finally:
        proc.kill()
        proc.wait()
    with fresh(store_root) as store:  # its lock died with it
        assert store.collect_garbage().deleted == [held]
        assert os.listdir(store_root / "nix/var/nix/pynix/temproots") == []


def test_own_temp_roots_last_until_close(store_root: Path) -> None:
    store = fresh(store_root)
    p = store.add_to_store(__file__)
    with fresh(store_root) as other:
        assert other.collect_garbage().deleted == []
    store.close()
    with fresh(store_root) as other:
        assert other.collect_garbage().deleted == [p]


def test_locked_paths_are_not_deleted(store_root: Path) -> None:
    with fresh(store_root) as store:
        (p,) = texts(store, ("busy", []))
    with fresh(store_root) as store, fresh(store_root) as builder:
        with builder.lock_paths([p]):
            assert store.collect_garbage().deleted == []
        assert store.collect_garbage().deleted == [p]


def test_runtime_roots(store_root: Path) -> None:
    with fresh(store_root) as store:
        (p,) = texts(store, ("open-by-a-process", []))
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; f = open(sys.argv[1]); print(1, flush=True); "
         "sys.stdin.read()", LocalStore(str(store_root)).real_path(p)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    try:
        with LocalStore(str(store_root)) as store:
            assert any(r.startswith(f"/proc/{proc.pid}/fd/") for r in store.find_roots()[p])
            assert store.collect_garbage().deleted == []
    finally:
        proc.kill()
        proc.wait()
    with LocalStore(str(store_root)) as store:
        assert store.collect_garbage().deleted == [p]


def test_runtime_roots_belong_to_their_store(tmp_path: Path) -> None:
    """Two chroot stores hold the same store path; a process using one store's
    copy keeps only that copy alive."""
    stores = [tmp_path / "a", tmp_path / "b"]
    paths = []
    for root in stores:
        with fresh(root) as store:
            paths.extend(texts(store, ("shared-name", [])))
    assert paths[0] == paths[1]
    p = paths[0]
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; f = open(sys.argv[1]); print(1, flush=True); "
         "sys.stdin.read()", LocalStore(str(stores[0])).real_path(p)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    try:
        with LocalStore(str(stores[1])) as other:
            assert p not in other.find_roots()
            assert other.collect_garbage().deleted == [p]
        with LocalStore(str(stores[0])) as store:
            assert store.collect_garbage().deleted == []
    finally:
        proc.kill()
        proc.wait()


def test_keep_derivations_and_outputs(store_root: Path) -> None:
    vector = next(v for v in vectors("derivations.json")["vectors"] if v["id"] == "minimal")
    drv = Derivation.parse(vector["drv"])
    out = vector["outputs"]["out"]
    with fresh(store_root) as store:
        drv_path = store.add_derivation(drv, drv.name)
        with store.lock_paths([out]):
            store.prepare_paths([out])
            Path(store.real_path(out)).write_text("built")
            h, size = nar_hash_and_size(store.real_path(out))
            store.register_valid_paths([PathInfo(out, h.to_prefixed(), size, deriver=drv_path)])
        link = store.add_perm_root(out, str(store_root / "out-link"))
    with fresh(store_root) as store:  # keep-derivations (Nix's default): the .drv stays
        assert store.collect_garbage().deleted == []
    with fresh(store_root, keep_derivations=False) as store:
        assert store.collect_garbage(action="return-dead").deleted == [drv_path]
    os.unlink(link)
    with fresh(store_root, keep_outputs=True) as store:
        store.add_perm_root(drv_path, str(store_root / "drv-link"))
        assert store.collect_garbage(action="return-dead").deleted == []
    with fresh(store_root) as store:
        assert store.collect_garbage().deleted == [out]


def test_profiles_are_roots(store_root: Path) -> None:
    with fresh(store_root) as store:
        gen1, gen2, other = texts(store, ("gen1", []), ("gen2", []), ("other", []))
        profile = Profile(str(store_root / "nix/var/nix/profiles/per-user/alice/test"), store)
        profile.set(gen1)
        profile.set(gen2)
    auto = store_root / "nix/var/nix/gcroots/auto"
    with fresh(store_root) as store:
        roots = store.find_roots()
        assert roots[gen1] == {profile.link_path(1)}
        assert roots[gen2] == {profile.link_path(2)}  # P -> P-2-link is indirect, as in Nix
        assert sorted(os.listdir(auto)) == sorted(
            auto_root_name(profile.link_path(n)) for n in (1, 2)
        )
        assert store.collect_garbage().deleted == [other]
    for entry in os.listdir(auto):  # the profiles directory alone keeps them
        os.unlink(auto / entry)
    with fresh(store_root) as store:
        assert store.collect_garbage().deleted == []
        profile.delete_generations(["old"])
        assert store.collect_garbage().deleted == [gen1]


def test_paths_unknown_to_the_database_are_never_deleted(store_root: Path) -> None:
    with fresh(store_root) as store:
        foreign = Path(store.real_path("/nix/store/" + "1" * 32 + "-not-ours"))
        foreign.mkdir()
        (foreign / "f").write_text("keep me")
        (p,) = texts(store, ("ours", []))
    with fresh(store_root) as store:
        assert store.collect_garbage().deleted == [p]
        assert (foreign / "f").read_text() == "keep me"


def test_gc_action_errors(store: LocalStore) -> None:
    with pytest.raises(StoreError, match="unknown"):
        store.collect_garbage(action="delete-everything")
    with pytest.raises(StoreError):
        store.collect_garbage(action="delete-specific")

"""verify (--check-contents, --repair) and optimise."""

from __future__ import annotations

import hashlib
import os
import random
import stat
from pathlib import Path

from pynix.store import LocalStore

from .helpers import random_tree


def corrupt(store: LocalStore, path: str, relative: str) -> None:
    file = Path(store.real_path(path)) / relative
    parent = file.parent
    os.chmod(parent, 0o755)
    os.chmod(file, 0o644)
    file.write_bytes(b"corrupted" + file.read_bytes())
    os.chmod(file, 0o444)
    os.chmod(parent, 0o555)


def test_verify_finds_a_corrupted_file_and_repairs_it(store: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "data").write_bytes(b"original")
    path = store.add_to_store(str(src))
    good = store.add_text_to_store("good", b"fine")
    assert store.verify(check_contents=True) == []
    corrupt(store, path, "data")
    assert store.verify() == []  # existence only
    problems = store.verify(check_contents=True)
    assert len(problems) == 1 and f"path '{path}' was modified" in problems[0]
    assert good not in problems[0]

    # without a way to recreate it, repair says so and changes nothing
    report = store.verify_report(check_contents=True, repair=True)
    assert not report.ok and report.repaired == []
    assert "cannot repair" in report.unrepaired[0] and path in report.unrepaired[0]

    # a hook that can recreate the contents (as a rebuild would)
    calls: list[str] = []

    def from_source(p: str) -> bool:
        calls.append(p)
        store.replace_path_contents(p, str(src))
        return True

    report = store.verify_report(check_contents=True, repair=True, repair_path=from_source)
    assert report.ok and report.repaired == [path] and calls == [path]
    assert store.verify(check_contents=True) == []
    assert (Path(store.real_path(path)) / "data").read_bytes() == b"original"
    st = os.lstat(store.real_path(path))
    assert st.st_mtime == 1 and stat.S_IMODE(st.st_mode) == 0o555

    # a hook that brings the wrong contents does not count as a repair
    corrupt(store, path, "data")
    report = store.verify_report(check_contents=True, repair=True, repair_path=lambda p: True)
    assert not report.ok


def test_verify_disappeared_paths(store: LocalStore) -> None:
    a = store.add_text_to_store("a", b"a")
    b = store.add_text_to_store("b", a.encode(), [a])
    for p in (a, b):
        os.unlink(store.real_path(p))
    problems = store.verify()
    assert sorted(problems) == sorted(f"path '{p}' disappeared" for p in (a, b))
    report = store.verify_report(repair=True)
    # b has no referrers: dropped; a is still referred to by b at that point
    # (paths are checked in order), so it is reported
    assert b in report.repaired or a in report.repaired
    assert store.verify_report(repair=True).ok
    assert store.query_all_valid_paths() == set()


def test_optimise_links_identical_files(store: LocalStore, tmp_path: Path) -> None:
    rng = random.Random(11)
    blob = rng.randbytes(50_000)
    srcs = []
    for i in range(3):
        d = tmp_path / f"s{i}"
        d.mkdir()
        (d / "same").write_bytes(blob)
        (d / "exec-same").write_bytes(blob)
        (d / "exec-same").chmod(0o755)
        (d / "own").write_bytes(rng.randbytes(100))
        srcs.append(d)
    paths = [store.add_to_store(str(s), f"p{i}") for i, s in enumerate(srcs)]
    paths.append(store.add_to_store(str(random_tree(tmp_path / "r", rng, depth=3))))
    before = {p: b"".join(store.nar_from_path(p)) for p in paths}

    linked, saved = store.optimise()
    assert linked == 4  # two copies each of "same" and "exec-same"
    assert saved == 4 * len(blob)
    inodes = {os.lstat(Path(store.real_path(p)) / "same").st_ino for p in paths[:3]}
    exec_inodes = {os.lstat(Path(store.real_path(p)) / "exec-same").st_ino for p in paths[:3]}
    assert len(inodes) == 1 and len(exec_inodes) == 1
    assert inodes != exec_inodes  # different modes never share an inode
    links = Path(store.real_path("/nix/store")) / ".links"
    name = hashlib.sha256(b"".join(store.nar_from_path(paths[0]))).digest()  # any: exists
    assert name and os.listdir(links)
    for p in paths:
        assert b"".join(store.nar_from_path(p)) == before[p]
        st = os.lstat(store.real_path(p))
        assert st.st_mtime == 1 and stat.S_IMODE(st.st_mode) == 0o555
    assert store.verify(check_contents=True) == []
    assert store.optimise() == (0, 0)  # nothing left to do

    # GC: the shared inode is freed once the last path using it goes, with .links
    store.close()
    with LocalStore(str(Path(store.root)), runtime_roots=False) as other:
        result = other.collect_garbage()
        assert len(result.deleted) == len(paths)
        assert os.listdir(links) == []
        assert result.bytes_freed >= 2 * len(blob)


def test_optimise_does_not_spread_a_damaged_shared_copy(store: LocalStore, tmp_path: Path) -> None:
    blob = b"shared contents" * 1000
    paths = []
    for i in range(3):
        d = tmp_path / f"s{i}"
        d.mkdir()
        (d / "f").write_bytes(blob)
        paths.append(store.add_to_store(str(d), f"p{i}"))
    store.optimise()
    corrupt(store, paths[0], "f")  # writes through every link of that inode
    assert len(store.verify(check_contents=True)) == 3
    # repair p1 and p2 from the source; p0 stays damaged
    for p in paths[1:]:
        store.replace_path_contents(p, str(tmp_path / "s1"))
    assert len(store.verify(check_contents=True)) == 1
    d = tmp_path / "s3"
    d.mkdir()
    (d / "f").write_bytes(blob)
    p3 = store.add_to_store(str(d), "p3")
    store.optimise()
    problems = store.verify(check_contents=True)
    assert len(problems) == 1 and paths[0] in problems[0]
    assert (Path(store.real_path(p3)) / "f").read_bytes() == blob

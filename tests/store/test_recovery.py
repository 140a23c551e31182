"""The states a crash can leave behind, made on purpose, and their recovery."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from pynix.store import LocalStore, staging
from pynix.store.staging import Staging


def listing(store: LocalStore) -> set[str]:
    return set(os.listdir(store.real_path("/nix/store"))) - {".links"}


def test_crash_between_rename_and_register(store_root: Path) -> None:
    """Contents at their path, recorded as pending, never registered."""
    path = "/nix/store/" + "a" * 32 + "-half-added"
    with LocalStore(str(store_root)) as store:
        store.db.add_pending([path])
        Path(store.real_path(path)).mkdir()
        (Path(store.real_path(path)) / "f").write_text("x")
        os.chmod(store.real_path(path), 0o555)
        assert not store.is_valid_path(path)
    with LocalStore(str(store_root)) as store:  # opening recovers
        assert listing(store) == set()
        assert store.db.pending() == []


def test_crash_between_invalidate_and_removal(store_root: Path) -> None:
    with LocalStore(str(store_root)) as store:
        p = store.add_text_to_store("doomed", b"x")
    with LocalStore(str(store_root)) as store:
        assert store.db.invalidate(p)  # as the collector does, then "crash"
        assert os.path.exists(store.real_path(p))
    with LocalStore(str(store_root)) as store:
        assert listing(store) == set() and store.db.pending() == []


def test_pending_paths_being_worked_on_are_left_alone(store_root: Path) -> None:
    path = "/nix/store/" + "b" * 32 + "-building"
    with LocalStore(str(store_root)) as builder:
        with builder.lock_paths([path]):
            builder.prepare_paths([path])
            Path(builder.real_path(path)).write_text("partial output")
            with LocalStore(str(store_root)) as other:
                assert other.recover() == []
                assert os.path.exists(other.real_path(path))
        # the build gave up (lock released, nothing registered): next recovery
        with LocalStore(str(store_root)) as other:
            assert listing(other) == set()


def test_staging_areas_of_dead_processes(store_root: Path) -> None:
    with LocalStore(str(store_root)) as store:
        live = Staging(store.layout)
        Path(live.path).mkdir()
        dead = Staging(store.layout)
        Path(dead.path).write_text("left over")
        assert dead._fd is not None
        os.close(dead._fd)  # its owner "dies"
        dead._fd = None
        removed = store.recover()
        assert removed == [dead.path]
        assert os.path.exists(live.path)
        live.discard()
        assert listing(store) == set()


def test_a_staging_area_still_written_to_is_left_for_later(
    store_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A builder of a killed owner may still write into its staging area for a
    moment: the removal fails (ENOTEMPTY), recovery goes on without it, and
    the next recovery removes it."""
    real_remove = staging.remove_tree
    calls: list[str] = []

    def racing_remove(path: str) -> int:
        calls.append(path)
        if len(calls) == 1:
            raise OSError(errno.ENOTEMPTY, "Directory not empty", path)
        return real_remove(path)

    monkeypatch.setattr(staging, "remove_tree", racing_remove)
    with LocalStore(str(store_root)) as store:
        dead = Staging(store.layout)
        Path(dead.path).mkdir()
        (Path(dead.path) / "output").write_text("still being written")
        assert dead._fd is not None
        os.close(dead._fd)  # its owner "dies"
        dead._fd = None
        assert store.recover() == []
        assert os.path.exists(dead.path)
        assert store.recover() == [dead.path]
        assert listing(store) == set()


def test_a_path_left_complete_is_adopted(store_root: Path, tmp_path: Path) -> None:
    """Files already at a path (crash after rename with the pending record lost,
    or a store shared with Nix) are registered when they are the right ones."""
    src = tmp_path / "src"
    src.write_text("contents")
    with LocalStore(str(store_root)) as store:
        p = store.add_to_store(str(src))
        inode = os.lstat(store.real_path(p)).st_ino
        store.db.invalidate(p)
        store.db.remove_pending([p])
        assert store.add_to_store(str(src)) == p
        assert os.lstat(store.real_path(p)).st_ino == inode  # adopted, not copied
        # wrong contents at the path are replaced
        store.db.invalidate(p)
        store.db.remove_pending([p])
        os.chmod(store.real_path(p), 0o644)
        Path(store.real_path(p)).write_text("garbage")
        assert store.add_to_store(str(src)) == p
        assert Path(store.real_path(p)).read_text() == "contents"
        assert store.verify(check_contents=True) == []

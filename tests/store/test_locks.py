"""The lock primitives: per open file description, stale files, Nix's marker."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from pynix.store.locks import PathLocks, acquire_lock_file, lock_fd, release_lock_file


def test_locks_exclude_within_one_process(tmp_path: Path) -> None:
    path = str(tmp_path / "x.lock")
    fd = acquire_lock_file(path)
    assert fd is not None
    assert acquire_lock_file(path, wait=False) is None  # another description
    shared = acquire_lock_file(path, "shared", wait=False)
    assert shared is None
    release_lock_file(fd)
    a = acquire_lock_file(path, "shared")
    b = acquire_lock_file(path, "shared", wait=False)
    assert a is not None and b is not None
    assert acquire_lock_file(path, wait=False) is None
    release_lock_file(a)
    release_lock_file(b)


def test_waiter_retries_after_the_file_is_deleted(tmp_path: Path) -> None:
    path = str(tmp_path / "p.lock")
    fd = acquire_lock_file(path)
    assert fd is not None
    got: list[bool] = []

    def wait() -> None:
        w = acquire_lock_file(path)
        assert w is not None
        st, now = os.fstat(w), os.stat(path)
        got.append(st.st_nlink == 1 and (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino))
        release_lock_file(w)

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.1)
    release_lock_file(fd, path)  # delete while a waiter blocks on the old file
    t.join(10)
    assert got == [True]  # it holds the lock of the file now at the path


def test_a_marked_file_left_by_a_crash_is_reused(tmp_path: Path) -> None:
    path = tmp_path / "crashed.lock"
    path.write_bytes(b"d")  # marked, never unlinked
    fd = acquire_lock_file(str(path), wait=False)
    assert fd is not None and os.fstat(fd).st_size == 0
    release_lock_file(fd)


def test_locks_are_released_when_a_process_dies(tmp_path: Path) -> None:
    path = str(tmp_path / "held.lock")
    code = ("import sys, time; from pynix.store.locks import acquire_lock_file\n"
            "fd = acquire_lock_file(sys.argv[1]); print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, path], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"held\n"
    assert acquire_lock_file(path, wait=False) is None
    proc.kill()
    proc.wait()
    fd = acquire_lock_file(path, wait=False)
    assert fd is not None
    release_lock_file(fd)


def test_ofd_locks_conflict_with_posix_locks_like_nix(tmp_path: Path) -> None:
    """Nix takes classic fcntl (POSIX) locks on <path>.lock; ours must exclude them."""
    path = str(tmp_path / "nix.lock")
    code = ("import fcntl, sys, time\n"
            "f = open(sys.argv[1], 'a'); fcntl.lockf(f, fcntl.LOCK_EX)\n"
            "print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, path], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"held\n"
    try:
        fd = os.open(path, os.O_RDWR)
        assert not lock_fd(fd, "exclusive", wait=False)
        os.close(fd)
    finally:
        proc.kill()
        proc.wait()


def test_path_locks_all_or_nothing(tmp_path: Path) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    holder = PathLocks()
    assert holder.lock([b])
    other = PathLocks()
    assert not other.lock([a, b], wait=False)
    holder.release()
    assert other.lock([a, b], wait=False)
    other.release()
    assert not os.path.exists(b + ".lock")  # deleted on release

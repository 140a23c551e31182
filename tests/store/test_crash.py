"""Crash safety: real processes killed with SIGKILL at random moments.

After every kill the store is opened again (which recovers leftovers) and
must verify with ``check_contents``: every valid path complete with its
registered hash, references valid, no staging areas or pending paths left,
nothing in the store directory that is not a valid path.  Profiles must
point at a complete generation.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pynix.profiles import Profile
from pynix.store import LocalStore

from .helpers import worker, worker_env

# (operation, kills): 60 kills in all
OPERATIONS = [("add", 14), ("import", 10), ("register", 10), ("build", 12), ("gc", 10),
              ("profile", 10), ("optimise", 6)]


def _kill_at_random(args: list[str], tmp: Path, rng: random.Random) -> int:
    """Start a worker, let it work for a random while, SIGKILL it; steps it finished."""
    proc = worker(*args, tmpdir=tmp / "worker-tmp")
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line == b"ready\n", proc.stderr.read() if proc.stderr else line
    finished = 0
    if rng.random() < 0.5:
        # let one step complete first, so that some kills land in later steps
        # however slow the machine is
        step = proc.stdout.readline()
        assert step, proc.stderr.read() if proc.stderr else step
        finished = 1
    time.sleep(rng.uniform(0.0, 0.35))
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, err.decode(errors="replace")
    return finished + len(out.splitlines())


def _leftovers(store: LocalStore) -> list[str]:
    valid = {os.path.basename(p) for p in store.query_all_valid_paths()}
    real_store = store.real_path("/nix/store")
    return [e for e in os.listdir(real_store) if e != ".links" and e not in valid]


def _open_recovered(root: Path) -> LocalStore:
    """Open the store (which recovers) until nothing but valid paths is left.

    Recovery skips staging areas and lock files whose lock is still held.  A
    killed builder process can leave a child that was forked but has not yet
    called exec: until it does, it shares the dead process's open lock files
    (and so its locks).  On a loaded machine that lasts a moment; a leftover
    that is still there after a few seconds is a real leak.
    """
    deadline = time.monotonic() + 10
    while True:
        store = LocalStore(str(root), runtime_roots=False)
        if not _leftovers(store) or time.monotonic() > deadline:
            return store
        store.close()
        time.sleep(0.05)


def _assert_consistent(root: Path, profile: str | None = None) -> LocalStore:
    store = _open_recovered(root)
    problems = store.verify(check_contents=True)
    assert problems == []
    assert store.db.pending() == []
    valid = {os.path.basename(p) for p in store.query_all_valid_paths()}
    real_store = Path(store.real_path("/nix/store"))
    for entry in os.listdir(real_store):
        if entry == ".links":
            continue
        assert entry in valid, f"leftover {entry} in the store directory"
        st = os.lstat(real_store / entry)
        assert st.st_mtime == 1
        if not os.path.islink(real_store / entry):
            assert st.st_mode & 0o222 == 0, f"{entry} is writable"
    if profile is not None and os.path.lexists(profile):
        current = Profile(profile).current()
        assert current is not None, "the profile points at no generation"
        assert store.is_valid_path(current.store_path)
    return store


@pytest.mark.parametrize(("op", "kills"), OPERATIONS)
def test_sigkill_leaves_a_consistent_store(tmp_path: Path, op: str, kills: int) -> None:
    rng = random.Random(f"crash-{op}")
    root = tmp_path / "root"
    LocalStore(str(root)).close()
    profile = str(root / "nix/var/nix/profiles/test")
    steps = 0
    for _ in range(kills):
        args = [op, str(root)] + ([profile] if op == "profile" else [])
        steps += _kill_at_random(args, tmp_path, rng)
        _assert_consistent(root, profile if op == "profile" else None).close()
    # the kills happened while the operation was running, not only at start-up
    assert steps > 0
    # and the command a user runs after a crash agrees
    verify = subprocess.run(
        [sys.executable, "-c", "import sys; from pynix.cli.main import main; sys.exit(main())",
         "store", "verify", "--check-contents", "--json", "--store", f"local?root={root}"],
        env=worker_env(tmp_path / "worker-tmp"), capture_output=True, timeout=300,
    )
    assert verify.returncode == 0, verify.stderr.decode(errors="replace")
    assert json.loads(verify.stdout)["problems"] == []
    with LocalStore(str(root), runtime_roots=False) as store:
        if op != "profile":
            store.collect_garbage()
            assert store.query_all_valid_paths() == set()
        assert store.verify(check_contents=True) == []

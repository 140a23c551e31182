"""Concurrent processes on one store: real processes, real locks."""

from __future__ import annotations

import random
import signal
from pathlib import Path

from pynix.store import LocalStore

from .helpers import random_tree, worker


def test_two_processes_add_the_same_path(tmp_path: Path) -> None:
    root = tmp_path / "root"
    src = random_tree(tmp_path / "src", random.Random(2), depth=3, width=6)
    LocalStore(str(root)).close()
    procs = [worker("same", str(root), str(src), "25", tmpdir=tmp_path / "w") for _ in range(3)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err.decode()
    printed = {line for out, _ in outputs for line in out.decode().split()[1:]}
    assert len(printed) == 1
    with LocalStore(str(root), runtime_roots=False) as store:
        assert store.query_all_valid_paths() == printed
        assert store.verify(check_contents=True) == []


def test_gc_racing_with_adders_deletes_nothing_in_use(tmp_path: Path) -> None:
    root = tmp_path / "root"
    LocalStore(str(root)).close()
    collector = worker("gc", str(root), tmpdir=tmp_path / "w-gc")
    assert collector.stdout is not None
    assert collector.stdout.readline() == b"ready\n"
    racers = [worker("race", str(root), str(seed), "80", tmpdir=tmp_path / f"w{seed}")
              for seed in range(3)]
    try:
        results = [r.communicate(timeout=120) for r in racers]
    finally:
        collector.send_signal(signal.SIGTERM)
        gc_out, gc_err = collector.communicate(timeout=60)
    for r, (out, err) in zip(racers, results):
        assert r.returncode == 0, err.decode()
        assert out.decode().split()[-1] == "ok", out.decode()
    # the collector really was deleting garbage while the racers worked
    deleted = sum(int(x) for x in gc_out.decode().split()[1:])
    assert deleted > 0, gc_err.decode()
    with LocalStore(str(root), runtime_roots=False) as store:
        assert store.verify(check_contents=True) == []
        store.collect_garbage()
        assert store.query_all_valid_paths() == set()

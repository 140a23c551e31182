"""A separate pynix process for the crash and concurrency tests.

``python worker.py OP ROOT [ARGS...]``; prints ``ready`` once the store is
open, then one line per finished step.  Ops:

* ``add`` - add random trees and texts referring to earlier ones, forever;
* ``import`` - import random NARs, forever;
* ``register`` - make outputs the way a build does and register them, forever;
* ``gc`` - add garbage (closing the store to drop temp roots) and collect, forever;
* ``profile PROFILE`` - add paths and switch/roll back/delete generations, forever;
* ``optimise`` - add duplicated files and optimise, forever;
* ``build`` - evaluate and build chains of small derivations (real builds through
  the scheduler, sandbox off), forever;
* ``same SRC N`` - add ``SRC`` N times, print the path each time;
* ``race SEED N`` - add N paths (chained references), keep them, check them at
  the end: prints ``ok`` or the problems;
* ``gcloop SECONDS`` - collect garbage in a loop, print how many paths it deleted.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from pynix.compat.hashing import HashFormat
from pynix.compat.nar import nar_hash_and_size, write_nar
from pynix.compat.storepath import make_store_path
from pynix.profiles import Profile
from pynix.store import LocalStore, PathInfo


def say(*words: object) -> None:
    print(*words, flush=True)


def tree(path: Path, rng: random.Random, depth: int = 2) -> Path:
    path.mkdir(parents=True)
    for i in range(rng.randint(1, 5)):
        p = path / f"f{i}"
        r = rng.random()
        if r < 0.6 or depth == 0:
            p.write_bytes(rng.randbytes(rng.randint(0, 20000)))
            p.chmod(0o755 if rng.random() < 0.3 else 0o644)
        elif r < 0.7:
            os.symlink("f0", p)
        else:
            tree(p, rng, depth - 1)
    return path


def random_path(rng: random.Random, name: str) -> str:
    return make_store_path("output:out", rng.randbytes(32), name)


def op_add(store: LocalStore, rng: random.Random, tmp: Path) -> None:
    made: list[str] = []
    for i in range(10**9):
        if rng.random() < 0.5:
            p = store.add_to_store(str(tree(tmp / f"t{i}", rng)), f"tree-{i}")
        else:
            refs = rng.sample(made, min(len(made), rng.randint(0, 3)))
            text = f"text {i} {rng.random()} " + " ".join(refs)
            p = store.add_text_to_store(f"text-{i}", text.encode(), refs)
        made.append(p)
        say(p)


def op_import(store: LocalStore, rng: random.Random, tmp: Path) -> None:
    for i in range(10**9):
        src = tree(tmp / f"t{i}", rng)
        buf = io.BytesIO()
        write_nar(src, buf)
        h, size = nar_hash_and_size(src)
        info = PathInfo(random_path(rng, f"imp-{i}"), h.to_prefixed(HashFormat.NIX32), size)
        buf.seek(0)
        store.import_nar(info, buf)
        say(info.path)


def op_register(store: LocalStore, rng: random.Random, tmp: Path) -> None:
    for i in range(10**9):
        outs = [random_path(rng, f"built-{i}-{k}") for k in range(rng.randint(1, 2))]
        for p in outs:
            store.add_temp_root(p)
        with store.lock_paths(outs):
            store.prepare_paths(outs)
            infos = []
            for k, p in enumerate(outs):
                src = tree(tmp / f"t{i}-{k}", rng)
                os.rename(src, store.real_path(p))
                h, size = nar_hash_and_size(store.real_path(p))
                infos.append(PathInfo(p, h.to_prefixed(HashFormat.NIX32), size, ultimate=True))
            store.register_valid_paths(infos)
        say(*outs)


def op_gc(store: LocalStore, rng: random.Random, tmp: Path) -> None:
    root = store.layout.root
    for i in range(10**9):
        with LocalStore(root, runtime_roots=False) as s:
            prev: list[str] = []
            for k in range(3):
                p = s.add_text_to_store(f"garbage-{i}-{k}", rng.randbytes(50).hex().encode(), prev)
                prev = [p]
            s.add_to_store(str(tree(tmp / f"t{i}", rng)), f"gtree-{i}")
        result = store.collect_garbage()
        say(len(result.deleted))


def op_profile(store: LocalStore, rng: random.Random, tmp: Path, profile_path: str) -> None:
    profile = Profile(profile_path, store)
    for i in range(10**9):
        r = rng.random()
        if r < 0.6 or profile.current_number() is None:
            p = store.add_text_to_store(f"env-{i}", f"generation {i} {rng.random()}".encode())
            profile.set(p)
        elif r < 0.8:
            with contextlib.suppress(Exception):
                profile.rollback()
        else:
            profile.delete_generations(["old"])
        say(profile.current_number())


def op_optimise(store: LocalStore, rng: random.Random, tmp: Path) -> None:
    for i in range(10**9):
        blob = rng.randbytes(5000)
        for k in range(3):
            d = tmp / f"t{i}-{k}"
            d.mkdir()
            (d / "same").write_bytes(blob)
            (d / f"own{k}").write_bytes(rng.randbytes(100))
            store.add_to_store(str(d), f"dup-{i}-{k}")
        say(*store.optimise())


def op_same(store: LocalStore, src: str, n: int) -> None:
    for _ in range(n):
        say(store.add_to_store(src, "same"))


def op_race(store: LocalStore, rng: random.Random, tmp: Path, n: int) -> None:
    made: list[str] = []
    for i in range(n):
        r = rng.random()
        if r < 0.4:
            # garbage first (its store object and so its temporary root go at
            # once), then the same path again: valid garbage that a collector
            # may be deleting right now
            data = f"again {i} {rng.random()}".encode()
            with LocalStore(store.layout.root, runtime_roots=False) as other:
                other.add_text_to_store(f"race-{i}", data)
            time.sleep(rng.uniform(0, 0.01))
            p = store.add_text_to_store(f"race-{i}", data)
        elif r < 0.7:
            p = store.add_to_store(str(tree(tmp / f"t{i}", rng, depth=1)), f"race-{i}")
        else:
            refs = rng.sample(made, min(len(made), rng.randint(0, 3)))
            p = store.add_text_to_store(f"race-{i}", f"{i} {rng.random()}".encode(), refs)
        made.append(p)
        if rng.random() < 0.3:
            time.sleep(0.01)
    problems = [p for p in made if not store.is_valid_path(p)]
    for p in made:
        if p in problems:
            continue
        info = store.query_path_info(p)
        h, _ = nar_hash_and_size(store.real_path(p))
        if h.to_prefixed(HashFormat.NIX32) != info.nar_hash:
            problems.append(p)
        for ref in info.references:
            if not os.path.lexists(store.real_path(ref)):
                problems.append(ref)
    say("ok" if not problems else "problems: " + " ".join(problems))


def op_build(store: LocalStore, rng: random.Random, tmp: Path) -> None:
    from pynix.build.evalstore import BuildingEvalStore
    from pynix.build.scheduler import Scheduler
    from pynix.build.settings import BuildSettings
    from pynix.config import load_config
    from pynix.lang.errors import EvalError
    from pynix.lang.evaluator import Evaluator
    from pynix.lang.runtime import force
    from pynix.lang.stack import on_big_stack

    settings = BuildSettings.from_config(load_config([("sandbox", "false")], env={}))
    settings.max_jobs = 2
    scheduler = Scheduler(store, settings)
    ev = Evaluator(store=BuildingEvalStore(store, scheduler, error=EvalError), env={})
    n = 0
    while True:
        # a short chain: each output refers to the previous one and has a few files
        expr = (
            "let mk = i: dep: derivation { name = \"crash-${toString i}\"; "
            "system = \"x86_64-linux\"; builder = \"/bin/sh\"; inherit dep; "
            f"seed = \"{rng.getrandbits(64)}\"; "
            "args = [ \"-c\" \"/bin/mkdir $out; echo $seed $dep > $out/a; "
            "/usr/bin/head -c 20000 /dev/urandom > $out/b; /bin/ln -s a $out/c\" ]; }; "
            "in builtins.foldl' (d: i: mk i d) \"\" (builtins.genList (i: i) 4)"
        )
        drv = on_big_stack(lambda e=expr: str(force(force(ev.eval_string(e))["drvPath"])))
        report = scheduler.build([drv])
        assert report.success, report.failures
        n += 1
        say("built", n)


def op_gcloop(store: LocalStore, seconds: float) -> None:
    end = time.monotonic() + seconds
    total = 0
    while time.monotonic() < end:
        total += len(store.collect_garbage().deleted)
    say(total)


def main() -> None:
    op, root, *args = sys.argv[1:]
    store = LocalStore(root, runtime_roots=False)
    seed = int(args[0]) if op in ("race",) else int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        say("ready")
        if op == "add":
            op_add(store, rng, tmp)
        elif op == "import":
            op_import(store, rng, tmp)
        elif op == "register":
            op_register(store, rng, tmp)
        elif op == "gc":
            op_gc(store, rng, tmp)
        elif op == "profile":
            op_profile(store, rng, tmp, args[0])
        elif op == "optimise":
            op_optimise(store, rng, tmp)
        elif op == "build":
            op_build(store, rng, tmp)
        elif op == "same":
            op_same(store, args[0], int(args[1]))
        elif op == "race":
            op_race(store, rng, tmp, int(args[1]))
        elif op == "gcloop":
            op_gcloop(store, float(args[0]))
        else:
            raise SystemExit(f"unknown op {op}")
    store.close()


if __name__ == "__main__":
    main()

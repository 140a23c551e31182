"""The scheduler: order, parallelism, failures, substitution, locks, logs,
``--check`` and ``--keep-failed``."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import time

import pytest

from pynix.build.logs import find_log, read_log
from pynix.build.scheduler import BuildError, BuildStatus, parse_target
from pynix.compat.hashing import Hash, HashFormat
from pynix.compat.nar import nar_hash, nar_of_bytes
from pynix.store.api import PathInfo

from .conftest import Env

pytestmark = pytest.mark.usefixtures("bwrap")


def test_parse_target() -> None:
    assert parse_target("/nix/store/x.drv") == ("/nix/store/x.drv", None)
    assert parse_target("/nix/store/x.drv^out,dev") == ("/nix/store/x.drv", {"out", "dev"})
    assert parse_target("/nix/store/x.drv!out") == ("/nix/store/x.drv", {"out"})
    assert parse_target("/nix/store/x.drv^*") == ("/nix/store/x.drv", None)


def test_chain_builds_in_order_and_registers(env: Env) -> None:
    a = env.drv("a", "echo a > $out")
    b = env.drv("b", "read x < $dep0; echo $x b $dep0 > $out", deps=[a])
    report = env.build(b)
    assert report.success
    assert [r.status for r in (report.results[a], report.results[b])] == [BuildStatus.BUILT] * 2
    out_b = env.out(b)
    assert env.read(out_b) == f"a b {env.out(a)}\n"
    info = env.store.query_path_info(out_b)
    assert info.references == {env.out(a)}
    assert info.deriver == b
    assert info.ultimate
    assert Hash.parse(info.nar_hash) == nar_hash(env.real(out_b))
    assert env.store.query_derivation_outputs(b) == {"out": out_b}
    kinds = [(e.kind, e.path) for e in env.events if e.kind in ("building", "built")]
    assert kinds == [("building", a), ("built", a), ("building", b), ("built", b)]
    assert env.events[0].message == f"building '{a}'..."

    # a second run has nothing to do
    env.events.clear()
    report = env.build(b)
    assert report.results[b].status == BuildStatus.VALID
    assert a not in report.results  # not even looked at: b's output is valid
    assert not [e for e in env.events if e.kind == "building"]


def test_multiple_outputs_and_references_between_them(env: Env) -> None:
    drv = env.drv(
        "multi",
        'echo lib > $lib; echo "uses $lib" > $out; echo $out > $dev',
        outputs=("out", "lib", "dev"),
    )
    report = env.build(drv + "^dev")
    assert report.success
    result = report.results[drv]
    assert set(result.outputs) == {"out", "lib", "dev"}
    store = env.store
    assert store.query_path_info(env.out(drv, "out")).references == {env.out(drv, "lib")}
    assert store.query_path_info(env.out(drv, "dev")).references == {env.out(drv, "out")}
    assert store.query_path_info(env.out(drv, "lib")).references == set()


def test_log_is_kept_and_readable(env: Env) -> None:
    drv = env.drv("noisy", "echo to-stdout; echo to-stderr >&2; echo done > $out")
    scheduler = env.scheduler()
    report = scheduler.build([drv])
    assert report.success
    log = scheduler.read_log(drv)
    assert log == b"to-stdout\nto-stderr\n"
    base = os.path.basename(drv)
    expected = os.path.join(env.root, "nix/var/log/nix/drvs", base[:2], base[2:] + ".bz2")
    assert find_log(os.path.join(env.root, "nix/var/log/nix"), drv) == expected
    assert report.results[drv].log_path == expected
    # a plain log (another tool's) is read as well
    plain_dir = os.path.join(env.tmp, "logs")
    os.makedirs(os.path.join(plain_dir, "drvs", base[:2]))
    with open(os.path.join(plain_dir, "drvs", base[:2], base[2:]), "wb") as fh:
        fh.write(b"plain\n")
    assert read_log(plain_dir, drv) == b"plain\n"


def test_build_logs_stream_to_caller(env: Env) -> None:
    drv = env.drv("chatty", "echo line1; echo line2; echo > $out")
    seen: list[tuple[str, bytes]] = []
    from pynix.build.scheduler import Scheduler

    sched = Scheduler(
        env.store,
        env.settings(print_build_logs=True),
        on_log=lambda p, data: seen.append((p, data)),
    )
    assert sched.build([drv]).success
    assert b"".join(d for _, d in seen) == b"line1\nline2\n"
    assert {p for p, _ in seen} == {drv}


def test_failure_stops_dependents_and_keep_going(env: Env) -> None:
    bad = env.drv("bad", "echo oops; exit 3")
    after_bad = env.drv("after-bad", "echo > $out", deps=[bad])
    good = env.drv("good", "echo good > $out")
    report = env.build(after_bad, good, keep_going=True)
    assert not report.success
    assert report.results[bad].status == BuildStatus.FAILED
    assert report.results[bad].error == f"builder for '{bad}' failed with exit code 3"
    assert report.results[bad].log_tail == ["oops"]
    assert report.results[after_bad].status == BuildStatus.DEPENDENCY_FAILED
    assert report.results[good].status == BuildStatus.BUILT
    assert [r.path for r in report.failures] == [bad]
    with pytest.raises(BuildError, match="failed with exit code 3"):
        env.scheduler().realise([bad])


def test_failure_without_keep_going_cancels_the_rest(env: Env) -> None:
    bad = env.drv("bad1", "exit 1")
    # sorts after bad1 so it is not started before the failure with -j1
    later = env.drv("zzz-later", "echo > $out")
    report = env.build(bad, later)
    assert report.results[bad].status == BuildStatus.FAILED
    if report.results[later].status != BuildStatus.BUILT:
        assert report.results[later].status == BuildStatus.CANCELLED
    assert not env.store.is_valid_path(env.out(bad))


def test_a_running_build_is_killed_when_another_fails(env: Env) -> None:
    marker = os.path.join(env.tmp, "slow-finished")
    slow = env.drv("slow", f"i=0; while [ $i -lt 3000000 ]; do i=$((i+1)); done; echo > {marker}")
    bad = env.drv("quick-bad", "exit 1")
    start = time.monotonic()
    report = env.build(slow, bad, max_jobs=2, sandbox=False)
    assert time.monotonic() - start < 10
    assert report.results[bad].status == BuildStatus.FAILED
    assert report.results[slow].status == BuildStatus.CANCELLED
    assert not os.path.exists(marker)
    assert not env.store.is_valid_path(env.out(slow))


def test_parallel_diamond(env: Env) -> None:
    """-j2: the two middle builds wait for each other, which only works if they
    run at the same time (with -j1 they would time out)."""
    sync = os.path.join(env.tmp, "sync")
    os.makedirs(sync)
    top = env.drv("top", "echo top > $out")

    def middle(me: str, other: str) -> str:
        script = (
            f"echo > {sync}/{me}; i=0; "
            f"while [ ! -e {sync}/{other} ]; do i=$((i+1)); "
            f'if [ $i -gt 2000000 ]; then echo "no {other}"; exit 1; fi; done; '
            f"read x < $dep0; echo $x {me} > $out"
        )
        return env.drv(me, script, deps=[top])

    left, right = middle("left", "right"), middle("right", "left")
    bottom = env.drv("bottom", "read a < $dep0; read b < $dep1; echo $a $b > $out",
                     deps=[left, right])  # fmt: skip
    report = env.build(bottom, max_jobs=2, sandbox=False)
    assert report.success, [(r.path, r.error, r.log_tail) for r in report.failures]
    assert env.read(env.out(bottom)) == "top left top right\n"
    running = max(e.running for e in env.events)
    assert running == 2


def test_substituter_is_tried_first(env: Env) -> None:
    dep = env.drv("dep", "exit 1")  # would fail if built
    drv = env.drv("subst", "exit 1", deps=[dep])
    out = env.out(drv)
    asked: list[str] = []

    def substituter(path: str) -> bool:
        asked.append(path)
        if path != out:
            return False
        nar = nar_of_bytes(b"from the cache\n")
        digest = hashlib.sha256(nar).digest()
        info = PathInfo(
            out, Hash("sha256", digest).to_prefixed(HashFormat.NIX32), len(nar), deriver=drv
        )
        import io

        env.store.import_nar(info, io.BytesIO(nar))
        return True

    report = env.build(drv, substituter=substituter)
    assert report.success
    assert report.results[drv].status == BuildStatus.SUBSTITUTED
    assert asked == [out]
    assert env.read(out) == "from the cache\n"


def test_plain_paths_as_targets(env: Env) -> None:
    ghost = "/nix/store/" + "0" * 32 + "-ghost"
    src = env.store.add_text_to_store("src", b"x")
    report = env.build(ghost, src)
    assert report.results[ghost].status == BuildStatus.FAILED
    assert report.results[ghost].error == (
        f"path '{ghost}' is required, but there is no substituter that can build it"
    )
    assert report.results[src].status == BuildStatus.VALID
    assert report.targets == [ghost, src]


def test_output_must_exist(env: Env) -> None:
    drv = env.drv("lazy", "echo nothing", outputs=("out", "dev"))
    result = env.build(drv + "^*").results[drv]
    assert result.status == BuildStatus.FAILED
    assert result.error == (
        f"builder for '{drv}' failed to produce output path for output 'dev' at "
        f"'{env.out(drv, 'dev')}'"
    )


def test_fixed_output_hash_mismatch(env: Env) -> None:
    right = Hash("sha256", hashlib.sha256(b"right\n").digest())
    drv = env.drv("fod", "echo wrong > $out", fixed=("fod", right, False))
    result = env.build(drv).results[drv]
    assert result.status == BuildStatus.FAILED
    got = Hash("sha256", hashlib.sha256(b"wrong\n").digest())
    assert result.error == (
        f"hash mismatch in fixed-output derivation '{drv}':\n"
        f"  specified: {right.to_sri()}\n"
        f"     got:    {got.to_sri()}"
    )
    out = env.out(drv)
    assert not env.store.is_valid_path(out)
    assert not os.path.lexists(env.real(out))

    good = env.drv("fod-ok", "echo right > $out", fixed=("fod-ok", right, False))
    assert env.build(good).success
    info = env.store.query_path_info(env.out(good))
    assert info.ca == f"fixed:sha256:{right.to_nix32()}"


def test_fixed_output_recursive_other_algo(env: Env) -> None:
    from pynix.compat.nar import NarDirectory, NarRegular, dump_tree

    tree = dump_tree(NarDirectory({b"f": NarRegular(b"x\n", executable=False)}))
    digest = Hash("sha1", hashlib.sha1(tree).digest())
    drv = env.drv("fod-rec", "mkdir $out && echo x > $out/f", fixed=("fod-rec", digest, True),
                  PATH="/usr/bin")  # fmt: skip
    from .conftest import usr_sandbox_paths

    report = env.build(drv, sandbox_paths=usr_sandbox_paths())
    assert report.success, report.results[drv].error
    assert env.store.query_path_info(env.out(drv)).ca == f"fixed:r:sha1:{digest.to_nix32()}"


def test_allowed_and_disallowed_references(env: Env) -> None:
    dep = env.drv("ref-dep", "echo dep > $out")
    ok = env.drv("ref-ok", "echo $dep0 > $out", deps=[dep], allowedReferences="")
    result = env.build(ok).results[ok]
    assert result.status == BuildStatus.FAILED
    assert result.error == (
        f"output '{env.out(ok)}' is not allowed to refer to the following paths:\n  {env.out(dep)}"
    )
    allowed = env.drv("ref-ok2", "echo $dep0 $out > $out", deps=[dep],
                      allowedReferences=f"out {env.out(dep)}")  # fmt: skip
    assert env.build(allowed).success
    dis = env.drv("ref-dis", "echo $dep0 > $out", deps=[dep], disallowedRequisites=env.out(dep))
    assert "not allowed to refer" in (env.build(dis).results[dis].error or "")
    assert not env.store.is_valid_path(env.out(dis))


def test_keep_failed(env: Env) -> None:
    drv = env.drv("keep", "echo kept > marker; exit 1")
    result = env.build(drv, keep_failed=True).results[drv]
    assert result.kept_build_dir is not None
    assert os.path.basename(result.kept_build_dir) == "nix-build-keep.drv-0"
    with open(os.path.join(result.kept_build_dir, "marker"), encoding="utf-8") as fh:
        assert fh.read() == "kept\n"
    assert f"note: keeping build directory '{result.kept_build_dir}'" in (result.error or "")
    # without keep-failed the next failure's directory (-1, as -0 is taken) goes away
    drv2 = env.drv("keep", "echo again > marker; exit 1", extra="x")
    result2 = env.build(drv2).results[drv2]
    assert result2.kept_build_dir is None
    assert os.listdir(env.tmp) == ["nix-build-keep.drv-0"]


def test_check_detects_non_determinism(env: Env) -> None:
    drv = env.drv("random", "read u < /proc/sys/kernel/random/uuid; echo $u > $out")
    assert env.build(drv).success
    out = env.out(drv)
    before = os.lstat(env.real(out))
    registered = env.store.query_path_info(out).nar_hash
    result = env.build(drv, check=True).results[drv]
    assert result.status == BuildStatus.NOT_DETERMINISTIC
    old, new = result.differences["out"]
    assert old == Hash.parse(registered).to_sri() and new != old
    assert f"derivation '{drv}' may not be deterministic: output '{out}' differs" in (
        result.error or ""
    )
    assert old in (result.error or "") and new in (result.error or "")
    after = os.lstat(env.real(out))
    assert (before.st_ino, before.st_mtime) == (after.st_ino, after.st_mtime)
    assert env.store.query_path_info(out).nar_hash == registered

    # a deterministic one passes, also without the sandbox
    same = env.drv("same", "echo same > $out")
    assert env.build(same).success
    for sandbox in (True, False):
        result = env.build(same, check=True, sandbox=sandbox).results[same]
        assert result.status == BuildStatus.BUILT, result.error


def test_check_requires_valid_outputs(env: Env) -> None:
    drv = env.drv("unbuilt", "echo > $out")
    result = env.build(drv, check=True).results[drv]
    assert result.status == BuildStatus.FAILED
    assert "not valid, so checking is not possible" in (result.error or "")


def test_cancel_leaves_nothing_valid(env: Env) -> None:
    import threading

    drv = env.drv("forever", "echo started; echo partial > $out; while :; do :; done")
    sched = env.scheduler()
    threading.Timer(0.5, sched.cancel).start()
    result = sched.build([drv]).results[drv]
    assert result.status == BuildStatus.CANCELLED
    assert not env.store.is_valid_path(env.out(drv))
    assert not os.path.lexists(env.real(env.out(drv)))
    leftovers = [n for n in os.listdir(env.real("/nix/store")) if n.startswith(".") and
                 n != ".links"]  # fmt: skip
    assert leftovers == []


def test_killed_build_leaves_nothing(env: Env) -> None:
    """SIGKILL the building process: the builder dies with it, nothing is valid,
    and the store's recovery removes the private build root."""
    import signal

    marker = os.path.join(env.tmp, "builder-pid")
    drv = env.drv("victim", f"echo $$ > {marker}; echo partial > $out; while :; do :; done")
    env.store.close()
    proc = subprocess.Popen([sys.executable, "-c", _WORKER, env.root, env.tmp, drv])
    store_dir = env.real("/nix/store")
    deadline = time.monotonic() + 30
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert any(n.startswith(".pynix-tmp-") for n in os.listdir(store_dir))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    from pynix.store.url import open_store

    time.sleep(0.5)  # bwrap's --die-with-parent
    with open_store(f"local?root={env.root}") as store:
        assert not store.is_valid_path(env.out(drv))
        assert not os.path.lexists(store.real_path(env.out(drv)))
        assert [n for n in os.listdir(store_dir) if n.startswith(".pynix-tmp-")] == []
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert marker not in ps


_WORKER = textwrap.dedent(
    """
    import sys
    from pynix.store.url import open_store
    from pynix.build.scheduler import Scheduler
    from pynix.build.settings import BuildSettings
    store = open_store("local?root=" + sys.argv[1])
    settings = BuildSettings(max_jobs=2, cores=1, sandbox=False, build_dir_parent=sys.argv[2])
    report = Scheduler(store, settings).build(sys.argv[3:])
    for p, r in sorted(report.results.items()):
        print(p, r.status.value, r.error)
    # like a result link: the outputs stay alive after this process (whose
    # temporary roots protect them until then)
    for drv in sys.argv[3:]:
        out = store.read_derivation(drv).outputs["out"].path
        store.add_perm_root(out, sys.argv[2] + "/result-" + out[44:])
    sys.exit(0 if report.success else 1)
    """
)


_GC_LOOP = textwrap.dedent(
    """
    import os, sys
    from pynix.store.url import open_store
    collections = 0
    with open_store("local?root=" + sys.argv[1]) as store:
        while not os.path.exists(sys.argv[2]):
            store.collect_garbage()
            collections += 1
    print(collections)
    """
)


def test_two_processes_build_each_output_once(env: Env) -> None:
    counts = os.path.join(env.tmp, "counts")
    os.makedirs(counts)

    def counted(name: str, deps: list[str]) -> str:
        script = (
            f"echo $$ >> {counts}/{name}; i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; "
            f"echo {name} > $out"
        )
        return env.drv(name, script, deps=deps)

    base = counted("base", [])
    shared = [counted(f"shared{i}", [base]) for i in range(4)]
    only1 = counted("only1", shared[:3])
    only2 = counted("only2", shared[1:])
    top1 = counted("top1", [only1, shared[0]])
    top2 = counted("top2", [only2, shared[3]])
    for top in (top1, top2):  # the derivations stay; their outputs have only temp roots
        env.store.add_perm_root(top, os.path.join(env.tmp, os.path.basename(top)))
    env.store.close()  # the workers open the store themselves
    # ...while a third process collects garbage in a loop: nothing they use may
    # disappear
    stop_file = os.path.join(env.tmp, "stop-collecting")
    collector = subprocess.Popen(
        [sys.executable, "-c", _GC_LOOP, env.root, stop_file],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, env.root, env.tmp, top],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for top in (top1, top2)
    ]
    try:
        outputs = [p.communicate(timeout=120)[0] for p in procs]
    finally:
        with open(stop_file, "w"):
            pass
        gc_out = collector.communicate(timeout=60)[0]
    assert collector.returncode == 0, gc_out
    assert int(gc_out.split()[0]) > 0, gc_out  # it collected while they built
    assert [p.returncode for p in procs] == [0, 0], outputs
    built = {}
    for name in os.listdir(counts):
        with open(os.path.join(counts, name), encoding="utf-8") as fh:
            built[name] = len(fh.read().split())
    assert built == dict.fromkeys(
        ["base", "shared0", "shared1", "shared2", "shared3", "only1", "only2", "top1", "top2"], 1
    )
    # the results are complete and intact, with their whole closures
    from pynix.store.url import open_store

    with open_store(f"local?root={env.root}") as store:
        assert store.verify(check_contents=True) == []
        for top, name in ((top1, "top1"), (top2, "top2")):
            out = store.read_derivation(top).outputs["out"].path
            with open(store.real_path(out), encoding="utf-8") as fh:
                assert fh.read() == f"{name}\n"
            todo = [out]
            while todo:
                p = todo.pop()
                assert store.is_valid_path(p)
                todo.extend(r for r in store.query_path_info(p).references if r != p)


def test_timeout(env: Env) -> None:
    drv = env.drv("slowpoke", "while :; do :; done")
    result = env.build(drv, timeout=1).results[drv]
    assert result.status == BuildStatus.FAILED
    assert result.error == f"building of '{drv}' timed out after 1 seconds"


def test_scheduler_is_reusable_after_a_failure(env: Env) -> None:
    sched = env.scheduler()
    bad = env.drv("fails", "exit 1")
    assert not sched.build([bad]).success
    good = env.drv("works", "echo > $out")
    assert sched.build([good]).success


_DIRECT_WORKER = textwrap.dedent(
    """
    import sys
    from pynix.store.url import open_store
    from pynix.build.local_build import LocalBuilder
    from pynix.build.scheduler import Scheduler
    from pynix.build.settings import BuildSettings
    store = open_store("local")
    settings = BuildSettings(sandbox=False, build_dir_parent=sys.argv[1])
    scheduler = Scheduler(store, settings)
    assert scheduler.builder.mode_for(store.read_derivation(sys.argv[2]), False) == "direct"
    report = scheduler.build(sys.argv[2:])
    for p, r in sorted(report.results.items()):
        print(p, r.status.value, r.error)
    """
)


def test_direct_mode_in_a_mount_namespace(env: Env, bwrap: str) -> None:
    """A store at its logical place, no sandbox: the builder runs as a plain
    child and writes in place.  Run in a namespace where the chroot store is
    /nix, as pynix runs programs of a chroot store."""
    a = env.drv("direct-a", "echo a > $out")
    b = env.drv("direct-b", "read x < $dep0; echo $x b > $out", deps=[a])
    bad = env.drv("direct-bad", "echo partial > $out; exit 1")
    env.store.close()
    proc = subprocess.run(
        [bwrap, "--dev-bind", "/", "/", "--bind", os.path.join(env.root, "nix"), "/nix",
         sys.executable, "-c", _DIRECT_WORKER, env.tmp, b, bad],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert lines[b].startswith("built") and lines[a].startswith("built")
    assert lines[bad].startswith("failed builder for")
    from pynix.store.url import open_store

    with open_store(f"local?root={env.root}") as store:
        assert store.is_valid_path(env.out(b))
        with open(store.real_path(env.out(b)), encoding="utf-8") as fh:
            assert fh.read() == "a b\n"
        assert not store.is_valid_path(env.out(bad))
        assert not os.path.lexists(store.real_path(env.out(bad)))

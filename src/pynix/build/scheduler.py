"""Realising derivation graphs: what to build, in which order, how many at once.

:meth:`Scheduler.build` takes targets (a ``.drv`` path with the outputs
wanted, or a plain store path that must become valid) and works in two
phases:

1. *Planning*, top-down from the targets: a derivation whose wanted outputs
   are valid is done; otherwise the substituter (if any) is asked for each
   missing output; whatever is still missing must be built, which makes the
   derivation's inputs wanted in turn.  Input sources must be valid or
   substitutable.
2. *Building*, bottom-up: derivations whose inputs are done run on a pool of
   ``max_jobs`` threads (each build is mostly a child process to wait for).
   A failure marks everything depending on it as failed; the other builds
   go on with ``keep_going``, otherwise running builds are stopped.

The per-output locks and the re-check after locking live in
:class:`~.local_build.LocalBuilder`, so two pynix processes building
overlapping graphs each build a given output at most once between them.
"""

from __future__ import annotations

import collections
import concurrent.futures
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from ..compat.derivation import Derivation, DerivationError
from ..store.api import Store, StoreError
from .local_build import BuildCancelled, BuildFailure, BuildRequest, LocalBuilder
from .logs import default_log_dir, read_log
from .settings import BuildSettings

# "try to fetch this store path"; True if it is valid afterwards
Substituter = Callable[[str], bool]


class BuildStatus(StrEnum):
    BUILT = "built"
    VALID = "valid"  # nothing to do: already valid (or built by another process)
    SUBSTITUTED = "substituted"
    FAILED = "failed"
    DEPENDENCY_FAILED = "dependency-failed"
    CANCELLED = "cancelled"  # not built because another build failed (no keep-going)
    NOT_DETERMINISTIC = "not-deterministic"  # --check found a different output


@dataclass
class BuildResult:
    """What happened to one derivation (or plain store path)."""

    path: str
    status: BuildStatus
    # output name -> store path (the wanted outputs; all of them when built)
    outputs: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    log_tail: list[str] = field(default_factory=list)
    log_path: str | None = None
    kept_build_dir: str | None = None
    # --check: output name -> (registered NAR hash, rebuilt NAR hash)
    differences: dict[str, tuple[str, str]] = field(default_factory=dict)
    start_time: float = 0.0
    stop_time: float = 0.0

    @property
    def success(self) -> bool:
        return self.status in (BuildStatus.BUILT, BuildStatus.VALID, BuildStatus.SUBSTITUTED)


@dataclass
class BuildEvent:
    """A progress report: ``message`` is a line for the user."""

    kind: str  # building | checking | built | failed | substituting | substituted
    path: str
    message: str
    done: int = 0
    running: int = 0
    total: int = 0


@dataclass
class BuildReport:
    targets: list[str]
    results: dict[str, BuildResult]

    @property
    def success(self) -> bool:
        return all(self.results[t].success for t in self.targets) and not self.failures

    @property
    def failures(self) -> list[BuildResult]:
        """The builds that failed themselves (not those skipped because of them)."""
        return [
            r
            for r in self.results.values()
            if r.status in (BuildStatus.FAILED, BuildStatus.NOT_DETERMINISTIC)
        ]

    def outputs(self, target: str) -> dict[str, str]:
        return self.results[target].outputs


class BuildError(Exception):
    """Raised by :meth:`Scheduler.realise` when something failed."""

    def __init__(self, report: BuildReport) -> None:
        self.report = report
        failures = report.failures
        if len(failures) == 1 and failures[0].error:
            message = failures[0].error
        elif failures:
            message = f"{len(failures)} derivations failed to build"
        else:
            message = "build failed"
        super().__init__(message)


Target = tuple[str, set[str] | None]


def parse_target(text: str) -> Target:
    """``/nix/store/x.drv``, ``x.drv^out,dev``, ``x.drv!out`` or ``x.drv^*``."""
    for sep in ("^", "!"):
        if sep in text:
            path, _, outs = text.partition(sep)
            return path, None if outs == "*" else set(outs.split(","))
    return text, None


@dataclass
class _Node:
    drv: Derivation
    wanted: set[str] = field(default_factory=set)
    needs_build: bool = False
    check: bool = False


class Scheduler:
    """Builds derivation graphs against one store.

    ``substituter``: tried for a missing path before building it.
    ``progress``: receives :class:`BuildEvent` lines.  ``on_log``: receives
    builder output as it comes (``drv path, bytes``) when
    ``settings.print_build_logs`` is on.  Both are called from the build
    threads, one call at a time.
    """

    def __init__(
        self,
        store: Store,
        settings: BuildSettings | None = None,
        *,
        substituter: Substituter | None = None,
        progress: Callable[[BuildEvent], None] | None = None,
        on_log: Callable[[str, bytes], None] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings or BuildSettings()
        self.substituter = substituter
        self.progress = progress
        self.on_log = on_log
        if self.settings.log_dir is None:
            self.log_dir: str | None = default_log_dir(store)
        else:
            self.log_dir = self.settings.log_dir or None
        self.builder = LocalBuilder(store, self.settings, self.log_dir)
        self._cancel = threading.Event()
        self._counts = {"done": 0, "running": 0, "total": 0}
        # callbacks are called from build threads, but never two at once
        self._callback_lock = threading.Lock()

    def cancel(self) -> None:
        """Stop: running builds are killed, nothing new starts."""
        self._cancel.set()

    def read_log(self, drv_path: str) -> bytes | None:
        return None if self.log_dir is None else read_log(self.log_dir, drv_path)

    # -- the whole thing -------------------------------------------------------------

    def realise(self, targets: Iterable[str | Target], *, check: bool = False) -> BuildReport:
        """Like :meth:`build`, but raises :class:`BuildError` unless all went well."""
        report = self.build(targets, check=check)
        if not report.success:
            raise BuildError(report)
        return report

    def build(self, targets: Iterable[str | Target], *, check: bool = False) -> BuildReport:
        """Realise ``targets``; ``check`` rebuilds valid targets and compares."""
        parsed = [parse_target(t) if isinstance(t, str) else t for t in targets]
        # A cancellation (or a failure without keep-going) ends one run only.
        self._cancel = threading.Event()
        results: dict[str, BuildResult] = {}
        nodes: dict[str, _Node] = {}
        self._plan(parsed, nodes, results, check)
        self._execute(nodes, results)
        for drv_path, node in nodes.items():
            result = results[drv_path]
            if result.success and not result.outputs:
                result.outputs = {o: node.drv.outputs[o].path for o in sorted(node.wanted)}
        order = list(dict.fromkeys(path for path, _ in parsed))
        return BuildReport(order, results)

    # -- planning --------------------------------------------------------------------

    def _emit(self, kind: str, path: str, message: str) -> None:
        if self.progress is not None:
            c = self._counts
            event = BuildEvent(kind, path, message, c["done"], c["running"], c["total"])
            with self._callback_lock:
                self.progress(event)

    def _valid(self, path: str) -> bool:
        # Temporary root first, then the check: the GC cannot slip in between.
        self.store.add_temp_root(path)
        return self.store.is_valid_path(path)

    def _substitute(self, path: str) -> bool:
        if self.substituter is None:
            return False
        self._emit("substituting", path, f"copying path '{path}' from a substituter...")
        try:
            ok = self.substituter(path)
        except Exception:  # a broken cache is just a cache that does not have it
            ok = False
        ok = ok and self.store.is_valid_path(path)
        if ok:
            self._emit("substituted", path, f"copied path '{path}'")
        return ok

    def _plan(
        self,
        targets: list[Target],
        nodes: dict[str, _Node],
        results: dict[str, BuildResult],
        check: bool,
    ) -> None:
        # (path, wanted outputs (None: all), check it, is it a plain path)
        queue: collections.deque[tuple[str, set[str] | None, bool, bool]] = collections.deque(
            (path, outs, check, not path.endswith(".drv")) for path, outs in targets
        )
        while queue:
            path, outs, check_this, plain = queue.popleft()
            if plain:
                self._plan_path(path, results)
                continue
            node = nodes.get(path)
            if node is None:
                if path in results:
                    continue  # failed to load
                drv = self._load(path, results)
                if drv is None:
                    continue
                node = nodes[path] = _Node(drv)
                results[path] = BuildResult(path, BuildStatus.VALID)
            names = set(node.drv.outputs) if outs is None else set(outs)
            unknown = names - node.drv.outputs.keys()
            if unknown:
                results[path] = BuildResult(
                    path,
                    BuildStatus.FAILED,
                    error=f"derivation '{path}' does not have wanted outputs "
                    + ", ".join(f"'{o}'" for o in sorted(unknown)),
                )
                continue
            new = names - node.wanted
            node.wanted |= names
            if node.needs_build:
                continue
            if check_this:
                node.check = True
            elif not new:
                continue
            else:
                missing = [o for o in sorted(new) if not self._valid(node.drv.outputs[o].path)]
                fetched = [o for o in missing if self._substitute(node.drv.outputs[o].path)]
                if fetched:
                    results[path].status = BuildStatus.SUBSTITUTED
                if len(fetched) == len(missing):
                    continue
            node.needs_build = True
            for input_drv, input_outs in sorted(node.drv.input_drvs.items()):
                queue.append((input_drv, set(input_outs), False, False))
            for src in sorted(node.drv.input_srcs):
                queue.append((src, None, False, True))

    def _plan_path(self, path: str, results: dict[str, BuildResult]) -> None:
        if path in results:
            return
        if self._valid(path):
            results[path] = BuildResult(path, BuildStatus.VALID)
        elif self._substitute(path):
            results[path] = BuildResult(path, BuildStatus.SUBSTITUTED)
        else:
            results[path] = BuildResult(
                path,
                BuildStatus.FAILED,
                error=f"path '{path}' is required, but there is no substituter that can build it",
            )

    def _load(self, drv_path: str, results: dict[str, BuildResult]) -> Derivation | None:
        if not self._valid(drv_path) and not self._substitute(drv_path):
            results[drv_path] = BuildResult(
                drv_path, BuildStatus.FAILED, error=f"path '{drv_path}' is not valid"
            )
            return None
        try:
            return self.store.read_derivation(drv_path)
        except (OSError, StoreError, DerivationError) as e:
            results[drv_path] = BuildResult(
                drv_path, BuildStatus.FAILED, error=f"cannot read derivation '{drv_path}': {e}"
            )
            return None

    # -- building --------------------------------------------------------------------

    def _execute(self, nodes: dict[str, _Node], results: dict[str, BuildResult]) -> None:
        todo = {p for p, n in nodes.items() if n.needs_build}
        # input derivation -> the derivations waiting for it
        dependents: dict[str, set[str]] = collections.defaultdict(set)
        waiting_for: dict[str, set[str]] = {}
        for p in todo:
            node = nodes[p]
            deps = {d for d in node.drv.input_drvs if d in todo}
            waiting_for[p] = deps
            for d in deps:
                dependents[d].add(p)
        self._counts = {"done": 0, "running": 0, "total": len(todo)}

        def fail_dependents(failed: str) -> None:
            stack = [failed]
            while stack:
                for dep in sorted(dependents.get(stack.pop(), ())):
                    if dep in todo:
                        todo.discard(dep)
                        results[dep] = BuildResult(
                            dep,
                            BuildStatus.DEPENDENCY_FAILED,
                            error=f"cannot build derivation '{dep}': a dependency "
                            f"('{failed}') could not be built",
                        )
                        stack.append(dep)

        # Inputs that failed in planning (missing sources, unloadable drvs).
        for p in sorted(todo):
            node = nodes[p]
            bad = [
                i
                for i in (*node.drv.input_drvs, *node.drv.input_srcs)
                if i in results and i not in todo and not results[i].success
            ]
            if bad and p in todo:
                todo.discard(p)
                results[p] = BuildResult(
                    p,
                    BuildStatus.DEPENDENCY_FAILED,
                    error=f"cannot build derivation '{p}': a dependency ('{bad[0]}') "
                    "could not be built",
                )
                fail_dependents(p)

        if todo and self.settings.max_jobs < 1:
            for p in sorted(todo):
                results[p] = BuildResult(
                    p,
                    BuildStatus.FAILED,
                    error="unable to start any build; either increase '--max-jobs' or enable "
                    "remote builds",
                )
            return

        stop = False
        running: dict[concurrent.futures.Future[BuildResult], str] = {}
        with concurrent.futures.ThreadPoolExecutor(max(1, self.settings.max_jobs)) as pool:
            while todo or running:
                if not stop:
                    started = set(running.values())
                    ready = sorted(p for p in todo if not waiting_for[p] and p not in started)
                    for p in ready:
                        if len(running) >= self.settings.max_jobs:
                            break
                        running[pool.submit(self._build_one, p, nodes[p])] = p
                        self._counts["running"] = len(running)
                if not running:
                    break
                done, _ = concurrent.futures.wait(
                    running, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for future in done:
                    p = running.pop(future)
                    todo.discard(p)
                    result = future.result()
                    results[p] = result
                    self._counts["done"] += 1
                    self._counts["running"] = len(running)
                    if result.success:
                        for dep in dependents.get(p, ()):
                            waiting_for[dep].discard(p)
                        continue
                    fail_dependents(p)
                    if not self.settings.keep_going and result.status != BuildStatus.CANCELLED:
                        stop = True
                        self._cancel.set()
                if stop and not running:
                    break
        for p in sorted(todo):
            results[p] = BuildResult(
                p, BuildStatus.CANCELLED, error=f"build of '{p}' was not started"
            )

    def _build_one(self, drv_path: str, node: _Node) -> BuildResult:
        drv = node.drv
        inputs = set(drv.input_srcs)
        for input_drv, outs in drv.input_drvs.items():
            try:
                input_outputs = self.store.read_derivation(input_drv).outputs
                inputs.update(input_outputs[o].path for o in outs)
            except (OSError, StoreError, DerivationError, KeyError) as e:
                return BuildResult(
                    drv_path, BuildStatus.FAILED, error=f"cannot read input '{input_drv}': {e}"
                )
        verb = "checking outputs of" if node.check else "building"
        self._emit("checking" if node.check else "building", drv_path, f"{verb} '{drv_path}'...")
        on_output = None
        if self.settings.print_build_logs and self.on_log is not None:
            on_log = self.on_log

            def on_output(data: bytes) -> None:
                with self._callback_lock:
                    on_log(drv_path, data)

        start = time.time()
        request = BuildRequest(drv_path, drv, inputs, check=node.check)
        try:
            local = self.builder.build(request, cancel=self._cancel, on_output=on_output)
        except BuildCancelled as e:
            result = BuildResult(drv_path, BuildStatus.CANCELLED, error=e.message)
        except BuildFailure as e:
            result = BuildResult(
                drv_path,
                BuildStatus.FAILED,
                error=e.message,
                log_tail=e.log_tail,
                log_path=e.log_path,
                kept_build_dir=e.kept_build_dir,
            )
        except Exception as e:  # a bug or an I/O error: report it on this build
            result = BuildResult(
                drv_path,
                BuildStatus.FAILED,
                error=f"error while building '{drv_path}': {type(e).__name__}: {e}",
            )
        else:
            status = BuildStatus.BUILT if local.built else BuildStatus.VALID
            result = BuildResult(drv_path, status, outputs=dict(local.outputs),
                                 log_path=local.log_path)  # fmt: skip
            if local.differences:
                result.status = BuildStatus.NOT_DETERMINISTIC
                result.differences = local.differences
                lines = [
                    f"derivation '{drv_path}' may not be deterministic: output "
                    f"'{local.outputs[name]}' differs (registered NAR hash {old}, "
                    f"rebuilt NAR hash {new})"
                    for name, (old, new) in sorted(local.differences.items())
                ]
                for kept in local.kept_check_outputs:
                    lines.append(f"note: keeping the rebuilt output at '{kept}'")
                result.error = "\n".join(lines)
        result.start_time, result.stop_time = start, time.time()
        if result.success:
            self._emit("built", drv_path, f"built '{drv_path}'")
        else:
            self._emit("failed", drv_path, f"error: {result.error}")
        return result

"""Building one derivation on this machine.

The steps, for a derivation whose inputs are all valid:

1. keep its inputs and outputs alive (temporary GC roots) and lock its
   outputs; if another process built them meanwhile, stop here;
2. make a fresh build directory ``nix-build-<name>.drv-<n>`` (mode 0700) and
   write the ``passAsFile``/structured-attrs files into it;
3. run the builder with exactly Nix's environment, stdin ``/dev/null``,
   stdout and stderr into the log, umask 0022, in its own process group:

   * ``sandbox``: in bubblewrap (:mod:`.sandbox`); outputs appear in a
     private store directory ``<private root>/nix/store``, where the private
     root is a staging area of the store (``<real store>/.pynix-tmp-*``, or
     ``<real store>/<drv>.chroot`` for stores without staging areas);
   * ``relaxed``: no sandbox, but the store is not at ``/nix/store`` (chroot
     store) or the outputs must not go to their real place (``--check``):
     bubblewrap shows the host file system with the private store directory
     at ``/nix/store``;
   * ``direct``: no sandbox and a store at its logical place: the builder
     runs as a plain child process and writes its outputs in place (as Nix
     does); they are not valid until registered;
   * ``builtin``: ``builtin:fetchurl`` runs in this process, into the
     private store directory;

4. check the outputs (:mod:`.outputs`), move them into place with
   ``rename`` (the private directory is inside the store directory, so this
   is atomic) and register them with the store.

A build killed at any point leaves nothing valid: at worst an invalid path
or a private root; the store removes both (``recover``: pending paths and
staging areas of dead processes), or the next build of the derivation does.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal

from ..compat.derivation import Derivation
from ..compat.hashing import Hash
from ..store.api import Store
from ..store.layout import StoreLayout
from ..store.staging import Staging
from .builtins import BuiltinContext, BuiltinError, builtin_builder, is_builtin
from .canonicalise import canonicalise_root, remove_tree
from .environment import (
    builder_environment,
    output_rewrites,
    rewrite_strings,
    string_list_attr,
)
from .locks import LockCancelled, OutputLocks
from .logs import LogWriter
from .outputs import BuiltOutput, OutputError, process_outputs
from .sandbox import (
    SANDBOX_BUILD_DIR,
    SandboxError,
    SandboxSpec,
    find_bwrap,
    relaxed_args,
    sandbox_args,
)
from .settings import BuildSettings

BuildMode = Literal["sandbox", "relaxed", "direct", "builtin"]
_POLL: Final = 0.05


class BuildFailure(Exception):
    """A derivation failed to build.  ``str()`` is the error message;
    ``log_tail`` the last lines of its log, ``kept_build_dir`` where the build
    directory was kept (``keep_failed``)."""

    def __init__(
        self,
        message: str,
        *,
        log_tail: list[str] | None = None,
        log_path: str | None = None,
        kept_build_dir: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.log_tail = log_tail or []
        self.log_path = log_path
        self.kept_build_dir = kept_build_dir


class BuildCancelled(BuildFailure):
    pass


@dataclass
class LocalBuildResult:
    outputs: dict[str, str]
    # False when the outputs turned out to be valid once locked (built elsewhere)
    built: bool
    log_path: str | None = None
    # --check: output name -> (registered NAR hash, rebuilt NAR hash), for outputs that differ
    differences: dict[str, tuple[str, str]] = field(default_factory=dict)
    kept_check_outputs: list[str] = field(default_factory=list)


@dataclass
class BuildRequest:
    drv_path: str
    drv: Derivation
    # the store paths the builder uses directly: input sources and the wanted
    # outputs of input derivations (their closure is computed here)
    input_paths: set[str]
    check: bool = False


def check_platform(drv: Derivation, drv_path: str, settings: BuildSettings) -> None:
    """Raise if this machine cannot build ``drv`` (system or features)."""
    required = set(string_list_attr(drv, "requiredSystemFeatures") or [])
    platforms = {settings.system, *settings.extra_platforms}
    ok_platform = drv.platform in platforms or (
        drv.platform == "builtin" and is_builtin(drv.builder)
    )
    if ok_platform and required <= set(settings.system_features):
        return
    have = ", ".join(sorted(settings.system_features))
    raise BuildFailure(
        f"a '{drv.platform}' with features {{{', '.join(sorted(required))}}} is required to "
        f"build '{drv_path}', but I am a '{settings.system}' with features {{{have}}}"
    )


def _make_build_dir(parent: str, drv_name: str) -> str:
    """A fresh ``nix-build-<name>.drv-<n>`` directory, mode 0700."""
    n = 0
    while True:
        path = os.path.join(parent, f"nix-build-{drv_name}.drv-{n}")
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            n += 1
            continue
        os.chmod(path, 0o700)  # whatever the umask
        return path


class LocalBuilder:
    """Builds single derivations for a :class:`~pynix.build.scheduler.Scheduler`."""

    def __init__(self, store: Store, settings: BuildSettings, log_dir: str | None) -> None:
        self.store = store
        self.settings = settings
        self.log_dir = log_dir
        self.real_store_dir = store.real_path(store.store_dir)
        self.chroot_store = os.path.realpath(self.real_store_dir) != store.store_dir

    def mode_for(self, drv: Derivation, check: bool) -> BuildMode:
        if is_builtin(drv.builder):
            return "builtin"
        if self.settings.sandbox and (
            not self.settings.sandbox_fallback or find_bwrap() is not None
        ):
            return "sandbox"
        return "relaxed" if self.chroot_store or check else "direct"

    # -- the whole build ----------------------------------------------------------

    def build(
        self,
        request: BuildRequest,
        *,
        cancel: threading.Event,
        on_output: Callable[[bytes], None] | None = None,
    ) -> LocalBuildResult:
        drv, drv_path = request.drv, request.drv_path
        store = self.store
        outputs = {name: out.path for name, out in drv.outputs.items()}
        if not all(outputs.values()):
            raise BuildFailure(
                f"cannot build '{drv_path}': content-addressed derivations are not supported"
            )
        check_platform(drv, drv_path, self.settings)
        for path in (drv_path, *request.input_paths, *outputs.values()):
            store.add_temp_root(path)
        try:
            closure = store.query_closure(request.input_paths)
        except Exception as e:  # an input vanished: report, do not crash the scheduler
            raise BuildFailure(f"cannot build '{drv_path}': {e}") from None

        locks = OutputLocks()
        try:
            locks.acquire((store.real_path(p) for p in outputs.values()), cancel=cancel)
        except LockCancelled:
            raise BuildCancelled(f"build of '{drv_path}' was cancelled") from None
        except OSError as e:
            raise BuildFailure(f"cannot lock the outputs of '{drv_path}': {e}") from None
        try:
            valid = {name for name, path in outputs.items() if store.is_valid_path(path)}
            if request.check:
                missing = sorted(set(outputs) - valid)
                if missing:
                    raise BuildFailure(
                        f"some outputs of '{drv_path}' are not valid, so checking is not possible"
                    )
            elif len(valid) == len(outputs):
                return LocalBuildResult(outputs, built=False)
            return self._build_locked(request, closure, valid, cancel, on_output)
        finally:
            locks.release()

    def _build_locked(
        self,
        request: BuildRequest,
        closure: set[str],
        valid: set[str],
        cancel: threading.Event,
        on_output: Callable[[bytes], None] | None,
    ) -> LocalBuildResult:
        drv, drv_path = request.drv, request.drv_path
        store, settings = self.store, self.settings
        mode = self.mode_for(drv, request.check)
        outputs = {name: out.path for name, out in drv.outputs.items()}
        staging, chroot_root = self._private_root(drv_path)
        private_store = os.path.join(chroot_root, "nix", "store")

        log = LogWriter(self.log_dir, drv_path, tail_lines=settings.log_lines)

        def fail(message: str, build_dir: str | None) -> BuildFailure:
            kept = None
            if build_dir is not None and settings.keep_failed:
                kept = build_dir
                message += f"\nnote: keeping build directory '{build_dir}'"
            return BuildFailure(
                message, log_tail=log.tail(), log_path=log.path, kept_build_dir=kept
            )

        build_dir: str | None = None
        try:
            if staging is None:
                remove_tree(chroot_root)
            if mode == "direct":
                # The builder writes in place: clear invalid leftovers of an
                # interrupted build first (and tell the store, if it tracks them).
                self._prepare([outputs[name] for name in set(outputs) - valid])
            else:
                os.makedirs(chroot_root, mode=0o700)
                os.chmod(chroot_root, 0o700)
                os.makedirs(private_store, mode=0o775)
                os.chmod(private_store, 0o1775)

            parent = settings.build_dir_parent or tempfile.gettempdir()
            build_dir = _make_build_dir(parent, drv.name)
            try:
                if mode == "builtin":
                    self._run_builtin(drv, private_store, build_dir, log)
                else:
                    self._run_builder(
                        drv, drv_path, mode, closure, build_dir, chroot_root, private_store,
                        log, cancel, on_output,
                    )  # fmt: skip
            except BuildCancelled:
                raise
            except BuildFailure as e:
                raise fail(e.message, build_dir) from None
            except (BuiltinError, SandboxError, OSError) as e:
                raise fail(f"builder for '{drv_path}' failed: {e}", build_dir) from None

            wanted = set(outputs) if request.check else set(outputs) - valid
            in_private = mode != "direct"
            locations = {
                name: (
                    os.path.join(private_store, os.path.basename(outputs[name]))
                    if in_private
                    else store.real_path(outputs[name])
                )
                for name in wanted
            }
            keep_writable = in_private and os.geteuid() != 0
            try:
                built = process_outputs(
                    drv,
                    drv_path,
                    locations,
                    closure,
                    keep_root_writable=keep_writable,
                    closure_of=lambda p: store.query_closure([p]),
                    size_of=lambda p: store.query_path_info(p).nar_size,
                )
            except OutputError as e:
                raise fail(str(e), build_dir) from None

            if request.check:
                result = self._compare(built, outputs)
            else:
                self._install(built, in_private, keep_writable)
                result = LocalBuildResult(outputs, built=True)
            result.log_path = log.path
            remove_tree(build_dir)
            build_dir = None
            return result
        except BaseException:
            if build_dir is not None and not settings.keep_failed:
                with contextlib.suppress(OSError):
                    remove_tree(build_dir)
            if mode == "direct":
                for name in set(outputs) - valid:
                    with contextlib.suppress(OSError):
                        remove_tree(store.real_path(outputs[name]))
            raise
        finally:
            log.close()
            with contextlib.suppress(OSError):
                if staging is not None:
                    staging.discard()
                else:
                    remove_tree(chroot_root)

    def _private_root(self, drv_path: str) -> tuple[Staging | None, str]:
        """A directory inside the store directory for the sandbox's files and
        the new outputs (so that they reach their paths by ``rename``).

        With a :class:`LocalStore` it is one of the store's staging areas,
        which the store removes if this process dies; otherwise it is
        ``<drv>.chroot`` as in Nix, removed by the next build of ``drv``.
        """
        layout = getattr(self.store, "layout", None)
        if isinstance(layout, StoreLayout):
            staging = Staging(layout)
            return staging, staging.path
        return None, os.path.join(self.real_store_dir, os.path.basename(drv_path) + ".chroot")

    # -- running the builder ------------------------------------------------------

    def _run_builtin(
        self, drv: Derivation, private_store: str, build_dir: str, log: LogWriter
    ) -> None:
        builder = builtin_builder(drv.builder)
        builder(
            BuiltinContext(
                drv=drv,
                outputs={
                    name: os.path.join(private_store, os.path.basename(o.path))
                    for name, o in drv.outputs.items()
                    if o.path
                },
                real_path=self.store.real_path,
                build_dir=build_dir,
                log=lambda msg: log.write(msg.encode("utf-8", "surrogateescape")),
            )
        )

    def _run_builder(
        self,
        drv: Derivation,
        drv_path: str,
        mode: BuildMode,
        closure: set[str],
        build_dir: str,
        chroot_root: str,
        private_store: str,
        log: LogWriter,
        cancel: threading.Event,
        on_output: Callable[[bytes], None] | None,
    ) -> None:
        settings, store = self.settings, self.store
        seen_dir = SANDBOX_BUILD_DIR if mode == "sandbox" else build_dir
        benv = builder_environment(
            drv, build_dir=seen_dir, cores=settings.cores, store_dir=store.store_dir
        )
        benv.files.update(self._references_graphs(drv, closure))
        for file_name, contents in benv.files.items():
            fd = os.open(os.path.join(build_dir, file_name), os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         0o644)  # fmt: skip
            with os.fdopen(fd, "wb") as fh:
                fh.write(contents)

        rewrites = output_rewrites(drv)
        command = [rewrite_strings(a, rewrites) for a in (drv.builder, *drv.args)]
        pass_fds: tuple[int, ...] = ()
        args_file = None
        cwd = build_dir
        if mode in ("sandbox", "relaxed"):
            bwrap = find_bwrap()
            if bwrap is None:
                why = "sandboxing" if mode == "sandbox" else "building in a chroot store"
                raise SandboxError(
                    f"{why} requires bubblewrap ('bwrap'), which is not installed"
                    + ("; set 'sandbox = false' to build without it" if mode == "sandbox" else "")
                )
            spec = SandboxSpec(
                store_source=private_store,
                inputs=sorted((store.real_path(p), p) for p in closure),
                build_dir=build_dir,
                scratch_dir=chroot_root,
                fixed_output=drv.is_fixed_output,
                paths=settings.sandbox_paths,
                store_dir=store.store_dir,
            )
            options = sandbox_args(spec) if mode == "sandbox" else relaxed_args(spec)
            # Options go through a file: an input closure can be longer than
            # the command line may be.
            args_file = tempfile.TemporaryFile(dir=chroot_root)  # noqa: SIM115
            args_file.write(b"".join(os.fsencode(a) + b"\0" for a in options))
            args_file.flush()
            args_file.seek(0)
            pass_fds = (args_file.fileno(),)
            command = [bwrap, "--args", str(args_file.fileno()), "--", *command]
            cwd = "/"

        try:
            proc = subprocess.Popen(
                command,
                env=benv.variables,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                umask=0o022,
                pass_fds=pass_fds,
                close_fds=True,
            )
        except OSError as e:
            raise SandboxError(f"executing '{drv.builder}': {e.strerror}") from None
        finally:
            if args_file is not None:
                args_file.close()

        assert proc.stdout is not None
        pump = threading.Thread(
            target=_pump, args=(proc.stdout.fileno(), log, on_output), daemon=True
        )
        pump.start()
        reason = _wait(proc, cancel, settings.timeout)
        pump.join(5)
        proc.stdout.close()
        if reason == "cancelled":
            raise BuildCancelled(f"build of '{drv_path}' was cancelled", log_tail=log.tail())
        if reason is not None:
            raise BuildFailure(f"building of '{drv_path}' {reason}")
        status = proc.returncode
        if status != 0:
            if status < 0:
                how = f"due to signal {-status} ({signal.Signals(-status).name})"
            else:
                how = f"with exit code {status}"
            raise BuildFailure(f"builder for '{drv_path}' failed {how}")

    def _references_graphs(self, drv: Derivation, closure: set[str]) -> dict[str, bytes]:
        """``exportReferencesGraph = [ name path ... ]``: a file per name in the
        build directory listing the closure of ``path`` in Nix's registration
        format (path, empty deriver line, reference count, references)."""
        if "__json" in drv.env:
            return {}  # structured attrs put these in .attrs.json (not supported yet)
        words = drv.env.get("exportReferencesGraph", "").split()
        if len(words) % 2:
            raise BuildFailure("odd number of tokens in 'exportReferencesGraph'")
        files: dict[str, bytes] = {}
        for name, path in zip(words[::2], words[1::2], strict=True):
            if not re.fullmatch(r"[A-Za-z0-9_.+-]+", name) or name.startswith("."):
                raise BuildFailure(f"invalid file name '{name}' in 'exportReferencesGraph'")
            store_path = "/".join(path.split("/")[:4])
            if store_path not in closure:
                raise BuildFailure(f"'exportReferencesGraph' contains a non-input path '{path}'")
            lines: list[str] = []
            for p in sorted(self.store.query_closure([store_path])):
                refs = sorted(self.store.query_path_info(p).references)
                lines += [p, "", str(len(refs)), *refs]
            files[name] = "".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape")
        return files

    # -- after the build ----------------------------------------------------------

    def _prepare(self, paths: list[str]) -> None:
        """Clear the places of invalid outputs we hold the locks of."""
        prepare = getattr(self.store, "prepare_paths", None)
        if callable(prepare):  # LocalStore: also records them as pending
            prepare(paths)
            return
        for path in paths:
            remove_tree(self.store.real_path(path))

    def _install(self, built: dict[str, BuiltOutput], in_private: bool, writable: bool) -> None:
        store = self.store
        if in_private:
            self._prepare([o.path for o in built.values()])
            for out in built.values():
                final = store.real_path(out.path)
                os.rename(out.location, final)
                if writable:
                    canonicalise_root(final)
        store.register_valid_paths([o.info for o in built.values()])

    def _compare(self, built: dict[str, BuiltOutput], outputs: dict[str, str]) -> LocalBuildResult:
        store = self.store
        result = LocalBuildResult(outputs, built=True)
        for name, out in sorted(built.items()):
            registered = Hash.parse(store.query_path_info(out.path).nar_hash)
            rebuilt = Hash.parse(out.info.nar_hash)
            if registered != rebuilt:
                result.differences[name] = (registered.to_sri(), rebuilt.to_sri())
                if self.settings.keep_failed:
                    kept = store.real_path(out.path) + ".check"
                    remove_tree(kept)
                    os.rename(out.location, kept)
                    result.kept_check_outputs.append(kept)
        return result


def _pump(fd: int, log: LogWriter, on_output: Callable[[bytes], None] | None) -> None:
    while True:
        try:
            data = os.read(fd, 1 << 16)
        except OSError:
            return
        if not data:
            return
        log.write(data)
        if on_output is not None:
            with contextlib.suppress(Exception):
                on_output(data)


def _wait(proc: subprocess.Popen[bytes], cancel: threading.Event, timeout: int) -> str | None:
    """Wait for the builder; kill its process group on cancel or timeout.

    The builder is waited for without polling (a watcher thread handles
    cancellation).  Its group is killed while the builder is still an unreaped
    zombie, so the group id cannot have been reused; that also ends anything
    the builder left running.  Returns why it was killed, if it was.
    """
    lock = threading.Lock()
    finished = threading.Event()
    reason: list[str] = []

    def watch() -> None:
        deadline = time.monotonic() + timeout if timeout else None
        while not finished.is_set():
            if cancel.wait(_POLL):
                why = "cancelled"
            elif deadline is not None and time.monotonic() > deadline:
                why = f"timed out after {timeout} seconds"
            else:
                continue
            with lock:
                if not finished.is_set():
                    reason.append(why)
                    _kill_group(proc.pid)
            return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        while True:
            try:
                os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                break
    finally:
        with lock:
            finished.set()
            _kill_group(proc.pid)
        proc.wait()
    # (the watcher notices `finished` by itself; nothing waits for it)
    return reason[0] if reason else None


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)

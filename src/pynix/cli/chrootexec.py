"""Running programs from the store, wherever the store physically is.

Programs refer to ``/nix/store/...``.  With the real store they run as they
are; with a chroot store (``local?root=DIR``) they run inside a mount
namespace in which ``DIR/nix`` is mounted at ``/nix`` (bubblewrap).  Nothing
else is unshared: the whole file system (devices and ``/proc`` included), the
working directory, the environment, the network, the process IDs and the
user stay the same.  (``bwrap --dev /dev --proc /proc`` would give the
program a fresh ``/dev`` without the user's terminal, and mounting a ``/proc``
needs a PID namespace that unprivileged users do not own.)

Standard input and output pass through, the exit status is the program's (a
program killed by signal N gives 128+N, as in a shell), and termination
signals sent to pynix are forwarded to the program (bubblewrap forwards none,
so the program's PID comes from ``--info-fd``).  When pynix's own standard
streams are the process's and the store is the real one, pynix ``exec``s the
program instead, as ``nix run`` does.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import IO

from ..store.api import STORE_DIR, Store
from .storeopts import CommandError

# signals that ask a program to stop or reload: forwarded to it
FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGINT, signal.SIGQUIT)  # fmt: skip
# a terminal sends these to the whole foreground process group, the program included
TERMINAL = (signal.SIGINT, signal.SIGQUIT)


def real_file(store: Store, logical: str) -> str:
    """Where the file a path names really is, following symbolic links (in any
    component) as the program will see them: absolute links into ``/nix/store``
    lead into the store, wherever it physically is."""

    def real(p: str) -> str:
        return store.real_path(p) if p.startswith(STORE_DIR + "/") else p

    current = "/"
    pending = logical.split("/")
    hops = 0
    while pending:
        name = pending.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, name)
        if hops < 40 and os.path.islink(real(candidate)):
            hops += 1
            target = os.readlink(real(candidate))
            pending = target.split("/") + pending
            if target.startswith("/"):
                current = "/"
            continue
        current = candidate
    return real(current)


def chroot_nix_dir(store: Store) -> str | None:
    """``DIR/nix`` of a chroot store; None for a store that is at ``/nix/store``."""
    real = store.real_path(STORE_DIR)
    if os.path.normpath(real) == STORE_DIR:
        return None
    return os.path.dirname(real)


@dataclass(frozen=True)
class Launch:
    """A program to run: ``argv[0]`` is looked up on ``env["PATH"]`` (in the namespace)."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    nix_dir: str | None = None  # a chroot store's DIR/nix, mounted at /nix

    def command_line(self, bwrap: str = "bwrap", info_fd: int | None = None) -> list[str]:
        if self.nix_dir is None:
            return list(self.argv)
        cmd = [bwrap, "--dev-bind", "/", "/", "--bind", self.nix_dir, "/nix",
               "--die-with-parent", "--chdir", self.cwd]  # fmt: skip
        if info_fd is not None:
            cmd += ["--info-fd", str(info_fd)]
        return [*cmd, "--", *self.argv]


def _find_bwrap(env: Mapping[str, str]) -> str:
    found = shutil.which("bwrap", path=os.environ.get("PATH")) or shutil.which(
        "bwrap", path=env.get("PATH"))
    if found is None:
        raise CommandError(
            "bubblewrap ('bwrap') is needed to run programs from a chroot store (it mounts "
            "the store at /nix/store) but was not found on PATH; install it "
            "(apt-get install bubblewrap) or use the real store"
        )
    return found


def _fileno(stream: IO[bytes]) -> int | None:
    try:
        return stream.fileno()
    except (OSError, AttributeError, ValueError):
        return None


def _is_own_process_streams(stdin: IO[bytes], stdout: IO[bytes], stderr: IO[bytes]) -> bool:
    return (_fileno(stdin), _fileno(stdout), _fileno(stderr)) == (0, 1, 2)


def _exec_error(argv0: str, err: OSError) -> CommandError:
    return CommandError(f"unable to execute '{argv0}': {err.strerror or err}")


def run(launch: Launch, stdin: IO[bytes], stdout: IO[bytes], stderr: IO[bytes]) -> int:
    """Run the program; its exit status."""
    if not launch.argv:
        raise CommandError("no program to run")
    if not os.path.isdir(launch.cwd):
        raise CommandError(f"working directory '{launch.cwd}' does not exist")
    own = _is_own_process_streams(stdin, stdout, stderr)
    if launch.nix_dir is None and own:
        _flush(stdout, stderr)
        _exec(launch)  # returns only if it fails
    bwrap = _find_bwrap(launch.env) if launch.nix_dir is not None else None
    if launch.nix_dir is not None and not os.path.isdir("/nix"):
        raise CommandError(
            f"cannot mount the store '{launch.nix_dir}' at /nix: /nix does not exist on "
            "this machine (create an empty directory /nix)"
        )
    _flush(stdout, stderr)
    read_info, write_info = os.pipe() if bwrap is not None else (-1, -1)
    info_fd = write_info if bwrap is not None else None
    cmd = launch.command_line(bwrap or "bwrap", info_fd)
    in_fd, out_fd, err_fd = _fileno(stdin), _fileno(stdout), _fileno(stderr)
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=in_fd if in_fd is not None else subprocess.PIPE,
            stdout=out_fd if out_fd is not None else subprocess.PIPE,
            stderr=err_fd if err_fd is not None else subprocess.PIPE,
            env=launch.env,
            cwd=launch.cwd,
            pass_fds=(write_info,) if info_fd is not None else (),
        )
    except OSError as e:
        for fd in (read_info, write_info):
            if fd >= 0:
                os.close(fd)
        raise _exec_error(cmd[0], e) from None
    pid = proc.pid
    if info_fd is not None:
        os.close(write_info)
        pid = _child_pid(read_info) or proc.pid
    with _forwarding(pid, foreground=own and _in_foreground()):
        pumps = _pump(proc, stdin, stdout, stderr, in_fd, out_fd, err_fd)
        status = proc.wait()
        for t in pumps:
            t.join()
    return 128 - status if status < 0 else status


def _flush(*streams: IO[bytes]) -> None:
    for s in streams:
        with contextlib.suppress(OSError, ValueError):
            s.flush()


def _exec(launch: Launch) -> None:
    try:
        os.chdir(launch.cwd)
        os.execvpe(launch.argv[0], launch.argv, launch.env)
    except OSError as e:
        raise _exec_error(launch.argv[0], e) from None


def _child_pid(fd: int) -> int | None:
    """The PID of bubblewrap's child, from what it writes on ``--info-fd``."""
    chunks = []
    with os.fdopen(fd, "rb") as f:
        while True:
            chunk = f.read(4096)
            if not chunk:
                break
            chunks.append(chunk)
            with contextlib.suppress(ValueError):
                info = json.loads(b"".join(chunks))
                pid = info.get("child-pid") if isinstance(info, dict) else None
                return pid if isinstance(pid, int) else None
    return None


def _in_foreground() -> bool:
    """Whether a terminal delivers its signals to our process group (and so to
    the program: forwarding them would deliver them twice)."""
    try:
        return os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


@contextlib.contextmanager
def _forwarding(pid: int, *, foreground: bool) -> Iterator[None]:
    """Forward signals that reach pynix to ``pid`` while it runs (only the main
    thread may handle signals; elsewhere nothing is forwarded)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, object] = {}

    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)

    for sig in FORWARDED:
        if foreground and sig in TERMINAL:
            previous[sig] = signal.signal(sig, signal.SIG_IGN)  # the program gets it
        else:
            previous[sig] = signal.signal(sig, forward)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]


def _pump(proc: subprocess.Popen[bytes], stdin: IO[bytes], stdout: IO[bytes],
          stderr: IO[bytes], in_fd: int | None, out_fd: int | None,
          err_fd: int | None) -> list[threading.Thread]:
    """Copy between streams that are not files (in-process callers) and the program."""
    threads = []

    def feed() -> None:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            while True:
                data = stdin.read(65536)
                if not data:
                    break
                proc.stdin.write(data)
        with contextlib.suppress(OSError):
            proc.stdin.close()

    def drain(src: IO[bytes] | None, dst: IO[bytes]) -> None:
        assert src is not None
        while True:
            data = src.read1(65536) if hasattr(src, "read1") else src.read(65536)
            if not data:
                break
            dst.write(data)
            with contextlib.suppress(OSError, ValueError):
                dst.flush()

    if in_fd is None:
        threads.append(threading.Thread(target=feed, daemon=True))
    if out_fd is None:
        threads.append(threading.Thread(target=drain, args=(proc.stdout, stdout), daemon=True))
    if err_fd is None:
        threads.append(threading.Thread(target=drain, args=(proc.stderr, stderr), daemon=True))
    for t in threads:
        t.start()
    return threads


def program_env(env: Mapping[str, str], bin_dirs: list[str]) -> dict[str, str]:
    """The user's environment with ``bin_dirs`` in front of ``PATH``."""
    out = dict(env)
    path = out.get("PATH", "")
    out["PATH"] = ":".join([*bin_dirs, *([path] if path else [])])
    return out


__all__ = ["Launch", "chroot_nix_dir", "program_env", "real_file", "run"]

"""What every command that works on a store shares: its flags, the opened store
with its settings, build progress on standard error, and error reporting.

The store is chosen by ``--store URL``, else ``PYNIX_STORE``, else the
``store`` setting of pynix.conf, else the default store
(:func:`pynix.store.url.default_store_url`).  Settings come from pynix.conf
and ``PYNIX_CONFIG`` (:mod:`pynix.config`), then ``--option NAME VALUE``,
then the build flags (``-j``, ``--cores``, ``-K``, ``-k``, ``-L``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO

from ..build.scheduler import BuildEvent, BuildReport, BuildResult, BuildStatus, Scheduler
from ..build.settings import BuildSettings
from ..config import Config, ConfigError, load_config
from ..store.api import Store, StoreError
from ..store.local import LocalStore
from ..store.url import default_store_url, open_store, parse_store_url
from .common import UsageError, run_guarded


class CommandError(Exception):
    """A failure reported as ``error: MESSAGE`` with exit status ``status``."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# exit statuses of failed builds, as Nix's legacy commands use them
BUILD_FAILED = 100
NOT_DETERMINISTIC = 104


def need(argv: list[str], i: int, k: int = 1) -> list[str]:
    """The ``k`` arguments of the flag at ``argv[i]``."""
    if i + k >= len(argv):
        raise UsageError(f"flag '{argv[i]}' requires {k} argument{'s' if k > 1 else ''}")
    return argv[i + 1 : i + 1 + k]


def _count(flag: str, text: str) -> int:
    if text == "auto" and flag in ("-j", "--max-jobs"):
        return os.cpu_count() or 1
    try:
        n = int(text)
    except ValueError:
        raise UsageError(f"flag '{flag}' requires an integer argument, not '{text}'") from None
    if n < 0:
        raise UsageError(f"flag '{flag}' requires a non-negative integer")
    return n


class StoreFlags:
    """``--store``, ``--option`` and the build flags, wherever they appear."""

    # flags of nix that change nothing here, with how many arguments they take
    IGNORED: dict[str, int] = {
        "--extra-experimental-features": 1, "--experimental-features": 1, "-v": 0,
        "--verbose": 0, "--quiet": 0, "--no-warn-dirty": 0, "--eval-store": 1,
        "--builders": 1, "--fallback": 0, "--offline": 0, "--refresh": 0,
        "--impure": 0, "--indirect": 0, "--log-format": 1,
    }

    def __init__(self) -> None:
        self.store_url: str | None = None
        self.options: list[tuple[str, str]] = []
        self.max_jobs: int | None = None
        self.cores: int | None = None
        self.keep_failed: bool | None = None
        self.keep_going: bool | None = None
        self.print_build_logs = False
        self.no_build_output = False

    def take(self, argv: list[str], i: int) -> int:
        """Consume the flag at ``argv[i]``: the index after it, or ``i`` if it is not ours."""
        a = argv[i]
        if a == "--store":
            self.store_url = need(argv, i)[0]
            return i + 2
        if a == "--option":
            name, value = need(argv, i, 2)
            self.options.append((name, value))
            return i + 3
        if a in ("-j", "--max-jobs"):
            self.max_jobs = _count(a, need(argv, i)[0])
            return i + 2
        if a.startswith("-j") and len(a) > 2 and not a.startswith("--"):
            self.max_jobs = _count("-j", a[2:])
            return i + 1
        if a == "--cores":
            self.cores = _count(a, need(argv, i)[0])
            return i + 2
        if a in ("-K", "--keep-failed"):
            self.keep_failed = True
            return i + 1
        if a in ("-k", "--keep-going"):
            self.keep_going = True
            return i + 1
        if a in ("-L", "--print-build-logs"):
            self.print_build_logs = True
            return i + 1
        if a in ("-Q", "--no-build-output"):
            self.no_build_output = True
            return i + 1
        if a in self.IGNORED:
            return i + 1 + len(need(argv, i, self.IGNORED[a]))
        return i

    def open(
        self,
        env: Mapping[str, str] | None,
        cwd: str | None,
        stdout: IO[bytes],
        stderr: IO[bytes],
    ) -> StoreContext:
        environ = dict(os.environ if env is None else env)
        directory = cwd or os.getcwd()
        try:
            config = load_config(self.options, environ)
        except ConfigError as e:
            raise CommandError(str(e)) from None
        for warning in config.warnings:
            stderr.write(f"warning: {warning}\n".encode())
        url = (self.store_url or environ.get("PYNIX_STORE") or str(config["store"] or "")
               or default_store_url())
        store = open_store(_absolute_root(url, directory),
                           **_store_options(url, config))  # fmt: skip
        settings = BuildSettings.from_config(config)
        if self.max_jobs is not None:
            settings.max_jobs = self.max_jobs
        if self.cores is not None:
            settings.cores = self.cores
        if self.keep_failed is not None:
            settings.keep_failed = self.keep_failed
        if self.keep_going is not None:
            settings.keep_going = self.keep_going
        return StoreContext(store, config, settings, stdout, stderr, environ, directory,
                            print_build_logs=self.print_build_logs,
                            no_build_output=self.no_build_output)  # fmt: skip


def _absolute_root(url: str, cwd: str) -> str:
    """``local?root=rel`` relative to the command's working directory."""
    base, params = parse_store_url(url)
    root = params.get("root")
    if base.startswith("/") or root is None or os.path.isabs(root) or not root:
        return url
    rest = "&".join(f"{k}={v}" for k, v in params.items() if k != "root")
    return f"{base}?root={os.path.join(cwd, root)}" + (f"&{rest}" if rest else "")


def _store_options(url: str, config: Config) -> dict[str, object]:
    base, _ = parse_store_url(url)
    if base not in ("local", "auto") and not base.startswith("/"):
        return {}
    return {
        "keep_derivations": bool(config["keep-derivations"]),
        "keep_outputs": bool(config["keep-outputs"]),
        "trusted_public_keys": list(config["trusted-public-keys"]),
    }


@dataclass
class StoreContext:
    """An opened store and everything a command needs around it."""

    store: Store
    config: Config
    settings: BuildSettings
    stdout: IO[bytes]
    stderr: IO[bytes]
    env: dict[str, str]
    cwd: str
    print_build_logs: bool = False
    no_build_output: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> StoreContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def path(self, p: str) -> str:
        """A path from the command line, relative to the working directory."""
        return os.path.normpath(os.path.join(self.cwd, p))

    @property
    def local(self) -> LocalStore:
        """The store, which this operation needs to be on this machine."""
        if not isinstance(self.store, LocalStore):
            raise CommandError("this operation needs a local store")
        return self.store

    def warn(self, message: str) -> None:
        self.stderr.write(f"warning: {message}\n".encode("utf-8", "surrogateescape"))

    def info(self, message: str) -> None:
        self.stderr.write(f"{message}\n".encode("utf-8", "surrogateescape"))

    # -- building -------------------------------------------------------------------

    def scheduler(self, *, classic: bool = False) -> Scheduler:
        """A scheduler reporting on standard error: ``building '...'...`` lines, and
        builder output as it comes with ``-L`` (prefixed by the derivation's name) or
        for the classic commands (raw, unless ``--no-build-output``)."""
        settings = self.settings
        show_logs = (self.print_build_logs or classic) and not self.no_build_output
        settings.print_build_logs = show_logs
        printer = _LogPrinter(self.stderr, prefixed=not classic)
        return Scheduler(
            self.store,
            settings,
            progress=self._progress,
            on_log=printer.write if show_logs else None,
        )

    def _progress(self, event: BuildEvent) -> None:
        if event.kind in ("building", "checking", "substituting"):
            self.info(event.message)


class _LogPrinter:
    """Builder output on standard error, line by line."""

    def __init__(self, out: IO[bytes], *, prefixed: bool) -> None:
        self.out = out
        self.prefixed = prefixed
        self.partial: dict[str, bytes] = {}

    def write(self, drv_path: str, data: bytes) -> None:
        if not self.prefixed:
            self.out.write(data)
            self.out.flush()
            return
        name = os.path.basename(drv_path)[33:].removesuffix(".drv").encode()
        lines = (self.partial.get(drv_path, b"") + data).split(b"\n")
        self.partial[drv_path] = lines.pop()
        for line in lines:
            self.out.write(name + b"> " + line + b"\n")
        self.out.flush()


def build_failure_text(result: BuildResult, *, show_tail: bool, log_command: str) -> str:
    """What Nix prints for a failed build (without ``error: ``)."""
    text = result.error or f"build of '{result.path}' failed"
    if not show_tail or not result.log_tail:
        return text
    tail = result.log_tail
    lines = [text.rstrip(".") + ";", f"       last {len(tail)} log lines:"]
    lines += [f"       > {line}" for line in tail]
    lines.append(f"       For full logs, run '{log_command} {result.path}'.")
    return "\n".join(lines)


def report_build(report: BuildReport, stderr: IO[bytes], *, show_tail: bool,
                 log_command: str = "pynix log") -> int:
    """Print the failures of a build as ``error:`` lines; the exit status."""
    if report.success:
        return 0
    shown: set[str] = set()
    status = 0
    failed = report.failures or [report.results[t] for t in report.targets
                                 if not report.results[t].success]
    for result in failed:
        shown.add(result.path)
        text = build_failure_text(result, show_tail=show_tail, log_command=log_command)
        stderr.write(f"error: {text}\n".encode("utf-8", "surrogateescape"))
        status = max(status, NOT_DETERMINISTIC if result.status == BuildStatus.NOT_DETERMINISTIC
                     else BUILD_FAILED)
    for target in report.targets:
        result = report.results[target]
        if not result.success and target not in shown and result.error:
            stderr.write(f"error: {result.error}\n".encode("utf-8", "surrogateescape"))
    return status or BUILD_FAILED


def guarded(body: Callable[[], int], stderr: IO[bytes], stdout: IO[bytes],
            show_trace: bool = False) -> int:
    """Run a command body: evaluation errors as Nix reports them, store and
    command errors as ``error: ...``, never a traceback."""

    def inner() -> int:
        try:
            return body()
        except CommandError as e:
            stdout.flush()
            stderr.write(f"error: {e.message}\n".encode("utf-8", "surrogateescape"))
            return e.status
        except (StoreError, ConfigError) as e:
            stdout.flush()
            stderr.write(f"error: {e}\n".encode("utf-8", "surrogateescape"))
            return 1
        except UsageError as e:
            stderr.write(f"error: {e}\n".encode("utf-8", "surrogateescape"))
            return 1
        except BrokenPipeError:
            return 1
        except OSError as e:
            stdout.flush()
            where = f" '{os.fsdecode(e.filename)}'" if e.filename is not None else ""
            stderr.write(f"error: {e.strerror or e}{where}\n".encode("utf-8", "surrogateescape"))
            return 1

    return run_guarded(inner, stderr, show_trace, stdout)


# -- the shape of a simple store command -------------------------------------------------

FlagHandler = Callable[[list[str], int], int]
Body = Callable[[StoreContext, list[str]], int]


def store_command(
    prog: str,
    help_text: str,
    argv: list[str],
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: Mapping[str, str] | None,
    cwd: str | None,
    body: Body,
    flag: FlagHandler | None = None,
) -> int:
    """Parse ``argv`` (store flags, ``flag`` for the command's own, positional
    arguments), open the store and run ``body(ctx, args)`` with errors reported."""
    store_flags = StoreFlags()
    args: list[str] = []
    try:
        i = 0
        while i < len(argv):
            a = argv[i]
            j = store_flags.take(argv, i)
            if j == i and flag is not None:
                j = flag(argv, i)
            if j != i:
                i = j
                continue
            if a in ("--help", "-h"):
                stdout.write(help_text.encode())
                return 0
            if a == "--":
                args.extend(argv[i + 1 :])
                break
            if a.startswith("-") and a != "-":
                raise UsageError(f"unrecognised flag '{a}'")
            args.append(a)
            i += 1
    except UsageError as e:
        stderr.write(f"error: {e}\nTry '{prog} --help' for more information.\n".encode())
        return 1

    def run() -> int:
        with store_flags.open(env, cwd, stdout, stderr) as ctx:
            return body(ctx, args)

    return guarded(run, stderr, stdout)


def parse_size(flag: str, text: str) -> int:
    """A byte count with an optional K, M, G or T suffix (powers of 1024)."""
    units = {"K": 1, "M": 2, "G": 3, "T": 4}
    factor = 1
    if text and text[-1].upper() in units:
        factor = 1024 ** units[text[-1].upper()]
        text = text[:-1]
    try:
        n = int(text)
    except ValueError:
        raise UsageError(f"flag '{flag}' requires an integer argument, not '{text}'") from None
    return max(n, 0) * factor


def show_bytes(n: int) -> str:
    return f"{n / (1024 * 1024):.2f} MiB"

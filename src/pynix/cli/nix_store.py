"""``pynix-store``: the classic ``nix-store`` command, with the operations and flags
scripts use and its output formats.

    pynix-store OPERATION [FLAGS...] [ARGS...]

One operation per call (``--query``, ``--realise``, ``--gc``...); the flags
after it modify it, combined short flags (``-qR``) are split.  A failed build
exits with status 100.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import stat
import sys
from collections.abc import Callable, Mapping
from typing import IO

from ..build.logs import default_log_dir, read_log
from ..compat.hashing import BadHash, parse_hash_algo
from ..compat.nar import iter_nar
from ..store.api import STORE_DIR, StoreError
from .common import UsageError
from .exportfmt import ExportFormatError, read_export, write_export
from .installables import Built, Opaque, follow_links_to_store_path
from .nix_store_query import parse_query_flags, run_query
from .pathgraph import topo_sort_paths
from .realise import build, missing_text, query_missing, read_derivation, wanted_outputs
from .repair import repair_hook
from .storecmds.restore import restore
from .storecmds.verify import path_problem, verify_paths
from .storeopts import (
    CommandError,
    StoreContext,
    StoreFlags,
    guarded,
    parse_size,
    report_build,
    show_bytes,
)

PROG = "pynix-store"

HELP = """\
Usage: pynix-store OPERATION [OPTION...] [ARGS...]

The classic nix-store command.  Operations:

  --add PATH...                     copy paths into the store (NAR hash)
  --add-fixed [--recursive] ALGO PATH...
                                    copy paths with a flat (or NAR) ALGO hash
  -q, --query [QUERY] PATH...       query paths; QUERY is one of --outputs (the
                                    default), -R/--requisites [--include-outputs],
                                    --references, --referrers, --referrers-closure,
                                    -d/--deriver, --valid-derivers, -b/--binding NAME,
                                    --hash, --size, --tree, --graph, --roots; with
                                    -u/--use-output and -f/--force-realise
  -r, --realise PATH...             build derivations (drv!out,dev selects outputs)
                                    and print their outputs [--dry-run] [--check]
                                    [--ignore-unknown]
  --gc                              collect garbage [--print-dead | --print-live |
                                    --print-roots | --max-freed N]
  --delete PATH...                  delete paths nothing needs
  --dump PATH                       write the NAR of PATH to standard output
  --restore PATH                    unpack a NAR from standard input at PATH
  --export PATH...                  write paths and their metadata (nix-store format)
  --import                          add the paths of an export on standard input
  --verify [--check-contents] [--repair]
                                    check the whole store
  --verify-path PATH...             check that paths still have their hashes
  --repair-path PATH...             rebuild damaged paths
  --check-validity [--print-invalid] PATH...
                                    fail on (or print) paths that are not valid
  --optimise                        hard-link identical files
  -l, --read-log PATH...            print build logs

Common options:
  --add-root PATH [--indirect]      with --realise: make PATH (PATH-2, ...) a garbage
                                    collector root for each result and print it
  --store URL, --option NAME VALUE, -j N, --cores N, -K, -k, -Q, --no-output
"""

Operation = Callable[[StoreContext, "Invocation"], int]


class Invocation:
    def __init__(self) -> None:
        self.op: str | None = None
        self.flags: list[str] = []
        self.args: list[str] = []
        self.gc_root: str | None = None
        self.no_output = False
        self.store = StoreFlags()
        self.stdin: IO[bytes] = io.BytesIO()


_SHORT_OPS = {"-q": "--query", "-r": "--realise", "-l": "--read-log"}
_LONG_OPS = {
    "--add", "--add-fixed", "--query", "--realise", "--realize", "--gc", "--delete", "--dump",
    "--restore", "--export", "--import", "--verify", "--verify-path", "--repair-path",
    "--check-validity",
    "--optimise", "--optimize", "--read-log", "--version", "--help",
}
# flags of the operations that take a value
_VALUE_FLAGS = {"--max-freed", "--max-links", "--max-atime"}


def _expand(argv: list[str]) -> list[str]:
    """``-qR`` -> ``-q -R`` (short flags combined), as Nix's parser does."""
    out: list[str] = []
    for a in argv:
        if len(a) > 2 and a[0] == "-" and a[1] != "-" and a[1:].isalpha():
            out.extend(f"-{c}" for c in a[1:])
        else:
            out.append(a)
    return out


def parse_args(argv: list[str]) -> Invocation:
    inv = Invocation()
    argv = _expand(argv)
    i = 0
    while i < len(argv):
        a = argv[i]
        op = _SHORT_OPS.get(a, a if a in _LONG_OPS else None)
        if op is not None:
            op = {"--realize": "--realise", "--optimize": "--optimise"}.get(op, op)
            if inv.op is not None:
                raise UsageError("only one operation may be specified")
            inv.op = op
            i += 1
            continue
        j = inv.store.take(argv, i)
        if j != i:
            i = j
            continue
        if a == "--add-root":
            if i + 1 >= len(argv):
                raise UsageError("flag '--add-root' requires 1 argument")
            inv.gc_root = argv[i + 1]
            i += 2
            continue
        if a == "--indirect":
            i += 1
            continue
        if a == "--no-output":
            inv.no_output = True
            i += 1
            continue
        if a.startswith("-") and len(a) > 1:
            inv.flags.append(a)
            if a in _VALUE_FLAGS:
                if i + 1 >= len(argv):
                    raise UsageError(f"flag '{a}' requires 1 argument")
                inv.flags.append(argv[i + 1])
                i += 1
        else:
            inv.args.append(a)
        i += 1
    if inv.op is None:
        raise UsageError("no operation specified")
    return inv


def _no_flags(inv: Invocation, allowed: frozenset[str] | set[str] = frozenset()) -> set[str]:
    given = set(inv.flags)
    unknown = given - allowed
    if unknown:
        raise UsageError(f"unknown flag '{sorted(unknown)[0]}'")
    return given


def _write(ctx: StoreContext, text: str) -> None:
    ctx.stdout.write(text.encode("utf-8", "surrogateescape"))


# -- operations ---------------------------------------------------------------------------


def op_add(ctx: StoreContext, inv: Invocation) -> int:
    _no_flags(inv)
    for a in inv.args:
        _write(ctx, ctx.store.add_to_store(ctx.path(a)) + "\n")
    return 0


def op_add_fixed(ctx: StoreContext, inv: Invocation) -> int:
    recursive = "--recursive" in _no_flags(inv, {"--recursive"})
    if not inv.args:
        raise UsageError("first argument must be hash algorithm")
    algo, paths = inv.args[0], inv.args[1:]
    try:
        parse_hash_algo(algo)
    except BadHash as e:
        raise CommandError(str(e)) from None
    for a in paths:
        _write(ctx, ctx.store.add_to_store(ctx.path(a), recursive=recursive, algo=algo) + "\n")
    return 0


def op_query(ctx: StoreContext, inv: Invocation) -> int:
    _write(ctx, run_query(ctx, parse_query_flags(inv.flags), inv.args))
    return 0


def _with_outputs(ctx: StoreContext, text: str) -> Built | Opaque:
    path_text, sep, outs = text.partition("!")
    path = follow_links_to_store_path(ctx, path_text)
    if path.endswith(".drv"):
        names = frozenset(o for o in outs.split(",") if o) if sep and outs != "*" else None
        return Built(path, names, text)
    return Opaque(path, text)


def op_realise(ctx: StoreContext, inv: Invocation) -> int:
    given = _no_flags(inv, {"--dry-run", "--check", "--ignore-unknown", "--repair"})
    targets = [_with_outputs(ctx, a) for a in inv.args]
    missing = query_missing(ctx.store, targets)
    if "--ignore-unknown" in given:
        targets = [t for t in targets
                   if (t.drv_path if isinstance(t, Built) else t.path) not in missing.unknown]
        missing.unknown.clear()
    if "--check" not in given:
        ctx.stderr.write(missing_text(ctx.store, missing).encode("utf-8", "surrogateescape"))
    if "--dry-run" in given:
        return 0
    report = build(ctx.scheduler(classic=True), targets, check="--check" in given)
    status = report_build(report, ctx.stderr, show_tail=ctx.no_build_output,
                          log_command="pynix-store -l")  # fmt: skip
    if status:
        return status
    if "--ignore-unknown" in given:
        return 0
    root_number = 0
    warned = False
    for t in targets:
        results: set[str] = set()
        if isinstance(t, Built):
            drv = read_derivation(ctx.store, t.drv_path)
            root_number += 1
            for name in wanted_outputs(drv, t.drv_path, t.outputs):
                path = drv.outputs[name].path
                if inv.gc_root is None:
                    results.add(path)
                    continue
                link = inv.gc_root + (f"-{root_number}" if root_number > 1 else "")
                link += "" if name == "out" else f"-{name}"
                results.add(ctx.local.add_perm_root(path, ctx.path(link)))
        elif inv.gc_root is not None:
            root_number += 1
            link = inv.gc_root + (f"-{root_number}" if root_number > 1 else "")
            results.add(ctx.local.add_perm_root(t.path, ctx.path(link)))
        else:
            results.add(t.path)
        if inv.gc_root is None and not warned:
            warned = True
            ctx.warn("you did not specify '--add-root'; the result might be removed by the "
                     "garbage collector")
        if not inv.no_output:
            _write(ctx, "".join(p + "\n" for p in sorted(results)))
    return 0


def op_gc(ctx: StoreContext, inv: Invocation) -> int:
    if inv.args:
        raise UsageError("no arguments expected")
    action = "delete-dead"
    print_roots = False
    max_freed: int | None = None
    flags = iter(inv.flags)
    for f in flags:
        if f == "--print-roots":
            print_roots = True
        elif f == "--print-live":
            action = "return-live"
        elif f == "--print-dead":
            action = "return-dead"
        elif f == "--max-freed":
            max_freed = parse_size(f, next(flags))
        else:
            raise UsageError(f"bad sub-operation '{f}' in GC")
    if print_roots:
        pairs = sorted((link, path) for path, links in ctx.store.find_roots().items()
                       for link in links)  # fmt: skip
        _write(ctx, "".join(f"{link} -> {path}\n" for link, path in pairs))
        return 0
    result = ctx.store.collect_garbage(action=action, max_freed=max_freed)
    if action != "delete-dead":
        _write(ctx, "".join(p + "\n" for p in result.deleted))
        return 0
    for p in result.deleted:
        ctx.info(f"deleting '{p}'")
    _write(ctx, f"{len(result.deleted)} store paths deleted, "
                f"{show_bytes(result.bytes_freed)} freed\n")  # fmt: skip
    return 0


def op_delete(ctx: StoreContext, inv: Invocation) -> int:
    given = _no_flags(inv, {"--ignore-liveness"})
    if given:
        raise CommandError("--ignore-liveness is not supported: pynix never deletes live paths")
    paths = [follow_links_to_store_path(ctx, a) for a in inv.args]
    result = ctx.store.collect_garbage(action="delete-specific", paths=paths)
    for p in result.deleted:
        ctx.info(f"deleting '{p}'")
    _write(ctx, f"{len(result.deleted)} store paths deleted, "
                f"{show_bytes(result.bytes_freed)} freed\n")  # fmt: skip
    return 0


def _physical(ctx: StoreContext, text: str) -> str:
    """A file system path from the command line; paths in the store are found where
    the store keeps them."""
    path = ctx.path(text)
    return ctx.store.real_path(path) if path.startswith(STORE_DIR + "/") else path


def _widen_pipe(stream: IO[bytes]) -> None:
    """A NAR written into a pipe moves in the pipe's capacity (64 KiB by
    default) per wake-up of the reader; a 1 MiB pipe (Linux's default limit
    for unprivileged processes) makes those 16 times fewer."""
    try:
        fd = stream.fileno()
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


def op_dump(ctx: StoreContext, inv: Invocation) -> int:
    _no_flags(inv)
    if len(inv.args) != 1:
        raise UsageError("only one argument allowed")
    _widen_pipe(ctx.stdout)
    for chunk in iter_nar(_physical(ctx, inv.args[0])):
        ctx.stdout.write(chunk)
    ctx.stdout.flush()
    return 0


def op_restore(ctx: StoreContext, inv: Invocation) -> int:
    _no_flags(inv)
    if len(inv.args) != 1:
        raise UsageError("only one argument allowed")
    restore(inv.stdin, ctx.path(inv.args[0]))
    return 0


def op_export(ctx: StoreContext, inv: Invocation) -> int:
    _no_flags(inv)
    paths = {follow_links_to_store_path(ctx, a) for a in inv.args}
    for p in sorted(paths):
        if not ctx.store.is_valid_path(p):
            raise CommandError(f"path '{p}' is not valid")
    write_export(ctx.store, reversed(topo_sort_paths(ctx.store, paths)), ctx.stdout)
    return 0


def op_import(ctx: StoreContext, inv: Invocation) -> int:
    _no_flags(inv)
    if inv.args:
        raise UsageError("no arguments expected")
    try:
        for item in read_export(inv.stdin):
            try:
                ctx.store.import_nar(item.info, item.nar)  # type: ignore[arg-type]
            except StoreError as e:
                raise CommandError(f"cannot import path '{item.info.path}': {e}") from None
            _write(ctx, item.info.path + "\n")
            ctx.stdout.flush()
    except ExportFormatError as e:
        raise CommandError(str(e)) from None
    return 0


def op_verify(ctx: StoreContext, inv: Invocation) -> int:
    given = _no_flags(inv, {"--check-contents", "--repair"})
    if inv.args:
        raise UsageError("no arguments expected")
    repair = "--repair" in given
    report = ctx.local.verify_report(check_contents="--check-contents" in given, repair=repair,
                                     repair_path=repair_hook(ctx) if repair else None)
    for problem in report.problems:
        ctx.info(problem)
    for problem in report.unrepaired:
        if problem not in report.problems:
            ctx.info(f"error: {problem}")
    if report.problems and not report.ok:
        ctx.warn("not all store errors were fixed")
    return 0 if report.ok else 1


def op_verify_path(ctx: StoreContext, inv: Invocation) -> int:
    _no_flags(inv)
    status = 0
    for a in inv.args:
        path = follow_links_to_store_path(ctx, a)
        problem = path_problem(ctx.store, path, True)
        if problem is not None:
            ctx.info(problem)
            status = 1
    return status


def op_check_validity(ctx: StoreContext, inv: Invocation) -> int:
    print_invalid = "--print-invalid" in _no_flags(inv, {"--print-invalid"})
    for a in inv.args:
        path = follow_links_to_store_path(ctx, a)
        if ctx.store.is_valid_path(path):
            continue
        if not print_invalid:
            raise CommandError(f"path '{path}' is not valid")
        _write(ctx, path + "\n")
    return 0


def op_repair_path(ctx: StoreContext, inv: Invocation) -> int:
    _no_flags(inv)
    paths = [follow_links_to_store_path(ctx, a) for a in inv.args]
    outcome = verify_paths(ctx.store, paths, True, repair_hook(ctx))
    if outcome.unrepaired:
        raise CommandError("\n".join(outcome.unrepaired))
    return 0


def op_optimise(ctx: StoreContext, inv: Invocation) -> int:
    _no_flags(inv)
    linked, saved = ctx.store.optimise()
    ctx.info(f"{show_bytes(saved)} freed by hard-linking {linked} files")
    return 0


def op_read_log(ctx: StoreContext, inv: Invocation) -> int:
    _no_flags(inv)
    log_dir = ctx.settings.log_dir or default_log_dir(ctx.store)
    for a in inv.args:
        path = follow_links_to_store_path(ctx, a)
        drv_path: str | None = path
        if not path.endswith(".drv"):
            drv_path = ctx.store.query_path_info(path).deriver \
                if ctx.store.is_valid_path(path) else None
        log = read_log(log_dir, drv_path) if drv_path else None
        if log is None:
            raise CommandError(f"build log of derivation '{path}' is not available")
        ctx.stdout.write(log)
    return 0


OPERATIONS: dict[str, Operation] = {
    "--add": op_add, "--add-fixed": op_add_fixed, "--query": op_query, "--realise": op_realise,
    "--gc": op_gc, "--delete": op_delete, "--dump": op_dump, "--restore": op_restore,
    "--export": op_export, "--import": op_import, "--verify": op_verify,
    "--verify-path": op_verify_path, "--repair-path": op_repair_path,
    "--check-validity": op_check_validity,
    "--optimise": op_optimise, "--read-log": op_read_log,
}


def main_impl(
    argv: list[str],
    stdin: IO[bytes],
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> int:
    try:
        inv = parse_args(argv)
    except UsageError as e:
        stderr.write(f"error: {e}\nTry '{PROG} --help' for more information.\n".encode())
        return 1
    if inv.op == "--help":
        stdout.write(HELP.encode())
        return 0
    if inv.op == "--version":
        from .nixcmd import version

        stdout.write(f"{PROG} (pynix) {version()}\n".encode())
        return 0
    inv.stdin = stdin
    assert inv.op is not None
    operation = OPERATIONS[inv.op]

    def body() -> int:
        with inv.store.open(env, cwd, stdout, stderr) as ctx:
            try:
                return operation(ctx, inv)
            except UsageError as e:
                stderr.write(f"error: {e}\nTry '{PROG} --help' for more information.\n"
                             .encode())  # fmt: skip
                return 1

    return guarded(body, stderr, stdout)


def run(argv: list[str], *, stdin: bytes = b"", env: Mapping[str, str] | None = None,
        cwd: str | None = None) -> tuple[int, bytes, bytes]:
    """Run the command in-process; (exit status, stdout, stderr)."""
    out, err = io.BytesIO(), io.BytesIO()
    rc = main_impl(argv, io.BytesIO(stdin), out, err, env, cwd)
    return rc, out.getvalue(), err.getvalue()


def main() -> None:
    rc = main_impl(sys.argv[1:], sys.stdin.buffer, sys.stdout.buffer, sys.stderr.buffer,
                   None, None)
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)

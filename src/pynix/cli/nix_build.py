"""``pynix-build``: the classic ``nix-build`` command.

    pynix-build [FILE...] [-A ATTRPATH]... [-E] [-o LINK | --no-out-link] [--dry-run]
                [--check] [--arg NAME EXPR] [--argstr NAME VALUE] [-I PATH] [-j N]
                [--cores N] [-K] [-k] [-Q] [--store URL] [--option NAME VALUE]

Builds the derivations the files (default ``./default.nix``) or expressions
(``-E``) evaluate to, makes ``result`` links to their outputs (garbage
collector roots: ``result``, ``result-2`` for the second derivation,
``result-dev`` for an output other than ``out``) and prints the output
paths, one per line.  Builder output goes to standard error.  A failed build
exits with status 100.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Mapping
from typing import IO, Any

from ..lang.attrpath import find_along_attr_path
from ..lang.errors import STRING_ORIGIN
from ..lang.values import Thunk, from_bytes, from_text
from .common import EvalFlags, EvalSession, UsageError
from .derivations import FoundDerivation, get_derivations
from .installables import Built, Target, eval_session
from .realise import build, missing_text, output_paths, query_missing
from .storeopts import StoreContext, StoreFlags, guarded, need, report_build

PROG = "pynix-build"

HELP = """\
Usage: pynix-build [FILE...] [-A ATTRPATH]... [OPTION...]

Build the derivations FILE (default ./default.nix) evaluates to, make 'result'
links to their outputs and print the output paths.

  -A ATTRPATH, --attr ATTRPATH   build this attribute of the value (repeatable)
  -E, --expr                     the arguments are expressions, not files
  -o LINK, --out-link LINK       name the links LINK, LINK-2, LINK-dev...
  --no-out-link                  make no links
  --dry-run                      only show what would be built
  --check                        build again and compare with the registered outputs
  --arg NAME EXPR, --argstr NAME STRING
                                 arguments for functions (the file, attribute paths)
  -I PATH                        add PATH to the search path
  -j N, --max-jobs N             builds to run at once
  --cores N                      CPU cores each build may use
  -K, --keep-failed              keep the build directory of a failed build
  -k, --keep-going               go on with other builds after one fails
  -Q, --no-build-output          do not show the output of builders
  --store URL                    the store to use (default: $PYNIX_STORE)
  --option NAME VALUE            set a pynix.conf setting
  --show-trace                   show the full trace of an evaluation error
"""


class Options:
    def __init__(self) -> None:
        self.store = StoreFlags()
        self.eval = EvalFlags()
        self.files: list[str] = []
        self.attr_paths: list[str] = []
        self.from_args = False
        self.out_link = "result"
        self.no_out_link = False
        self.dry_run = False
        self.check = False
        self.help = False


def parse_args(argv: list[str]) -> Options:
    o = Options()
    i = 0
    while i < len(argv):
        a = argv[i]
        j = o.store.take(argv, i)
        if j == i:
            j = o.eval.take(argv, i)
        if j != i:
            i = j
            continue
        if a in ("--help", "-h"):
            o.help = True
        elif a in ("-A", "--attr"):
            o.attr_paths.append(need(argv, i)[0])
            i += 1
        elif a in ("-E", "--expr"):
            o.from_args = True
        elif a in ("-o", "--out-link"):
            o.out_link = need(argv, i)[0]
            i += 1
        elif a == "--no-out-link":
            o.no_out_link = True
        elif a == "--dry-run":
            o.dry_run = True
        elif a == "--check":
            o.check = True
        elif a in ("--read-write-mode", "--no-link"):
            o.no_out_link = o.no_out_link or a == "--no-link"
        elif a == "--":
            o.files.extend(argv[i + 1 :])
            break
        elif a.startswith("-") and a != "-":
            raise UsageError(f"unrecognised flag '{a}'")
        else:
            o.files.append(a)
        i += 1
    return o


def roots(o: Options, session: EvalSession, stdin: IO[bytes]) -> list[Any]:
    """The values of the files or expressions on the command line."""
    ev = session.evaluator
    cwd = from_text(session.cwd)
    values: list[Any] = []
    if o.from_args:
        for text in o.files:
            source = from_bytes(os.fsencode(text))
            values.append(Thunk(lambda t=source: ev.eval_source(t, STRING_ORIGIN, cwd)))
        return values
    for f in o.files or ["./default.nix"]:
        if f == "-":
            source = from_bytes(stdin.read())
            values.append(Thunk(lambda s=source: ev.eval_source(s, "«stdin»", cwd)))
        else:
            path = session.resolve_file_arg(f)
            values.append(Thunk(lambda p=path: ev.import_file(p)))
    return values


def find_derivations(o: Options, session: EvalSession, stdin: IO[bytes]) -> list[FoundDerivation]:
    auto_args = o.eval.auto_arg_values(session)
    found: list[FoundDerivation] = []
    for root in roots(o, session, stdin):
        for attr_path in o.attr_paths or [""]:
            value = find_along_attr_path(root, from_text(attr_path), auto_args)
            found += get_derivations(value, auto_args)
    return found


def link_names(found: list[FoundDerivation], base: str) -> dict[str, tuple[str, str]]:
    """Link name -> (drv path, output): the first derivation's links are ``base``,
    the k-th's ``base-k``; outputs other than ``out`` add ``-<output>``."""
    prefixes: dict[str, str] = {}
    links: dict[str, tuple[str, str]] = {}
    for d in found:
        prefix = prefixes.get(d.drv_path)
        if prefix is None:
            prefix = base if not prefixes else f"{base}-{len(prefixes) + 1}"
            prefixes[d.drv_path] = prefix
        link = prefix if d.output_name == "out" else f"{prefix}-{d.output_name}"
        links[link] = (d.drv_path, d.output_name)
    return links


def execute(o: Options, ctx: StoreContext, stdin: IO[bytes]) -> int:
    scheduler = ctx.scheduler(classic=True)
    session = eval_session(ctx, o.eval, scheduler)
    found = find_derivations(o, session, stdin)
    targets: list[Target] = [Built(d.drv_path, frozenset([d.output_name]), d.attr_path)
                             for d in found]
    if o.dry_run or not o.check:
        text = missing_text(ctx.store, query_missing(ctx.store, targets))
        ctx.stderr.write(text.encode("utf-8", "surrogateescape"))
    if o.dry_run:
        return 0
    report = build(scheduler, targets, check=o.check)
    status = report_build(report, ctx.stderr, show_tail=ctx.no_build_output,
                          log_command="pynix log")  # fmt: skip
    if status:
        return status
    paths = [output_paths(ctx.store, Built(d.drv_path, frozenset([d.output_name]), ""))
             [d.output_name] for d in found]
    if not o.no_out_link and found:
        store = ctx.local
        for link, (drv_path, output) in sorted(link_names(found, o.out_link).items()):
            target = output_paths(store, Built(drv_path, frozenset([output]), ""))[output]
            store.add_perm_root(target, ctx.path(link))
    for p in paths:
        ctx.stdout.write(p.encode("utf-8", "surrogateescape") + b"\n")
    return 0


def main_impl(
    argv: list[str],
    stdin: IO[bytes],
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> int:
    try:
        o = parse_args(argv)
    except UsageError as e:
        stderr.write(f"error: {e}\nTry '{PROG} --help' for more information.\n".encode())
        return 1
    if o.help:
        stdout.write(HELP.encode())
        return 0

    def body() -> int:
        with o.store.open(env, cwd, stdout, stderr) as ctx:
            return execute(o, ctx, stdin)

    return guarded(body, stderr, stdout, o.eval.show_trace)


def run(argv: list[str], *, stdin: bytes = b"", env: Mapping[str, str] | None = None,
        cwd: str | None = None) -> tuple[int, bytes, bytes]:
    """Run the command in-process; (exit status, stdout, stderr)."""
    out, err = io.BytesIO(), io.BytesIO()
    rc = main_impl(argv, io.BytesIO(stdin), out, err, env, cwd)
    return rc, out.getvalue(), err.getvalue()


def main() -> None:
    rc = main_impl(sys.argv[1:], sys.stdin.buffer, sys.stdout.buffer, sys.stderr.buffer,
                   None, None)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)

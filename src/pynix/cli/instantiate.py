"""``pynix-instantiate``: the classic ``nix-instantiate`` command.

    pynix-instantiate --eval [--strict] [--json | --xml [--no-location]] [--parse]
                      (-E EXPR... | FILE... | -) [-A ATTRPATH]... [--arg NAME EXPR]
                      [--argstr NAME VALUE] [-I PATH] [--show-trace]
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Mapping
from typing import IO, Any

from ..lang.errors import STRING_ORIGIN, NixError
from ..lang.values import Thunk, from_bytes, from_text, to_bytes
from .common import EvalFlags, EvalSession, UsageError, report_error, run_guarded


class Options:
    def __init__(self) -> None:
        self.eval_only = False
        self.parse_only = False
        self.strict = False
        self.output = "nix"  # nix | json | xml
        self.location = True
        self.from_args = False
        self.files: list[str] = []
        self.attr_paths: list[str] = []
        self.auto_args: list[tuple[str, str, bool]] = []  # (name, text, is_expr)
        self.search_path: list[str] = []
        self.show_trace = False
        self.trace_verbose = False
        self.find_file = False
        self.add_root: str | None = None
        self.store_url: str | None = None
        self.options: list[tuple[str, str]] = []


def parse_args(argv: list[str]) -> Options:
    o = Options()
    i = 0
    n = len(argv)

    def need(k: int) -> list[str]:
        if i + k >= n:
            raise UsageError(f"flag '{argv[i]}' requires {k} argument{'s' if k > 1 else ''}")
        return argv[i + 1 : i + 1 + k]

    while i < n:
        a = argv[i]
        if a in ("--eval", "--eval-only"):
            o.eval_only = True
        elif a == "--parse" or a == "--parse-only":
            o.parse_only = True
            o.eval_only = True
        elif a == "--strict":
            o.strict = True
        elif a == "--json":
            o.output = "json"
        elif a == "--xml":
            o.output = "xml"
        elif a == "--no-location":
            o.location = False
        elif a in ("-E", "--expr"):
            o.from_args = True
        elif a in ("-A", "--attr"):
            (p,) = need(1)
            o.attr_paths.append(p)
            i += 1
        elif a == "--arg":
            name, expr = need(2)
            o.auto_args.append((name, expr, True))
            i += 2
        elif a == "--argstr":
            name, value = need(2)
            o.auto_args.append((name, value, False))
            i += 2
        elif a in ("-I", "--include"):
            (p,) = need(1)
            o.search_path.append(p)
            i += 1
        elif a == "--show-trace":
            o.show_trace = True
        elif a == "--trace-verbose":
            o.trace_verbose = True
        elif a == "--find-file":
            o.find_file = True
        elif a in ("--read-write-mode", "--readonly-mode", "--impure", "--quiet",
                   "--verbose", "-v", "--no-build-output", "-Q"):
            pass
        elif a == "--option":
            name, value = need(2)
            o.options.append((name, value))
            i += 2
        elif a == "--add-root":
            (o.add_root,) = need(1)
            i += 1
        elif a == "--store":
            (o.store_url,) = need(1)
            i += 1
        elif a == "--indirect":
            pass
        elif a == "--":
            o.files.extend(argv[i + 1 :])
            break
        elif a.startswith("-") and a != "-":
            raise UsageError(f"unrecognised flag '{a}'")
        else:
            o.files.append(a)
        i += 1
    return o


def execute(o: Options, session: EvalSession, stdin: IO[bytes], stdout: IO[bytes]) -> int:
    ev = session.evaluator
    if o.output == "xml" and o.location:
        # XML shows where attributes were defined: record that while compiling
        from ..lang import attrpos

        attrpos.STATE.enabled = True
    auto_args: dict[str, Any] = {}
    for name, text, is_expr in o.auto_args:
        if is_expr:
            auto_args[from_text(name)] = Thunk(
                lambda text=text: ev.eval_string(from_text(text))
            )
        else:
            auto_args[from_text(name)] = from_text(text)

    if o.find_file:
        for f in o.files:
            found = ev.find_file(ev.search_path, from_text(f))
            if found is None:
                raise NixError(
                    f"file '{f}' was not found in the Nix search path "
                    "(add it using $NIX_PATH or -I)"
                )
            stdout.write(to_bytes(found) + b"\n")
        return 0

    sources: list[tuple[str, str, str]] = []  # (text, origin, base_dir)
    cwd = from_text(session.cwd)
    if o.from_args:
        for f in o.files:
            sources.append((from_text(f), STRING_ORIGIN, cwd))
    else:
        files = o.files or ["./default.nix"]
        for f in files:
            if f == "-":
                sources.append((from_bytes(stdin.read()), "«stdin»", cwd))
            else:
                path = session.resolve_file_arg(f)
                sources.append((path, "", ""))

    for text, origin, base_dir in sources:
        if origin == "":
            node_path = text
            if o.parse_only:
                node = ev.parse(ev.read_source(ev.resolve_expr_path(node_path)),
                                node_path, node_path.rsplit("/", 1)[0] or "/")
                session.print_parsed(node, stdout, file=node_path)
                continue
            root: Any = Thunk(lambda p=node_path: ev.import_file(p))
        else:
            if o.parse_only:
                node = ev.parse(text, origin, base_dir)
                session.print_parsed(node, stdout, file=origin)
                continue
            root = Thunk(lambda t=text, og=origin, b=base_dir: ev.eval_source(t, og, b))
        if not o.eval_only:
            session.instantiate(root, o.attr_paths or [""], auto_args, stdout,
                                add_root=o.add_root)
            continue
        for attr_path in o.attr_paths or [""]:
            session.print_result(root, attr_path, auto_args, o.strict, o.output,
                                 o.location, stdout)
    return 0


def run(
    argv: list[str],
    *,
    stdin: bytes = b"",
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> tuple[int, bytes, bytes]:
    """Run the command in-process; (exit status, stdout, stderr)."""
    out = io.BytesIO()
    err = io.BytesIO()
    rc = main_impl(argv, io.BytesIO(stdin), out, err, env, cwd)
    return rc, out.getvalue(), err.getvalue()


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
        stderr.write(f"error: {e}\nTry 'pynix-instantiate --help' for more information.\n"
                     .encode())
        return 1

    def body() -> int:
        if o.eval_only or o.find_file:
            session = EvalSession(
                env=env, cwd=cwd, stderr=stderr, search_path=o.search_path,
                eager=o.strict,
                trace_verbose=o.trace_verbose,
            )
            return execute(o, session, stdin, stdout)
        # instantiating: derivations are written to the store
        from .installables import eval_session
        from .storeopts import StoreFlags

        flags = StoreFlags()
        flags.store_url = o.store_url
        flags.options = o.options
        with flags.open(env, cwd, stdout, stderr) as ctx:
            eval_flags = EvalFlags()
            eval_flags.search_path = o.search_path
            eval_flags.trace_verbose = o.trace_verbose
            session = eval_session(ctx, eval_flags, ctx.scheduler(classic=True))
            return execute(o, session, stdin, stdout)

    if o.eval_only or o.find_file:
        return run_guarded(body, stderr, o.show_trace, stdout)
    from .storeopts import guarded

    return guarded(body, stderr, stdout, o.show_trace)


def main() -> None:
    rc = main_impl(sys.argv[1:], sys.stdin.buffer, sys.stdout.buffer, sys.stderr.buffer,
                   None, None)
    # exit at once: tearing down a large heap object by object takes long
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


if __name__ == "__main__":
    main()


__all__ = ["main", "report_error", "run"]

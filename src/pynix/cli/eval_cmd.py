"""``pynix eval``: evaluate an expression and print its value, as ``nix eval`` does.

The output matches Nix 2.8 byte for byte: values are forced deeply and printed as
Nix expressions (with a newline); ``--json`` prints JSON and ``--raw`` a string as
it is, both without a trailing newline.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from ..lang.attrpath import find_along_attr_path
from ..lang.errors import STRING_ORIGIN, EvalError, NixError
from ..lang.printer import print_value
from ..lang.runtime import call, coerce_to_string, deep_force, force
from ..lang.values import NixStr, from_bytes, show_type, to_bytes
from .common import EvalFlags, EvalSession, UsageError, run_guarded
from .nixcmd import usage_error

HELP = """\
Usage: pynix eval [OPTION...] [INSTALLABLE]

Evaluate a Nix expression and print its value.  The value is forced deeply.

  pynix eval --expr '1 + 2'
  pynix eval --json --expr '{ x = 1; }'
  pynix eval --file ./release.nix hello.name
  pynix eval --file ./pkgs.nix --apply builtins.attrNames

Where the value comes from:
  --expr EXPR, -E EXPR   evaluate EXPR; INSTALLABLE is an attribute path in it
  --file FILE, -f FILE   evaluate the file FILE ('-' is standard input, '<name>' is
                         looked up on the search path); INSTALLABLE is an attribute
                         path in it (functions met on the way are called with --arg)
  INSTALLABLE            without --expr or --file: a flake reference (not supported yet)

Output:
  (default)              the value as a Nix expression
  --json                 the value as JSON
  --raw                  a string without quotes or escaping (sets with outPath or
                         __toString count as strings)
  --write-to PATH        write a string, or a nested set of strings, as files under
                         PATH (which must not exist)
  --apply FUNCTION       apply the Nix function FUNCTION to the value first

Evaluation:
  --arg NAME EXPR        pass NAME = EXPR to functions called on an attribute path
  --argstr NAME STRING   pass NAME = STRING likewise
  -I PATH, --include PATH
                         add PATH to the search path for <...> (NIX_PATH is used too)
  --impure               accepted for compatibility (evaluation is always impure)
  --show-trace           show the full trace of an error
"""


# ---------------------------------------------------------------------------
# installables


@dataclass(frozen=True)
class Installable:
    """What to evaluate: a source of a root value and an attribute path in it.

    ``kind`` is ``"expr"`` (``source`` is Nix text), ``"file"`` (``source`` is
    a file argument; ``-`` means standard input).  Flake references and
    ``pkgs#attr`` forms will be further kinds.
    """

    kind: str
    source: str
    attr_path: str


def parse_installable(arg: str | None, *, file: str | None, expr: str | None) -> Installable:
    """Interpret the installable argument in the light of ``--file``/``--expr``."""
    attr_path = arg or ""
    if expr is not None:
        return Installable("expr", expr, attr_path)
    if file is not None:
        return Installable("file", file, attr_path)
    if arg is None:
        raise UsageError("nothing to evaluate: give --expr EXPR, --file FILE or an installable")
    if "#" in arg:
        raise UsageError(f"cannot evaluate '{arg}': flake references are not supported yet")
    raise UsageError(
        f"cannot evaluate '{arg}': flake references are not supported yet "
        f"(to evaluate a file, use '--file {arg}')"
    )


def installable_value(
    inst: Installable, session: EvalSession, auto_args: dict[str, Any], stdin: IO[bytes]
) -> Any:
    """The value an installable stands for, in weak head normal form."""
    ev = session.evaluator
    cwd = arg_text(session.cwd)
    if inst.kind == "expr":
        root: Any = ev.eval_source(arg_text(inst.source), STRING_ORIGIN, cwd)
    elif inst.source == "-":
        root = ev.eval_source(from_bytes(stdin.read()), "«stdin»", cwd)
    else:
        root = ev.import_file(session.resolve_file_arg(arg_text(inst.source)))
    return find_along_attr_path(root, arg_text(inst.attr_path), auto_args)


def arg_text(a: str) -> str:
    """A command-line argument (or other OS text) as a Nix string, byte for byte."""
    return from_bytes(os.fsencode(a))


# ---------------------------------------------------------------------------
# command line


class Options:
    def __init__(self) -> None:
        self.expr: str | None = None
        self.file: str | None = None
        self.installables: list[str] = []
        self.output = "nix"  # nix | json | raw
        self.apply: str | None = None
        self.write_to: str | None = None
        self.help = False
        self.flags = EvalFlags()


def _flag_value(argv: list[str], i: int) -> str:
    if i + 1 >= len(argv):
        raise UsageError(f"flag '{argv[i]}' requires 1 argument(s)")
    return argv[i + 1]


def parse_args(argv: list[str]) -> Options:
    o = Options()
    outputs: list[str] = []
    i = 0
    n = len(argv)
    while i < n:
        a = argv[i]
        j = o.flags.take(argv, i)
        if j != i:
            i = j
            continue

        if a in ("--help", "-h"):
            o.help = True
        elif a == "--json":
            outputs.append("json")
        elif a == "--raw":
            outputs.append("raw")
        elif a in ("--expr", "-E"):
            o.expr = _flag_value(argv, i)
            i += 1
        elif a in ("--file", "-f"):
            o.file = _flag_value(argv, i)
            i += 1
        elif a == "--apply":
            o.apply = _flag_value(argv, i)
            i += 1
        elif a == "--write-to":
            o.write_to = _flag_value(argv, i)
            i += 1
        elif a == "--":
            o.installables.extend(argv[i + 1 :])
            break
        elif a.startswith("-") and a != "-":
            raise UsageError(f"unrecognised flag '{a}'")
        else:
            o.installables.append(a)
        i += 1
    if o.help:
        return o
    if "json" in outputs and "raw" in outputs:
        raise UsageError("--raw and --json are mutually exclusive")
    if outputs:
        o.output = outputs[0]
    if o.expr is not None and o.file is not None:
        raise UsageError("'--file' and '--expr' are exclusive")
    if len(o.installables) > 1:
        raise UsageError(f"unexpected argument '{o.installables[1]}'")
    return o


# ---------------------------------------------------------------------------
# running


def execute(o: Options, inst: Installable, session: EvalSession, stdin: IO[bytes],
            stdout: IO[bytes]) -> int:
    ev = session.evaluator
    v = installable_value(inst, session, o.flags.auto_arg_values(session), stdin)
    if o.apply is not None:
        fn = ev.eval_source(arg_text(o.apply), STRING_ORIGIN, arg_text(session.cwd))
        v = force(call(fn, v))
    if o.write_to is not None:
        write_tree(v, o.write_to, session.cwd)
    elif o.output == "raw":
        stdout.write(to_bytes(coerce_to_string(v, None, set())))
    elif o.output == "json":
        from ..lang.tojson import to_json

        chunks: list[str] = []
        to_json(v, True, set(), chunks)
        stdout.write(to_bytes("".join(chunks)))
    else:
        deep_force(v)
        stdout.write(to_bytes(print_value(v)) + b"\n")
    stdout.flush()
    return 0


def write_tree(v: Any, path: str, cwd: str) -> None:
    """``--write-to``: a string becomes a file, a set a directory of its attributes."""
    if os.path.lexists(os.path.join(cwd, path)):
        raise EvalError(f"path '{path}' already exists")

    def write(v: Any, path: bytes) -> None:
        v = force(v)
        if type(v) is dict:
            os.mkdir(path)
            for name in sorted(v):
                write(v[name], path + b"/" + to_bytes(name))
        elif isinstance(v, (str, NixStr)):
            with open(path, "wb") as fh:
                fh.write(to_bytes(str(v)))
        else:
            raise EvalError(
                f"value at '{os.fsdecode(path)}' is not a string or an attribute set "
                f"(it is {show_type(v)})"
            )

    try:
        write(v, os.fsencode(os.path.join(cwd, path)))
    except OSError as e:
        raise NixError(f"writing '{e.filename}': {e.strerror}") from None


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
        if o.help:
            stdout.write(HELP.encode())
            return 0
        inst = parse_installable(o.installables[0] if o.installables else None,
                                 file=o.file, expr=o.expr)
    except UsageError as e:
        return usage_error(stderr, "pynix eval", str(e))

    def body() -> int:
        session = o.flags.session(env, cwd, stderr, eager=True)
        return execute(o, inst, session, stdin, stdout)

    return run_guarded(body, stderr, o.flags.show_trace, stdout)


def run(
    argv: list[str],
    *,
    stdin: bytes = b"",
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> tuple[int, bytes, bytes]:
    """Run ``pynix eval ARGV`` in-process; (exit status, stdout, stderr)."""
    out = io.BytesIO()
    err = io.BytesIO()
    rc = main_impl(argv, io.BytesIO(stdin), out, err, env, cwd)
    return rc, out.getvalue(), err.getvalue()

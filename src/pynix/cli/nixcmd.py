"""``pynix``: one command with subcommands, in the style of ``nix``.

Each subcommand lives in its own module, which provides::

    HELP: str                       # the text of ``pynix SUBCOMMAND --help``
    def main_impl(argv, stdin, stdout, stderr, env, cwd) -> int

and is listed in :data:`SUBCOMMANDS`.  Modules are imported only when their
subcommand runs, so adding one costs nothing at start-up.  A command group
(``pynix store gc``, ``pynix os switch``) is a module whose ``main_impl`` calls
:func:`dispatch` with its own table.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import io
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, TypeAlias

SubcommandMain: TypeAlias = Callable[
    [list[str], IO[bytes], IO[bytes], IO[bytes], "Mapping[str, str] | None", "str | None"],
    int,
]


@dataclass(frozen=True)
class Subcommand:
    name: str
    module: str  # absolute module name, imported on use
    summary: str
    category: str = "Main commands"

    def load(self) -> tuple[SubcommandMain, str]:
        mod = importlib.import_module(self.module)
        return mod.main_impl, mod.HELP


SUBCOMMANDS: dict[str, Subcommand] = {
    c.name: c
    for c in [
        Subcommand("eval", "pynix.cli.eval_cmd", "evaluate a Nix expression"),
        Subcommand("repl", "pynix.cli.repl",
                   "start an interactive environment for evaluating Nix expressions"),
        Subcommand("build", "pynix.cli.build_cmd", "build a derivation or fetch a store path"),
        Subcommand("derivation", "pynix.cli.derivation_cmd",
                   "work with derivations (pynix derivation show)"),
        Subcommand("show-derivation", "pynix.cli.show_derivation",
                   "show the contents of store derivations", "Deprecated commands"),
        Subcommand("path-info", "pynix.cli.path_info",
                   "query information about store paths", "Querying"),
        Subcommand("why-depends", "pynix.cli.why_depends",
                   "show why a package has another package in its closure", "Querying"),
        Subcommand("hash", "pynix.cli.hash_cmd", "compute and convert hashes",
                   "Utilities"),
        Subcommand("log", "pynix.cli.log_cmd", "show the build log of a derivation",
                   "Querying"),
        Subcommand("shell", "pynix.cli.shell_cmd",
                   "run a shell in which the given packages are available"),
        Subcommand("run", "pynix.cli.run_cmd", "run a package's program"),
        Subcommand("search", "pynix.cli.search_cmd", "search for packages"),
        Subcommand("profile", "pynix.cli.profile_cmd",
                   "manage the packages of a user profile (install, remove, rollback...)"),
        Subcommand("os", "pynix.cli.os_cmd",
                   "build a system configuration and switch a machine to it"),
        Subcommand("debian", "pynix.cli.debian_cmd", "pin Debian packages and PyPI files"),
        Subcommand("store", "pynix.cli.store_cmd",
                   "manipulate a store (add, cat, ls, gc, verify...)", "Store"),
    ]
}

VERSION_TEXT = "pynix (pynix) {version}\n"


def version() -> str:
    try:
        from importlib.metadata import version as dist_version

        return dist_version("pynix")
    except Exception:  # not installed as a distribution (a bare checkout)
        return "0.1.0"


def overview(prog: str, table: Mapping[str, Subcommand]) -> str:
    """The ``--help`` text of a command group."""
    lines = [f"Usage: {prog} [--help | --version] SUBCOMMAND [ARGS...]", ""]
    categories: dict[str, list[Subcommand]] = {}
    for c in table.values():
        categories.setdefault(c.category, []).append(c)
    width = max((len(n) for n in table), default=0)
    for category, commands in categories.items():
        lines.append(f"{category}:")
        for c in sorted(commands, key=lambda c: c.name):
            lines.append(f"  {prog} {c.name.ljust(width)}  {c.summary}")
        lines.append("")
    lines.append(f"Run '{prog} help SUBCOMMAND' or '{prog} SUBCOMMAND --help' for details.")
    return "\n".join(lines) + "\n"


def usage_error(stderr: IO[bytes], prog: str, msg: str) -> int:
    """Report a bad command line the way ``nix`` does; the exit status is 1."""
    stderr.write(f"error: {msg}\nTry '{prog} --help' for more information.\n".encode())
    return 1


def _unknown(stderr: IO[bytes], prog: str, name: str, table: Mapping[str, Subcommand]) -> int:
    msg = f"'{name}' is not a recognised command"
    near = difflib.get_close_matches(name, list(table), n=3, cutoff=0.6)
    if not near:
        # a prefix ("ev") is as good a clue as a typo
        near = sorted(n for n in table if n.startswith(name))[:3]
    if near:
        shown = near[0] if len(near) == 1 else ", ".join(near[:-1]) + " or " + near[-1]
        msg += f"\n       Did you mean {'one of ' if len(near) > 1 else ''}{shown}?"
    return usage_error(stderr, prog, msg)


# options of `nix` itself that scripts pass; they mean nothing to pynix
_IGNORED_GLOBAL_FLAGS = {"--extra-experimental-features": 1, "--experimental-features": 1,
                         "-v": 0, "--verbose": 0, "--quiet": 0, "--no-warn-dirty": 0}
# options that may come before the subcommand (`pynix --store URL build ...`): they
# are passed on to it, in front of its own arguments
_FORWARDED_GLOBAL_FLAGS = {"--store": 1, "--option": 2, "-L": 0, "--print-build-logs": 0,
                           "-j": 1, "--max-jobs": 1, "--cores": 1, "-K": 0,
                           "--keep-failed": 0, "-k": 0, "--keep-going": 0}


def dispatch(
    prog: str,
    table: Mapping[str, Subcommand],
    argv: list[str],
    stdin: IO[bytes],
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> int:
    """Run ``prog SUBCOMMAND ARGS...`` with the subcommands of ``table``."""
    i = 0
    forwarded: list[str] = []
    while i < len(argv):
        a = argv[i]
        if a in _FORWARDED_GLOBAL_FLAGS:
            n = _FORWARDED_GLOBAL_FLAGS[a]
            if i + n >= len(argv):
                return usage_error(stderr, prog, f"flag '{a}' requires {n} argument(s)")
            forwarded += argv[i : i + n + 1]
            i += n + 1
            continue
        if a in ("--help", "-h"):
            stdout.write(overview(prog, table).encode())
            return 0
        if a == "--version":
            stdout.write(VERSION_TEXT.format(version=version()).encode())
            return 0
        if a in _IGNORED_GLOBAL_FLAGS:
            n = _IGNORED_GLOBAL_FLAGS[a]
            if i + n >= len(argv):
                return usage_error(stderr, prog, f"flag '{a}' requires {n} argument(s)")
            i += n + 1
            continue
        break
    rest = argv[i:]
    if not rest:
        return usage_error(stderr, prog, "no subcommand specified")
    name, args = rest[0], rest[1:]
    if name.startswith("-"):
        return usage_error(stderr, prog, f"unrecognised flag '{name}'")
    if name == "help" and "help" not in table:
        return _help(prog, table, args, stdout, stderr)
    command = table.get(name)
    if command is None:
        return _unknown(stderr, prog, name, table)
    main_impl, _ = command.load()
    return main_impl(forwarded + args, stdin, stdout, stderr, env, cwd)


def _help(prog: str, table: Mapping[str, Subcommand], args: list[str],
          stdout: IO[bytes], stderr: IO[bytes]) -> int:
    if not args:
        stdout.write(overview(prog, table).encode())
        return 0
    command = table.get(args[0])
    if command is None:
        return _unknown(stderr, prog, args[0], table)
    _, text = command.load()
    stdout.write(text.encode())
    return 0


def main_impl(
    argv: list[str],
    stdin: IO[bytes],
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> int:
    return dispatch("pynix", SUBCOMMANDS, argv, stdin, stdout, stderr, env, cwd)


def run(
    argv: list[str],
    *,
    stdin: bytes = b"",
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> tuple[int, bytes, bytes]:
    """Run ``pynix ARGV`` in-process; (exit status, stdout, stderr)."""
    out = io.BytesIO()
    err = io.BytesIO()
    rc = main_impl(argv, io.BytesIO(stdin), out, err, env, cwd)
    return rc, out.getvalue(), err.getvalue()


def main(argv: list[str]) -> None:
    try:
        rc = main_impl(argv, sys.stdin.buffer, sys.stdout.buffer, sys.stderr.buffer)
    except KeyboardInterrupt:
        sys.stderr.buffer.write(b"error: interrupted by the user\n")
        rc = 130
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.flush()
    sys.stderr.flush()
    # exit at once: tearing down a large heap object by object takes long
    os._exit(rc)

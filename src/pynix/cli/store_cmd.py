"""``pynix store``: commands on the store itself (``nix store ...``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

from .nixcmd import Subcommand, dispatch, overview

PROG = "pynix store"


def _c(name: str, module: str, summary: str, category: str = "Main commands") -> Subcommand:
    return Subcommand(name, f"pynix.cli.storecmds.{module}", summary, category)


SUBCOMMANDS: dict[str, Subcommand] = {
    c.name: c
    for c in [
        _c("add", "add", "copy files or trees into the store"),
        _c("add-path", "add_path", "copy a tree into the store (NAR hash)", "Aliases"),
        _c("add-file", "add_file", "copy a file into the store (flat hash)", "Aliases"),
        _c("cat", "cat", "print a file of a store path"),
        _c("ls", "ls", "list the contents of a store path"),
        _c("dump", "dump", "write the NAR of a store path to standard output"),
        _c("dump-path", "dump_path", "the same as 'dump'", "Aliases"),
        _c("restore", "restore", "unpack a NAR from standard input"),
        _c("gc", "gc", "delete unreachable store paths"),
        _c("delete", "delete", "delete store paths nothing needs"),
        _c("verify", "verify", "check (and repair) store paths"),
        _c("repair", "repair", "rebuild damaged store paths"),
        _c("optimise", "optimise", "hard-link identical files in the store"),
        _c("roots", "roots", "print the garbage collector roots"),
    ]
}

HELP = overview(PROG, SUBCOMMANDS)


def main_impl(
    argv: list[str],
    stdin: IO[bytes],
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> int:
    return dispatch(PROG, SUBCOMMANDS, argv, stdin, stdout, stderr, env, cwd)

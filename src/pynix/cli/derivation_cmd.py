"""``pynix derivation``: commands on derivations (``pynix derivation show``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

from .nixcmd import Subcommand, dispatch, overview

PROG = "pynix derivation"

SUBCOMMANDS: dict[str, Subcommand] = {
    c.name: c
    for c in [
        Subcommand("show", "pynix.cli.derivation_show", "show the contents of store derivations"),
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

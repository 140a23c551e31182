"""``pynix store optimise``: hard-link identical files (``nix store optimise``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

from .. import jsonout
from ..storeopts import CommandError, StoreContext, show_bytes, store_command

HELP = """\
Usage: pynix store optimise [OPTION...]

Replace identical files in the store by hard links to one copy, and say how
much space that saved.

  --json                 {"filesLinked": N, "bytesFreed": N}
"""


def optimise(ctx: StoreContext, args: list[str], as_json: bool) -> int:
    if args:
        raise CommandError(f"unexpected argument '{args[0]}'")
    linked, saved = ctx.store.optimise()
    if as_json:
        ctx.stdout.write(jsonout.compact({"filesLinked": linked, "bytesFreed": saved}))
    else:
        ctx.info(f"{show_bytes(saved)} freed by hard-linking {linked} files")
    return 0


def main_impl(
    argv: list[str],
    stdin: IO[bytes],
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> int:
    as_json = [False]

    def flag(argv: list[str], i: int) -> int:
        if argv[i] == "--json":
            as_json[0] = True
            return i + 1
        return i

    def body(ctx: StoreContext, args: list[str]) -> int:
        return optimise(ctx, args, as_json[0])

    return store_command("pynix store optimise", HELP, argv, stdout, stderr, env, cwd, body,
                         flag)  # fmt: skip

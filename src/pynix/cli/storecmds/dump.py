"""``pynix store dump``: the NAR of a store path on standard output (``nix store
dump-path``, ``nix-store --dump``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

from ..installables import follow_links_to_store_path
from ..storeopts import CommandError, StoreContext, store_command

HELP = """\
Usage: pynix store dump [OPTION...] PATH

Write the NAR (Nix archive) of a valid store path to standard output.

  pynix store dump ./result > hello.nar
"""


def body(ctx: StoreContext, args: list[str]) -> int:
    if len(args) != 1:
        raise CommandError("expected one path")
    path = follow_links_to_store_path(ctx, args[0])
    if not ctx.store.is_valid_path(path):
        raise CommandError(f"path '{path}' is not valid")
    for chunk in ctx.store.nar_from_path(path):
        ctx.stdout.write(chunk)
    ctx.stdout.flush()
    return 0


def main_impl(
    argv: list[str],
    stdin: IO[bytes],
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> int:
    return store_command("pynix store dump", HELP, argv, stdout, stderr, env, cwd, body)

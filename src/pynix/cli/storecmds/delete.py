"""``pynix store delete``: delete store paths that nothing needs (``nix store
delete``, ``nix-store --delete``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

from .. import jsonout
from ..common import UsageError
from ..installables import follow_links_to_store_path
from ..storeopts import CommandError, StoreContext, show_bytes, store_command

HELP = """\
Usage: pynix store delete [OPTION...] PATH...

Delete store paths.  A path that is still alive (a garbage collector root
keeps it) or that another valid path refers to is refused, and then nothing is
deleted.

  pynix store delete /nix/store/...-old-thing

  --json                 {"deleted": [...], "bytesFreed": N}
"""


def delete(ctx: StoreContext, args: list[str], as_json: bool) -> int:
    if not args:
        raise CommandError("no paths to delete")
    paths = [follow_links_to_store_path(ctx, a) for a in args]
    result = ctx.store.collect_garbage(action="delete-specific", paths=paths)
    for p in result.deleted:
        ctx.info(f"deleting '{p}'")
    if as_json:
        ctx.stdout.write(jsonout.compact({"deleted": result.deleted,
                                          "bytesFreed": result.bytes_freed}))
    else:
        ctx.stdout.write(f"{len(result.deleted)} store paths deleted, "
                         f"{show_bytes(result.bytes_freed)} freed\n".encode())  # fmt: skip
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
        if argv[i] == "--ignore-liveness":
            raise UsageError("--ignore-liveness is not supported: pynix never deletes live "
                             "paths")
        return i

    def body(ctx: StoreContext, args: list[str]) -> int:
        return delete(ctx, args, as_json[0])

    return store_command("pynix store delete", HELP, argv, stdout, stderr, env, cwd, body, flag)

"""``pynix store gc``: collect garbage (``nix store gc``, ``nix-store --gc``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

from .. import jsonout
from ..storeopts import CommandError, StoreContext, need, parse_size, show_bytes, store_command

HELP = """\
Usage: pynix store gc [OPTION...]

Delete the store paths that no garbage collector root keeps alive (result
links, profiles, running builds and processes), then print how many were
deleted and how much space that freed.

  pynix store gc
  pynix store gc --max-freed 1G
  pynix store gc --print-dead

  --max-freed N          stop after freeing N bytes (suffixes K, M, G, T)
  --print-dead           only print the paths that would be deleted
  --print-live           only print the paths that are alive
  --dry-run              the same as --print-dead
  --json                 {"deleted": [...], "bytesFreed": N} (or a list of paths)
"""


class Options:
    def __init__(self) -> None:
        self.action = "delete-dead"
        self.max_freed: int | None = None
        self.json = False

    def flag(self, argv: list[str], i: int) -> int:
        a = argv[i]
        if a == "--max-freed":
            self.max_freed = parse_size(a, need(argv, i)[0])
            return i + 2
        if a in ("--print-dead", "--dry-run"):
            self.action = "return-dead"
            return i + 1
        if a == "--print-live":
            self.action = "return-live"
            return i + 1
        if a == "--json":
            self.json = True
            return i + 1
        return i


def collect(ctx: StoreContext, o: Options) -> int:
    result = ctx.store.collect_garbage(action=o.action, max_freed=o.max_freed)
    if o.action != "delete-dead":
        if o.json:
            ctx.stdout.write(jsonout.compact(result.deleted))
            return 0
        for p in result.deleted:
            ctx.stdout.write(p.encode("utf-8", "surrogateescape") + b"\n")
        return 0
    for p in result.deleted:
        ctx.info(f"deleting '{p}'")
    if o.json:
        ctx.stdout.write(jsonout.compact({"deleted": result.deleted,
                                          "bytesFreed": result.bytes_freed}))
        return 0
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
    o = Options()

    def body(ctx: StoreContext, args: list[str]) -> int:
        if args:
            raise CommandError(f"unexpected argument '{args[0]}'")
        return collect(ctx, o)

    return store_command("pynix store gc", HELP, argv, stdout, stderr, env, cwd, body, o.flag)

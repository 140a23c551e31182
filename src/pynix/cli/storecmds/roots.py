"""``pynix store roots``: the garbage collector roots (``nix-store --gc --print-roots``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

from ...store.api import Store
from .. import jsonout
from ..storeopts import CommandError, StoreContext, store_command

HELP = """\
Usage: pynix store roots [OPTION...]

Print the garbage collector roots as 'LINK -> STORE PATH' lines, sorted: links
under gcroots and profiles (and the result links they point to), temporary
roots of running pynix processes ({temp:PID}) and store paths that running
processes use (/proc/PID/...).

  --json                 [{"link": ..., "path": ...}, ...]
"""


def root_pairs(store: Store) -> list[tuple[str, str]]:
    return sorted((link, path) for path, links in store.find_roots().items() for link in links)


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
        if args:
            raise CommandError(f"unexpected argument '{args[0]}'")
        pairs = root_pairs(ctx.store)
        if as_json[0]:
            ctx.stdout.write(jsonout.compact([{"link": k, "path": p} for k, p in pairs]))
            return 0
        for link, path in pairs:
            ctx.stdout.write(f"{link} -> {path}\n".encode("utf-8", "surrogateescape"))
        return 0

    return store_command("pynix store roots", HELP, argv, stdout, stderr, env, cwd, body, flag)

"""``pynix store cat``: print a file of a store path (``nix store cat``)."""

from __future__ import annotations

import stat
from collections.abc import Mapping
from typing import IO

from ..storeopts import CommandError, StoreContext, store_command
from .access import locate, lstat_or_none

HELP = """\
Usage: pynix store cat [OPTION...] PATH

Print the contents of a file in the store.

  pynix store cat /nix/store/...-hello/share/doc/README
  pynix store cat ./result/bin/run
"""


def body(ctx: StoreContext, args: list[str]) -> int:
    if len(args) != 1:
        raise CommandError("expected one path")
    logical, real = locate(ctx, args[0])
    st = lstat_or_none(real)
    if st is None:
        raise CommandError(f"path '{logical}' does not exist")
    if not stat.S_ISREG(st.st_mode):
        raise CommandError(f"path '{logical}' is not a regular file")
    with open(real, "rb") as fh:
        while chunk := fh.read(1 << 20):
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
    return store_command("pynix store cat", HELP, argv, stdout, stderr, env, cwd, body)

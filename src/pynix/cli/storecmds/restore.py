"""``pynix store restore``: unpack a NAR from standard input (``nix-store --restore``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

from ...compat.nar import NarError
from ...compat.nar_reader import restore_nar
from ..storeopts import CommandError, StoreContext, store_command

HELP = """\
Usage: pynix store restore [OPTION...] PATH < NAR

Recreate the file or tree a NAR (Nix archive) on standard input holds at PATH,
which must not exist.  A malformed archive is refused and nothing is left.

  pynix store dump ./result | pynix store restore /tmp/copy
"""


def restore(stdin: IO[bytes], target: str) -> None:
    try:
        restore_nar(stdin, target)
    except NarError as e:
        raise CommandError(f"cannot restore '{target}': {e}") from None
    except FileExistsError:
        raise CommandError(f"cannot restore '{target}': it already exists") from None


def main_impl(
    argv: list[str],
    stdin: IO[bytes],
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> int:
    def body(ctx: StoreContext, args: list[str]) -> int:
        if len(args) != 1:
            raise CommandError("expected one path to restore to")
        restore(stdin, ctx.path(args[0]))
        return 0

    return store_command("pynix store restore", HELP, argv, stdout, stderr, env, cwd, body)

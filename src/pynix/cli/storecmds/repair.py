"""``pynix store repair``: repair damaged store paths (``nix store repair``,
``nix-store --repair-path``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

from ..installables import follow_links_to_store_path
from ..repair import repair_hook
from ..storeopts import CommandError, StoreContext, store_command
from .verify import report, verify_paths

HELP = """\
Usage: pynix store repair [OPTION...] PATH...

Check store paths and rebuild those whose contents were damaged, from the
derivations that built them.  Paths added from sources cannot be rebuilt.

  pynix store repair ./result
"""


def repair(ctx: StoreContext, args: list[str]) -> int:
    if not args:
        raise CommandError("no paths to repair")
    paths = sorted({follow_links_to_store_path(ctx, a) for a in args})
    outcome = verify_paths(ctx.store, paths, True, repair_hook(ctx))
    return report(ctx, outcome, False)


def main_impl(
    argv: list[str],
    stdin: IO[bytes],
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> int:
    return store_command("pynix store repair", HELP, argv, stdout, stderr, env, cwd, repair)

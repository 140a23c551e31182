"""``pynix store dump-path``: the name ``nix`` gives ``pynix store dump``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

from ..storeopts import store_command
from .dump import HELP as _DUMP_HELP
from .dump import body

HELP = _DUMP_HELP.replace("pynix store dump [", "pynix store dump-path [", 1)


def main_impl(
    argv: list[str],
    stdin: IO[bytes],
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> int:
    return store_command("pynix store dump-path", HELP, argv, stdout, stderr, env, cwd, body)

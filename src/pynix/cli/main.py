"""``pynix``: the command line in the style of ``nix``."""

from __future__ import annotations

import sys


def main() -> None:
    from .nixcmd import main as run

    run(sys.argv[1:])

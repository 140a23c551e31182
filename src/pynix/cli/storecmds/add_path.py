"""``pynix store add-path``: ``pynix store add`` of a tree (NAR), as ``nix store add-path``."""

from __future__ import annotations

from .add import HELP as _ADD_HELP
from .add import make_main

HELP = _ADD_HELP.replace("pynix store add [", "pynix store add-path [", 1)
main_impl = make_main("pynix store add-path", HELP, "nar")

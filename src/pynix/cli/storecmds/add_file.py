"""``pynix store add-file``: ``pynix store add --mode flat``, as ``nix store add-file``."""

from __future__ import annotations

from .add import HELP as _ADD_HELP
from .add import make_main

HELP = _ADD_HELP.replace("pynix store add [", "pynix store add-file [", 1)
main_impl = make_main("pynix store add-file", HELP, "flat")

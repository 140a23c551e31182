"""``pynix show-derivation``: the old name of ``pynix derivation show`` (Nix 2.8's
``nix show-derivation``)."""

from __future__ import annotations

from .derivation_show import HELP as _SHOW_HELP
from .derivation_show import make_main

HELP = _SHOW_HELP.replace("pynix derivation show", "pynix show-derivation")

main_impl = make_main("pynix show-derivation", HELP)

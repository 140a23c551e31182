"""The derivations a value stands for, as ``nix-build`` and ``nix-instantiate`` find them.

A derivation is an attribute set with ``type = "derivation"``.  A value may
be one, a list of them (searched element by element), or an attribute set of
them: attributes are taken in name order, names that are not identifiers
(``[A-Za-z_][A-Za-z0-9_+-]*``) are skipped, and nested sets are searched only
when they say ``recurseForDerivations = true``.  Functions met on the way are
called with the ``--arg``/``--argstr`` values.  The same set reached twice
counts once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from ..lang.attrpath import auto_call
from ..lang.errors import EvalError, TypeError_
from ..lang.runtime import expect_bool, force
from ..lang.values import NixStr, show_type

_ATTR_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_+-]*")


@dataclass(frozen=True)
class FoundDerivation:
    """A derivation value: its ``.drv`` path and the output it selects.

    Paths are store-layer text (Unicode with surrogate escapes), ready for the
    store; ``attr_path`` is where it was found (for messages).
    """

    drv_path: str
    output_name: str
    attr_path: str


def _text(v: Any) -> str:
    v = force(v)
    s = v.s if type(v) is NixStr else v
    if not isinstance(s, str):
        raise TypeError_(f"value is {show_type(v)} while a string was expected")
    return s


def nix_to_store_text(s: str) -> str:
    """A Nix string (one character per byte) as store-layer text."""
    if s.isascii():
        return s
    return s.encode("latin-1").decode("utf-8", "surrogateescape")


def is_derivation(v: Any) -> bool:
    if type(v) is not dict:
        return False
    t = v.get("type")
    if t is None:
        return False
    t = force(t)
    return (t.s if type(t) is NixStr else t) == "derivation"


def describe(v: dict[str, Any], attr_path: str) -> FoundDerivation:
    drv_path = nix_to_store_text(_text(v["drvPath"])) if "drvPath" in v else ""
    if not drv_path:
        raise EvalError(f"derivation at '{attr_path}' has no 'drvPath' attribute")
    output = _text(v["outputName"]) if "outputName" in v else "out"
    if not output:
        raise EvalError(f"derivation '{drv_path}' lacks an 'outputName' attribute")
    return FoundDerivation(drv_path, nix_to_store_text(output), attr_path)


def get_derivations(v: Any, auto_args: dict[str, Any], prefix: str = "") -> list[FoundDerivation]:
    found: list[FoundDerivation] = []
    done: set[int] = set()
    _search(v, auto_args, prefix, found, done)
    return found


def _add(v: Any, path: str, found: list[FoundDerivation], done: set[int]) -> bool:
    """Record ``v`` if it is a derivation; True if it is not (search on)."""
    v = force(v)
    if not is_derivation(v):
        return True
    if id(v) not in done:
        done.add(id(v))
        found.append(describe(v, path))
    return False


def _join(prefix: str, name: str) -> str:
    return name if not prefix else f"{prefix}.{name}"


def _search(v: Any, auto_args: dict[str, Any], prefix: str, found: list[FoundDerivation],
            done: set[int]) -> None:
    v = force(auto_call(v, auto_args))
    if not _add(v, prefix, found, done):
        return
    if type(v) is dict:
        for name in sorted(v):
            if not _ATTR_NAME.fullmatch(name):
                continue
            item = force(v[name])
            path = _join(prefix, name)
            if _add(item, path, found, done) and type(item) is dict:
                recurse = item.get("recurseForDerivations")
                if recurse is not None and expect_bool(force(recurse)):
                    _search(item, auto_args, path, found, done)
    elif type(v) is list:
        for n, item in enumerate(v):
            path = _join(prefix, str(n))
            if _add(item, path, found, done):
                _search(item, auto_args, path, found, done)
    else:
        raise TypeError_(
            "expression does not evaluate to a derivation (or a set or list of those)"
        )

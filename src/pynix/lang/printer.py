"""Print values as ``nix-instantiate --eval`` does.

Output is a Nix string (one character per byte).  A set or list that was
already printed shows as ``«repeated»``.  Nix decides that by the identity
of a set's attributes or a long list's elements (which survive copying a
value) and, for lists of one or two elements, whose elements Nix stores
inside the value itself, by the identity of the slot holding the list; this
printer follows the same rules with dicts, lists and thunks.
"""

from __future__ import annotations

import re
from types import FunctionType
from typing import Any, Final

from .show import show_float
from .values import NixPath, NixStr, PrimOp, PrimOpApp, Thunk, from_text

REPEATED: Final = from_text("«repeated»")
_IDENT = re.compile(r"[a-zA-Z_][a-zA-Z0-9_'\-]*\Z")


def escape_string(s: str) -> str:
    """A string literal as Nix prints it (the value stops at a NUL byte, as in C)."""
    nul = s.find("\0")
    if nul >= 0:
        s = s[:nul]
    if '"' in s or "\\" in s or "\n" in s or "\r" in s or "\t" in s or "${" in s:
        s = (
            s.replace("\\", "\\\\")
            .replace('"', '\\"')
            .replace("\n", "\\n")
            .replace("\r", "\\r")
            .replace("\t", "\\t")
            .replace("${", "\\${")
        )
    return '"' + s + '"'


def attr_name(name: str) -> str:
    """An attribute name as Nix 2.8 prints it: bare when it is an identifier (of the
    keywords, only ``if`` is quoted), otherwise quoted with every ``$`` escaped."""
    if _IDENT.match(name) and name != "if":
        return name
    nul = name.find("\0")
    if nul >= 0:
        name = name[:nul]
    return '"' + name.translate(_NAME_ESCAPES) + '"'


_NAME_ESCAPES = str.maketrans(
    {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "$": "\\$"})


def print_value(v: Any, strict: bool = False) -> str:
    """The text for a value; unforced thunks print as ``<CODE>``."""
    out: list[str] = []
    seen: set[int] = set()
    _print(v, v, out, seen)
    return "".join(out)


def _print(slot: Any, v: Any, out: list[str], seen: set[int]) -> None:
    # iterative over deep structures would complicate this; nesting depth is
    # bounded by the evaluation thread's large recursion limit
    if type(v) is Thunk:
        if v.fn is not None:
            out.append("<CODE>")
            return
        v = v.v
    t = type(v)
    if t is int:
        out.append(str(v))
    elif t is bool:
        out.append("true" if v else "false")
    elif t is str:
        out.append(escape_string(v))
    elif t is NixStr:
        out.append(escape_string(v.s))
    elif v is None:
        out.append("null")
    elif t is dict:
        if v:
            if id(v) in seen:
                out.append(REPEATED)
                return
            seen.add(id(v))
        out.append("{ ")
        for k in sorted(v):
            out.append(attr_name(k))
            out.append(" = ")
            x = v[k]
            _print(x, x, out, seen)
            out.append("; ")
        out.append("}")
    elif t is list:
        if v:
            key = id(v) if len(v) > 2 else id(slot)
            if key in seen:
                out.append(REPEATED)
                return
            seen.add(key)
        out.append("[ ")
        for x in v:
            _print(x, x, out, seen)
            out.append(" ")
        out.append("]")
    elif t is float:
        out.append(show_float(v))
    elif t is NixPath:
        out.append(v.path)
    elif t is FunctionType:
        out.append("<LAMBDA>")
    elif t is PrimOp:
        out.append("<PRIMOP>")
    elif t is PrimOpApp:
        out.append("<PRIMOP-APP>")
    else:
        raise AssertionError(f"cannot print {t.__name__}")

"""JSON output as Nix 2.8 writes it: keys in the order given, strings byte for byte.

Nix escapes only ``"``, ``\\``, control characters and nothing else, and writes
other bytes (non-UTF-8 ones included) as they are.  Text from the store layer
is Unicode with surrogate escapes for such bytes; it goes out as those bytes.

``compact`` is the one-line form of ``nix path-info --json`` and ``nix build
--json`` (no trailing newline); ``pretty`` the indented form of ``nix
show-derivation`` (two spaces, ``"key": value``, empty containers as ``[]`` and
``{}``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..lang.jsonfmt import to_json_string

JsonValue = Any  # None | bool | int | float | str | Sequence | Mapping


def _string(s: str) -> str:
    # one character per byte, as the language's escaper expects
    return to_json_string(s.encode("utf-8", "surrogateescape").decode("latin-1"))


def _scalar(v: JsonValue) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    raise TypeError(f"cannot write {type(v).__name__} as JSON")


def _compact(v: JsonValue, out: list[str]) -> None:
    if isinstance(v, Mapping):
        out.append("{")
        for n, (k, item) in enumerate(v.items()):
            if n:
                out.append(",")
            out.append(_string(k))
            out.append(":")
            _compact(item, out)
        out.append("}")
    elif isinstance(v, Sequence) and not isinstance(v, str):
        out.append("[")
        for n, item in enumerate(v):
            if n:
                out.append(",")
            _compact(item, out)
        out.append("]")
    else:
        out.append(_scalar(v))


def _pretty(v: JsonValue, indent: str, out: list[str]) -> None:
    inner = indent + "  "
    if isinstance(v, Mapping):
        if not v:
            out.append("{}")
            return
        out.append("{\n")
        for n, (k, item) in enumerate(v.items()):
            if n:
                out.append(",\n")
            out.append(inner + _string(k) + ": ")
            _pretty(item, inner, out)
        out.append("\n" + indent + "}")
    elif isinstance(v, Sequence) and not isinstance(v, str):
        if not v:
            out.append("[]")
            return
        out.append("[\n")
        for n, item in enumerate(v):
            if n:
                out.append(",\n")
            out.append(inner)
            _pretty(item, inner, out)
        out.append("\n" + indent + "]")
    else:
        out.append(_scalar(v))


def compact(v: JsonValue) -> bytes:
    out: list[str] = []
    _compact(v, out)
    return "".join(out).encode("latin-1")


def pretty(v: JsonValue) -> bytes:
    out: list[str] = []
    _pretty(v, "", out)
    return "".join(out).encode("latin-1")

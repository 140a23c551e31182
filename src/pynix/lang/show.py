"""Print a syntax tree as Nix does (``nix-instantiate --parse``, assertion messages)."""

from __future__ import annotations

import math
import re

from . import syntax as S

_SIMPLE_ID = re.compile(r"[a-zA-Z_][a-zA-Z0-9_'\-]*\Z")


def show_string(s: str) -> str:
    out = ['"']
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif c == "$":
            out.append("\\$")
        else:
            out.append(c)
        i += 1
    out.append('"')
    return "".join(out)


def show_float(f: float) -> str:
    """A double as C++ streams print it (6 significant digits, %g style)."""
    if f != f:
        return "-nan" if math.copysign(1.0, f) < 0 else "nan"
    if f in (float("inf"), float("-inf")):
        return "inf" if f > 0 else "-inf"
    s = f"{f:g}"
    return s


def show_attr_name(n: S.AttrName) -> str:
    if isinstance(n, str):
        return n if _SIMPLE_ID.match(n) and n != "if" else show_string(n)
    return '"${' + show(n) + '}"'




def show_attrpath(path: list[S.AttrName]) -> str:
    return ".".join(show_attr_name(n) for n in path)


def _show_binds(node: S.AttrSet, let: bool) -> str:
    parts: list[str] = []
    for name in sorted(node.attrs):
        d = node.attrs[name]
        if d.inherited:
            parts.append(f"inherit {show_attr_name(name)};" if let
                         else f"inherit {show_attr_name(name)} ;")
        else:
            parts.append(f"{show_attr_name(name)} = {show(d.value)};")
    for dyn in node.dynamic:
        parts.append(f'"${{{show(dyn.name)}}}" = {show(dyn.value)};')
    return " ".join(parts)


_INHERIT_SOURCES: list[list[S.Node]] = []


def show(node: S.Node) -> str:
    t = type(node)
    if t is S.Int:
        return str(node.value)  # type: ignore[attr-defined]
    if t is S.Float:
        return show_float(node.value)  # type: ignore[attr-defined]
    if t is S.Str:
        return show_string(node.value)  # type: ignore[attr-defined]
    if isinstance(node, S.Path):
        return node.value
    if isinstance(node, S.Var):
        return node.name
    if t is S.CurPos:
        return "__curPos"
    if isinstance(node, S.Select):
        s = f"({show(node.expr)}).{show_attrpath(node.path)}"
        if node.default is not None:
            s += f" or ({show(node.default)})"
        return s
    if isinstance(node, S.HasAttr):
        return f"(({show(node.expr)}) ? {show_attrpath(node.path)})"
    if isinstance(node, S.InheritFrom):
        srcs = _INHERIT_SOURCES[-1] if _INHERIT_SOURCES else []
        return show(srcs[node.index]) if node.index < len(srcs) else "<inherit>"
    if isinstance(node, S.AttrSet):
        _INHERIT_SOURCES.append(node.inherit_from)
        try:
            body = _show_binds(node, let=False)
        finally:
            _INHERIT_SOURCES.pop()
        prefix = "rec " if node.rec else ""
        return f"{prefix}{{ {body} }}" if body else f"{prefix}{{ }}"
    if isinstance(node, S.Let):
        _INHERIT_SOURCES.append(node.attrs.inherit_from)
        try:
            body = _show_binds(node.attrs, let=True)
        finally:
            _INHERIT_SOURCES.pop()
        return f"(let {body} in {show(node.body)})" if body else f"(let in {show(node.body)})"
    if isinstance(node, S.List):
        return "[ " + "".join(f"({show(i)}) " for i in node.items) + "]"
    if isinstance(node, S.Lambda):
        if node.formals is None:
            head = node.arg or ""
        else:
            items = [
                f.name if f.default is None else f"{f.name} ? {show(f.default)}"
                for f in node.formals
            ]
            if node.ellipsis:
                items.append("...")
            head = "{ " + ", ".join(items) + " }"
            if node.arg is not None:
                head += f" @ {node.arg}"
        return f"({head}: {show(node.body)})"
    if isinstance(node, S.Call):
        return "(" + " ".join([show(node.fn), *(show(a) for a in node.args)]) + ")"
    if isinstance(node, S.With):
        return f"(with {show(node.env)}; {show(node.body)})"
    if isinstance(node, S.Assert):
        return f"assert {show(node.cond)}; {show(node.body)}"
    if isinstance(node, S.If):
        return f"(if {show(node.cond)} then {show(node.then)} else {show(node.else_)})"
    if isinstance(node, S.Not):
        return f"(! {show(node.expr)})"
    if isinstance(node, S.BinOp):
        return f"({show(node.a)} {node.op} {show(node.b)})"
    if isinstance(node, S.ConcatStrings):
        return "(" + " + ".join(show(p) for _, p in node.parts) + ")"
    raise AssertionError(type(node).__name__)

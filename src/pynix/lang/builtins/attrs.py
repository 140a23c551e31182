"""Attribute set functions."""

from __future__ import annotations

from types import FunctionType
from typing import Any

from ..runtime import (
    call,
    expect_attrs,
    expect_function,
    expect_list,
    expect_string,
    missing_attr,
)
from ..values import LAMBDA_INFO, NixStr, PrimOp, PrimOpApp, Thunk
from . import primop
from .lists import binary


def _f(v: Any) -> Any:
    return v.force() if type(v) is Thunk else v


def _attrs(v: Any) -> dict[str, Any]:
    return expect_attrs(v.force() if type(v) is Thunk else v)


def _name(v: Any) -> str:
    s = expect_string(_f(v))
    return s.s if isinstance(s, NixStr) else s


def _apply2(f: Any, x: Any, y: Any) -> Any:
    g = f(x) if type(f) is FunctionType else call(f, x)
    return g(y) if type(g) is FunctionType else call(g, y)


@primop("attrNames", 1)
def attr_names(s: Any) -> list[str]:
    return sorted(_attrs(s))


@primop("attrValues", 1)
def attr_values(s: Any) -> list[Any]:
    d = _attrs(s)
    return [d[k] for k in sorted(d)]


@primop("getAttr", 2)
def get_attr(name: Any, s: Any) -> Any:
    n = _name(name)
    d = _attrs(s)
    try:
        return _f(d[n])
    except KeyError:
        raise missing_attr(d, n, None) from None


@primop("hasAttr", 2)
def has_attr(name: Any, s: Any) -> bool:
    n = _name(name)
    return n in _attrs(s)


@primop("removeAttrs", 2)
def remove_attrs(s: Any, names: Any) -> dict[str, Any]:
    d = _attrs(s)
    drop = {_name(n) for n in expect_list(_f(names))}
    if not drop.intersection(d):
        return d
    return {k: v for k, v in d.items() if k not in drop}


@primop("intersectAttrs", 2)
def intersect_attrs(a: Any, b: Any) -> dict[str, Any]:
    da = _attrs(a)
    db = _attrs(b)
    if len(da) < len(db):
        return {k: db[k] for k in da if k in db}
    return {k: v for k, v in db.items() if k in da}


@primop("catAttrs", 2)
def cat_attrs(name: Any, xs: Any) -> list[Any]:
    n = _name(name)
    out = []
    for x in expect_list(_f(xs)):
        d = _attrs(x)
        if n in d:
            out.append(d[n])
    return out


@primop("mapAttrs", 2)
def map_attrs(f: Any, s: Any) -> dict[str, Any]:
    d = _attrs(s)
    fn = binary(_f(f))
    return {k: Thunk(fn, (k, v)) for k, v in d.items()}


@primop("zipAttrsWith", 2)
def zip_attrs_with(f: Any, xs: Any) -> dict[str, Any]:
    fn = binary(_f(f))
    grouped: dict[str, list[Any]] = {}
    for x in expect_list(_f(xs)):
        for k, v in _attrs(x).items():
            grouped.setdefault(k, []).append(v)
    return {k: Thunk(fn, (k, vs)) for k, vs in grouped.items()}


@primop("functionArgs", 1)
def function_args(f: Any) -> dict[str, Any]:
    fn = expect_function(_f(f))
    if type(fn) is PrimOp or type(fn) is PrimOpApp:
        return {}
    info = LAMBDA_INFO.get(fn.__code__)
    if info is None or info.formals is None:
        return {}
    from ..attrpos import record

    out = {name: has_default for name, has_default, _ in info.formals}
    record(out, {name: pos for name, _, pos in info.formals})
    return out


@primop("unsafeGetAttrPos", 2)
def unsafe_get_attr_pos(name: Any, s: Any) -> Any:
    from ..attrpos import lookup

    n = _name(name)
    d = _attrs(s)
    pos = lookup(d, n)
    if pos is None:
        return None
    return {"file": pos_file(pos[0]), "line": pos[1], "column": pos[2]}


def pos_file(file: str) -> str:
    """The file of a position as Nix shows it in values: for an expression given on
    the command line, Nix 2.8 shows the expression's text."""
    from ..errors import SOURCES, STRING_ORIGIN
    from ..values import from_text

    if file == STRING_ORIGIN or file == "«stdin»":
        return from_text(SOURCES.get(file, ""))
    return from_text(file)

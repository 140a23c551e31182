"""Values to JSON, as ``builtins.toJSON`` and ``nix-instantiate --json`` write it."""

from __future__ import annotations

from types import FunctionType
from typing import Any

from .errors import EvalError, TypeError_
from .runtime import call, coerce_to_string, force
from .values import NixPath, NixStr, PrimOp, PrimOpApp, Thunk

_NONE: Any = object()  # absent (None would be a null value)
_escape: Any = None
_float: Any = None


def _load_formats() -> None:
    global _escape, _float
    from .jsonfmt import json_float, to_json_string

    _escape = to_json_string
    _float = json_float


def to_json(v: Any, strict: bool, ctx: set[str], out: list[str]) -> None:
    """Append the JSON text of a value to ``out``; string contexts go to ``ctx``."""
    if _escape is None:
        _load_formats()
    if type(v) is Thunk:
        if strict:
            v = v.force()
        elif v.fn is None:
            v = v.v
        else:
            raise TypeError_("cannot convert a thunk to JSON")
    t = type(v)
    if t is int:
        out.append(str(v))
    elif t is str:
        out.append(_escape(v))
    elif t is NixStr:
        ctx.update(v.ctx)
        out.append(_escape(v.s))
    elif t is bool:
        out.append("true" if v else "false")
    elif v is None:
        out.append("null")
    elif t is float:
        out.append(_float(v))
    elif t is list:
        out.append("[")
        first = True
        try:
            for x in v:
                if not first:
                    out.append(",")
                first = False
                to_json(x, strict, ctx, out)
        finally:
            # also on an error: Nix closes what it opened
            out.append("]")
    elif t is dict:
        to_s = v.get("__toString", _NONE)
        if to_s is not _NONE:
            r = call(force(to_s), v)
            s = coerce_to_string(r, None, ctx, copy_to_store=False)
            out.append(_escape(s))
            return
        outpath = v.get("outPath", _NONE)
        if outpath is not _NONE:
            to_json(outpath, strict, ctx, out)
            return
        out.append("{")
        first = True
        try:
            for k in sorted(v):
                if not first:
                    out.append(",")
                first = False
                out.append(_escape(k))
                out.append(":")
                to_json(v[k], strict, ctx, out)
        finally:
            out.append("}")
    elif t is NixPath:
        s = coerce_to_string(v, None, ctx, copy_to_store=True)
        out.append(_escape(s))
    elif t is FunctionType or t is PrimOp or t is PrimOpApp:
        raise TypeError_("cannot convert a function to JSON")
    else:
        raise EvalError(f"cannot convert {t.__name__} to JSON")

"""Attribute paths on the command line (``-A a.b.0``) and automatic function calls."""

from __future__ import annotations

from types import FunctionType
from typing import Any

from .errors import EvalError, TypeError_
from .runtime import call, force
from .values import LAMBDA_INFO, Thunk, show_type, to_text


def split_attr_path(path: str) -> list[str]:
    """Split ``a."b.c".d`` into its names; quotes protect dots."""
    out: list[str] = []
    cur = ""
    quoted = False
    for ch in path:
        if ch == '"':
            quoted = not quoted
        elif ch == "." and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if quoted:
        raise EvalError(f"missing closing quote in selection path '{to_text(path)}'")
    out.append(cur)
    return out


def auto_call(v: Any, args: dict[str, Any]) -> Any:
    """Call a function with formals with the --arg/--argstr values it asks for."""
    v = force(v)
    if type(v) is dict and "__functor" in v:
        return auto_call(call(force(v["__functor"]), v), args)
    if type(v) is not FunctionType:
        return v
    info = LAMBDA_INFO.get(v.__code__)
    if info is None or info.formals is None:
        return v
    if info.ellipsis:
        given = dict(args)
    else:
        given = {}
        for name, has_default, _ in info.formals:
            if name in args:
                given[name] = args[name]
            elif not has_default:
                raise TypeError_(
                    f"cannot evaluate a function that has an argument without a value "
                    f"('{to_text(name)}')\nNix attempted to evaluate a function as a top level "
                    "expression; in\nthis case it must have its arguments supplied either by "
                    "default\nvalues, or passed explicitly with '--arg' or '--argstr'.",
                    info.pos,
                )
    return v(given)


def find_along_attr_path(root: Any, path: str, args: dict[str, Any]) -> Any:
    """The value at an attribute path, calling functions met on the way."""
    v = root
    if path == "":
        return force(v)
    for name in split_attr_path(path):
        v = auto_call(v, args)
        if name.isdigit():
            if type(v) is not list:
                raise TypeError_(
                    f"the expression selected by the selection path '{to_text(path)}' should "
                    f"be a list but is {show_type(v)}"
                )
            i = int(name)
            if i >= len(v):
                raise EvalError(
                    f"list index {i} in selection path '{to_text(path)}' is out of range"
                )
            v = v[i]
            continue
        if type(v) is not dict:
            raise TypeError_(
                f"the expression selected by the selection path '{to_text(path)}' should be "
                f"a set but is {show_type(v)}"
            )
        if name == "":
            raise EvalError(f"empty attribute name in selection path '{to_text(path)}'")
        if name not in v:
            raise EvalError(
                f"attribute '{to_text(name)}' in selection path '{to_text(path)}' not found"
            )
        v = v[name]
    return v.force() if type(v) is Thunk else v

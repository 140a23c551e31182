"""Type predicates and ``typeOf``."""

from __future__ import annotations

from types import FunctionType
from typing import Any

from ..values import NixPath, NixStr, PrimOp, PrimOpApp, Thunk, type_name
from . import primop


def _f(v: Any) -> Any:
    return v.force() if type(v) is Thunk else v


@primop("typeOf", 1)
def type_of(v: Any) -> str:
    return type_name(_f(v))


@primop("isAttrs", 1)
def is_attrs(v: Any) -> bool:
    return type(_f(v)) is dict


@primop("isList", 1)
def is_list(v: Any) -> bool:
    return type(_f(v)) is list


@primop("isInt", 1)
def is_int(v: Any) -> bool:
    return type(_f(v)) is int


@primop("isFloat", 1)
def is_float(v: Any) -> bool:
    return type(_f(v)) is float


@primop("isBool", 1)
def is_bool(v: Any) -> bool:
    return type(_f(v)) is bool


@primop("isNull", 1)
def is_null(v: Any) -> bool:
    return _f(v) is None


@primop("isString", 1)
def is_string(v: Any) -> bool:
    t = type(_f(v))
    return t is str or t is NixStr


@primop("isPath", 1)
def is_path(v: Any) -> bool:
    return type(_f(v)) is NixPath


@primop("isFunction", 1)
def is_function(v: Any) -> bool:
    t = type(_f(v))
    return t is FunctionType or t is PrimOp or t is PrimOpApp

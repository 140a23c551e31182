"""Arithmetic, bit operations and comparison."""

from __future__ import annotations

import math
from typing import Any

from ..errors import EvalError
from ..runtime import (
    MAX_INT,
    MIN_INT,
    div,
    expect_float,
    expect_int,
    less_than,
    mul,
    sub,
    wrap_int,
)
from ..values import Thunk
from . import primop


def _f(v: Any) -> Any:
    return v.force() if type(v) is Thunk else v


@primop("add", 2)
def add(a: Any, b: Any) -> Any:
    a = _f(a)
    b = _f(b)
    if type(a) is float or type(b) is float:
        return expect_float(a) + expect_float(b)
    r = expect_int(a) + expect_int(b)
    return r if MIN_INT <= r <= MAX_INT else wrap_int(r)


@primop("sub", 2)
def sub_(a: Any, b: Any) -> Any:
    return sub(_f(a), _f(b), None)


@primop("mul", 2)
def mul_(a: Any, b: Any) -> Any:
    return mul(_f(a), _f(b), None)


@primop("div", 2)
def div_(a: Any, b: Any) -> Any:
    return div(_f(a), _f(b), None)


@primop("lessThan", 2)
def less_than_(a: Any, b: Any) -> bool:
    return less_than(_f(a), _f(b), None)


@primop("bitAnd", 2)
def bit_and(a: Any, b: Any) -> int:
    return expect_int(_f(a)) & expect_int(_f(b))


@primop("bitOr", 2)
def bit_or(a: Any, b: Any) -> int:
    return expect_int(_f(a)) | expect_int(_f(b))


@primop("bitXor", 2)
def bit_xor(a: Any, b: Any) -> int:
    return expect_int(_f(a)) ^ expect_int(_f(b))


def _to_int(x: float, rounding: Any) -> int:
    if math.isnan(x) or math.isinf(x):
        raise EvalError(f"cannot convert {x} to an integer")
    r = int(rounding(x))
    return r if MIN_INT <= r <= MAX_INT else wrap_int(r)


@primop("ceil", 1)
def ceil(v: Any) -> int:
    return _to_int(expect_float(_f(v)), math.ceil)


@primop("floor", 1)
def floor(v: Any) -> int:
    return _to_int(expect_float(_f(v)), math.floor)

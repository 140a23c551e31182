"""Evaluation control: errors, tracing, forcing."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ..errors import Abort, AssertionFailed, EvalError, NixError, ThrownError
from ..runtime import coerce_to_string, deep_force, expect_string
from ..values import NixStr, Thunk, to_text
from . import eval_primop, primop

if TYPE_CHECKING:
    from ..evaluator import Evaluator


def _f(v: Any) -> Any:
    return v.force() if type(v) is Thunk else v


@primop("throw", 1)
def throw(msg: Any) -> Any:
    s = coerce_to_string(_f(msg), None, set())
    raise ThrownError(to_text(s))


@primop("abort", 1)
def abort(msg: Any) -> Any:
    s = coerce_to_string(_f(msg), None, set())
    raise Abort(f"evaluation aborted with the following error message: '{to_text(s)}'")


@primop("tryEval", 1)
def try_eval(e: Any) -> dict[str, Any]:
    try:
        v = _f(e)
    except AssertionFailed:
        return {"success": False, "value": False}
    return {"success": True, "value": v}


@primop("seq", 2)
def seq(a: Any, b: Any) -> Any:
    _f(a)
    return _f(b)


@primop("deepSeq", 2)
def deep_seq(a: Any, b: Any) -> Any:
    deep_force(a)
    return _f(b)


@eval_primop("trace", 2)
def trace(ev: Evaluator, msg: Any, b: Any) -> Any:
    m = _f(msg)
    t = type(m)
    if t is str or t is NixStr:
        ev.log_trace(str(m))
    else:
        from ..printer import print_value

        ev.log_trace(print_value(m))
    return _f(b)


@eval_primop("traceVerbose", 2)
def trace_verbose(ev: Evaluator, msg: Any, b: Any) -> Any:
    if ev.trace_verbose:
        return trace(ev, msg, b)
    return _f(b)


@eval_primop("warn", 2)
def warn(ev: Evaluator, msg: Any, b: Any) -> Any:
    m = expect_string(_f(msg))
    ev.log_warning(str(m))
    if ev.abort_on_warn:
        raise EvalError("aborting on warning because abort-on-warn is set")
    return _f(b)


@primop("break", 1)
def break_(v: Any) -> Any:
    return _f(v)


@primop("addErrorContext", 2)
def add_error_context(ctx: Any, e: Any) -> Any:
    try:
        return _f(e)
    except NixError as err:
        try:
            msg = to_text(str(expect_string(_f(ctx))))
        except NixError:
            raise err from None
        err.add_trace(None, msg)
        raise


def _stderr(text: str) -> None:
    sys.stderr.write(text + "\n")

"""Speculative evaluation of cheap integer and Boolean expressions.

A lazy position (a ``let`` binding, a function argument, a list element)
normally gets a thunk.  When the expression is built only from integer and
Boolean operations on local variables and constants, and at run time those
variables already hold integers and Booleans, the value can be computed at
once for less than the thunk would cost: nothing in it can fail, diverge or
have an effect.  Otherwise the code falls back to the thunk.

The generated test is a chain of conditions that both checks the inputs and
computes every intermediate result, each arithmetic result checked to fit in
64 bits (Nix 2.8 wraps around on overflow; the slow path does that).
"""

from __future__ import annotations

import ast as py
from collections.abc import Callable
from typing import Any

from . import syntax as S

INT, BOOL = "int", "bool"

_ARITH = {"__sub": py.Sub(), "__mul": py.Mult()}
_MAX_NODES = 24


class _Fail(Exception):
    pass


class Speculator:
    """Builds the speculative form of one expression.

    ``resolve(name)`` gives the Python name of a local Nix variable, the constant
    a variable bound to a literal stands for, or None when the variable is not a
    plain local (with-bound, builtin, alias).
    ``is_base(name)`` tells whether an operator name like ``__sub`` still
    means the builtin.
    """

    def __init__(self, resolve: Callable[[str], str | py.Constant | None],
                 is_base: Callable[[str], bool],
                 fresh: Callable[[str], str]) -> None:
        self.resolve = resolve
        self.is_base = is_base
        self.fresh = fresh
        self.conds: list[py.expr] = []
        self.vars: dict[str, tuple[str, str]] = {}  # python name -> (temp, kind)
        self.nodes = 0

    def build(self, node: S.Node) -> tuple[py.expr, py.expr] | None:
        """(condition, value): the value is usable when the condition holds."""
        try:
            kind, value = self.expr(node)
        except _Fail:
            return None
        if not self.vars:
            return None  # constant: nothing to gain over the normal path
        if not isinstance(value, py.Name):
            r = self.fresh("_s")
            self.conds.append(_walrus_true(r, value, kind))
            value = _name(r)
        test = py.BoolOp(op=py.And(), values=self.conds) if len(self.conds) > 1 \
            else self.conds[0]
        return test, value

    def var(self, name: str, kind: str) -> py.expr:
        pyname = self.resolve(name)
        if pyname is None:
            raise _Fail
        if isinstance(pyname, py.Constant):
            # a variable bound to a literal
            if kind == INT and type(pyname.value) is int:
                return pyname
            raise _Fail
        known = self.vars.get(pyname)
        if known is not None:
            if known[1] != kind:
                raise _Fail
            return _name(known[0])
        t = self.fresh("_s")
        self.vars[pyname] = (t, kind)
        # the variable's value when it is already known, else the thunk (which fails the test)
        src = _name(pyname)
        unwrapped = py.IfExp(
            test=py.BoolOp(op=py.And(), values=[
                _type_is(src, "_T"),
                py.Compare(left=py.Attribute(value=_name(pyname), attr="fn", ctx=py.Load()),
                           ops=[py.Is()], comparators=[py.Constant(value=None)]),
            ]),
            body=py.Attribute(value=_name(pyname), attr="v", ctx=py.Load()),
            orelse=_name(pyname),
        )
        self.conds.append(_type_is(py.NamedExpr(target=_store(t), value=unwrapped), kind))
        return _name(t)

    def step(self, value: py.expr, kind: str) -> py.expr:
        """Compute an intermediate result once, checking an integer's range."""
        t = self.fresh("_s")
        self.conds.append(_walrus_true(t, value, kind))
        return _name(t)

    def expr(self, node: S.Node, want: str | None = None) -> tuple[str, py.expr]:
        self.nodes += 1
        if self.nodes > _MAX_NODES:
            raise _Fail
        if isinstance(node, S.Int):
            if want == BOOL:
                raise _Fail
            return INT, py.Constant(value=node.value)
        if isinstance(node, S.Var):
            if node.name in ("true", "false") and self.is_base(node.name):
                if want == INT:
                    raise _Fail
                return BOOL, py.Constant(value=node.name == "true")
            kind = want or INT
            return kind, self.var(node.name, kind)
        if isinstance(node, S.Call) and isinstance(node.fn, S.Var) and len(node.args) == 2:
            op = node.fn.name
            if not self.is_base(op):
                raise _Fail
            if op in _ARITH:
                if want == BOOL:
                    raise _Fail
                a = self.int(node.args[0])
                b = self.int(node.args[1])
                return INT, self.step(py.BinOp(left=a, op=_ARITH[op], right=b), INT)
            if op == "__div":
                d = node.args[1]
                if want == BOOL or not isinstance(d, S.Int) or d.value in (0, -1):
                    raise _Fail
                a = self.int(node.args[0])
                return INT, self.step(_call("_idiv", a, py.Constant(value=d.value)), INT)
            if op == "__lessThan":
                if want == INT:
                    raise _Fail
                a = self.int(node.args[0])
                b = self.int(node.args[1])
                return BOOL, self.step(py.Compare(left=a, ops=[py.Lt()], comparators=[b]), BOOL)
            raise _Fail
        if isinstance(node, S.ConcatStrings) and not node.force_string and len(node.parts) == 2:
            if want == BOOL:
                raise _Fail
            a = self.int(node.parts[0][1])
            b = self.int(node.parts[1][1])
            return INT, self.step(py.BinOp(left=a, op=py.Add(), right=b), INT)
        if isinstance(node, S.Not):
            if want == INT:
                raise _Fail
            return BOOL, py.UnaryOp(op=py.Not(), operand=self.bool(node.expr))
        if isinstance(node, S.BinOp):
            if want == INT:
                raise _Fail
            if node.op in ("==", "!="):
                a = self.int(node.a)
                b = self.int(node.b)
                cmp: py.cmpop = py.Eq() if node.op == "==" else py.NotEq()
                return BOOL, self.step(py.Compare(left=a, ops=[cmp], comparators=[b]), BOOL)
            if node.op in ("&&", "||"):
                a = self.bool(node.a)
                b = self.bool(node.b)
                bop: py.boolop = py.And() if node.op == "&&" else py.Or()
                return BOOL, self.step(py.BoolOp(op=bop, values=[a, b]), BOOL)
            raise _Fail
        if isinstance(node, S.If):
            c = self.bool(node.cond)
            kt, t = self.expr(node.then, want)
            ke, e = self.expr(node.else_, want or kt)
            if kt != ke:
                raise _Fail
            return kt, self.step(py.IfExp(test=c, body=t, orelse=e), kt)
        raise _Fail

    def int(self, node: S.Node) -> py.expr:
        return self.expr(node, INT)[1]

    def bool(self, node: S.Node) -> py.expr:
        return self.expr(node, BOOL)[1]


def _name(n: str) -> py.Name:
    return py.Name(id=n, ctx=py.Load())


def _store(n: str) -> py.Name:
    return py.Name(id=n, ctx=py.Store())


def _call(fn: str, *args: py.expr) -> py.Call:
    return py.Call(func=_name(fn), args=list(args), keywords=[])


def _type_is(v: py.expr, tname: str) -> py.Compare:
    return py.Compare(left=_call("type", v), ops=[py.Is()], comparators=[_name(tname)])


def _walrus_true(t: str, value: py.expr, kind: str) -> py.expr:
    """A condition that stores ``value`` in ``t`` and holds when it is usable."""
    w = py.NamedExpr(target=_store(t), value=value)
    if kind == INT:
        return py.Compare(left=_name("_MIN"), ops=[py.LtE(), py.LtE()],
                          comparators=[w, _name("_MAX")])
    # a Boolean result: the condition must hold whatever the value
    return py.Compare(left=w, ops=[py.IsNot()], comparators=[py.Constant(value=None)])


def speculable_shape(node: Any) -> bool:
    """A quick syntactic filter before trying to build anything."""
    return isinstance(node, (S.Call, S.ConcatStrings, S.BinOp, S.Not, S.If))

"""List functions."""

from __future__ import annotations

from functools import partial
from types import FunctionType
from typing import Any

from ..errors import EvalError
from ..runtime import (
    call,
    equal,
    expect_attrs,
    expect_function,
    expect_int,
    expect_list,
    expect_string_no_ctx,
    less_than,
    select,
    truthy,
)
from ..values import NixPath, NixStr, PrimOp, Thunk
from . import PRIMOPS, primop


def _f(v: Any) -> Any:
    return v.force() if type(v) is Thunk else v


def _lst(v: Any) -> list[Any]:
    return expect_list(v.force() if type(v) is Thunk else v)


def _fn(v: Any) -> Any:
    return expect_function(v.force() if type(v) is Thunk else v)


def _apply(f: Any, x: Any) -> Any:
    return f(x) if type(f) is FunctionType else call(f, x)


def _apply2(f: Any, x: Any, y: Any) -> Any:
    g = f(x) if type(f) is FunctionType else call(f, x)
    return g(y) if type(g) is FunctionType else call(g, y)


def unary(f: Any) -> Any:
    """A Python function of one argument that applies the (forced) Nix function ``f``:
    a lambda itself, a one-argument builtin's own function, else through ``call``."""
    t = type(f)
    if t is FunctionType:
        return f
    if t is PrimOp and f.arity == 1:
        return f.fn
    return partial(call, f)


def binary(f: Any) -> Any:
    """A Python function of two arguments that applies the Nix function ``f`` to both:
    the uncurried form the compiler made for ``a: b: ...`` lambdas, when there is one."""
    if type(f) is FunctionType:
        u = getattr(f, "u", None)
        # `u` takes every parameter of the curried chain at once: only a chain
        # of exactly two (`a: b: ...`) is a function of two arguments
        if u is not None and u.__code__.co_argcount == 2:
            return u
    return partial(_apply2, f)


def lazy_apply(f: Any, x: Any) -> Thunk:
    """A thunk for ``f x``."""
    return Thunk(_apply, (f, x))


@primop("map", 2)
def map_(f: Any, xs: Any) -> list[Any]:
    items = _lst(xs)
    fn = unary(_f(f))
    return [Thunk(fn, (x,)) for x in items]


@primop("filter", 2)
def filter_(f: Any, xs: Any) -> list[Any]:
    items = _lst(xs)
    fn = unary(_fn(f))
    out = []
    for x in items:
        r = fn(x)
        if r is True:
            out.append(x)
        elif r is not False:
            truthy(r, None)
    return out if len(out) != len(items) else items


@primop("foldl'", 3)
def foldl(op: Any, nul: Any, xs: Any) -> Any:
    items = _lst(xs)
    if not items:
        return _f(nul)
    step = binary(_f(op))
    acc = nul
    for x in items:
        acc = step(acc, x)
    return acc


@primop("genList", 2)
def gen_list(f: Any, n: Any) -> list[Any]:
    count = expect_int(_f(n))
    if count < 0:
        raise EvalError(f"cannot create list of size {count}")
    f = _f(f)
    if type(f) is FunctionType:
        if getattr(f, "identity", False):
            # `genList (i: i) n` with eager containers (see the compiler): the
            # elements are known integers, and computing them cannot fail
            return list(range(count))
        return [Thunk(f, (i,)) for i in range(count)]
    return [Thunk(_apply, (f, i)) for i in range(count)]


@primop("elem", 2)
def elem(x: Any, xs: Any) -> bool:
    items = _lst(xs)
    if not items:
        return False  # Nix forces the needle only to compare it with an element
    x = _f(x)
    tx = type(x)
    if tx is str or tx is int:
        # the common needles, compared inline (as `equal` does: a string equals a
        # string with context of the same text; an integer equals an equal float)
        other = NixStr if tx is str else float
        for y in items:
            if type(y) is Thunk:
                y = y.v if y.fn is None else y.force()
            ty = type(y)
            if ty is tx:
                if y == x:
                    return True
            elif ty is other and equal(x, y):
                return True
        return False
    return any(y is x or equal(x, _f(y)) for y in items)


@primop("elemAt", 2)
def elem_at(xs: Any, n: Any) -> Any:
    items = _lst(xs)
    i = expect_int(_f(n))
    if i < 0 or i >= len(items):
        raise EvalError(f"list index {i} is out of bounds")
    return _f(items[i])


@primop("head", 1)
def head(xs: Any) -> Any:
    items = _lst(xs)
    if not items:
        raise EvalError("list index 0 is out of bounds")
    return _f(items[0])


@primop("tail", 1)
def tail(xs: Any) -> list[Any]:
    items = _lst(xs)
    if not items:
        raise EvalError("'tail' called on an empty list")
    return items[1:]


@primop("length", 1)
def length(xs: Any) -> int:
    return len(_lst(xs))


@primop("concatLists", 1)
def concat_lists(xss: Any) -> list[Any]:
    out: list[Any] = []
    for xs in _lst(xss):
        out.extend(_lst(xs))
    return out


@primop("concatMap", 2)
def concat_map(f: Any, xs: Any) -> list[Any]:
    f = _fn(f)
    out: list[Any] = []
    direct = type(f) is FunctionType
    for x in _lst(xs):
        r = f(x) if direct else call(f, x)
        if type(r) is not list:
            expect_list(r)
        out.extend(r)
    return out


@primop("any", 2)
def any_(f: Any, xs: Any) -> bool:
    fn = unary(_fn(f))
    for x in _lst(xs):
        r = fn(x)
        if r is True:
            return True
        if r is not False:
            truthy(r, None)
    return False


@primop("all", 2)
def all_(f: Any, xs: Any) -> bool:
    fn = unary(_fn(f))
    for x in _lst(xs):
        r = fn(x)
        if r is False:
            return False
        if r is not True:
            truthy(r, None)
    return True


class _SortKey:
    """Orders values by a Nix comparator; Python's sort only ever uses ``<``."""

    __slots__ = ("cmp", "v")

    def __init__(self, v: Any, cmp: Any) -> None:
        self.v = v
        self.cmp = cmp

    def __lt__(self, other: _SortKey) -> bool:
        r = self.cmp(self.v, other.v)
        if r is True or r is False:
            return r
        return truthy(r, None)


class _NaturalKey:
    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: _NaturalKey) -> bool:
        return less_than(_f(self.v), _f(other.v), None)


def _natural_keys(items: list[Any]) -> list[Any] | None:
    """The forced values of ``items`` as sort keys when they are all integers or all
    strings (without context), else None (floats, whose NaN Python orders
    differently, take the general way)."""
    keys = [_f(x) for x in items]
    t0 = type(keys[0])
    if t0 is int:
        for k in keys:
            if type(k) is not int:
                return None
        return keys
    if t0 is str:
        for k in keys:
            if type(k) is not str:
                return None
        return keys
    return None


@primop("sort", 2)
def sort(cmp: Any, xs: Any) -> list[Any]:
    items = _lst(xs)
    cmp = _f(cmp)
    for x in items:
        _f(x)
    if len(items) < 2:
        return items
    if cmp is PRIMOPS["lessThan"]:
        keys = _natural_keys(items)
        if keys is not None:
            # all integers, or all strings: Python orders them as Nix does (strings
            # by their bytes), and both sorts are stable
            order = sorted(range(len(items)), key=keys.__getitem__)
            return [items[i] for i in order]
        return [k.v for k in sorted(_NaturalKey(x) for x in items)]
    less = binary(cmp)
    return [k.v for k in sorted(_SortKey(x, less) for x in items)]


@primop("partition", 2)
def partition(f: Any, xs: Any) -> dict[str, Any]:
    f = _fn(f)
    right: list[Any] = []
    wrong: list[Any] = []
    for x in _lst(xs):
        (right if truthy(_apply(f, x), None) else wrong).append(x)
    return {"right": right, "wrong": wrong}


@primop("groupBy", 2)
def group_by(f: Any, xs: Any) -> dict[str, Any]:
    f = _fn(f)
    out: dict[str, list[Any]] = {}
    for x in _lst(xs):
        key = str(expect_string_no_ctx(_apply(f, x)))
        out.setdefault(key, []).append(x)
    return dict(out)


@primop("listToAttrs", 1)
def list_to_attrs(xs: Any) -> dict[str, Any]:
    from .. import attrpos

    out: dict[str, Any] = {}
    positions: dict[str, Any] = {}
    track = attrpos.STATE.enabled
    for item in _lst(xs):
        d = item.force() if type(item) is Thunk else item
        if type(d) is not dict:
            expect_attrs(d)
        # the common case inline: `name` a plain string, forced or not
        name = d.get("name")
        if type(name) is Thunk:
            name = name.force()
        if type(name) is not str:
            name = str(expect_string_no_ctx(select(d, "name", None)))
        if name not in out:
            if "value" not in d:
                select(d, "value", None)
            out[name] = d["value"]
            if track:
                # Nix gives the attribute the position of `value = ...`
                pos = attrpos.lookup(d, "value")
                if pos is not None:
                    positions[name] = pos
    if positions:
        attrpos.record(out, positions)
    return out


def _closure_key(v: Any) -> Any:
    """A hashable stand-in for a genericClosure key, equal when Nix deems them equal."""
    t = type(v)
    if t is int or t is float:
        return ("n", v)
    if t is str or t is NixStr:
        return ("s", str(v))
    if t is NixPath:
        return ("p", v.path)
    if t is list:
        return ("l", tuple(_closure_key(_f(x)) for x in v))
    less_than(v, v, None)  # raises Nix's "cannot compare" error
    raise AssertionError("unreachable")


_KEY_KIND = {"n": "an integer", "s": "a string", "p": "a path", "l": "a list"}


@primop("genericClosure", 1)
def generic_closure(args: Any) -> list[Any]:
    a = expect_attrs(_f(args))
    if "startSet" not in a:
        raise EvalError("attribute 'startSet' required")
    if "operator" not in a:
        raise EvalError("attribute 'operator' required")
    work = list(_lst(a["startSet"]))
    op = _f(a["operator"])
    seen: set[Any] = set()
    result: list[Any] = []
    first_kind: str = ""
    first_key: Any = None
    i = 0
    while i < len(work):
        item = work[i]
        i += 1
        d = expect_attrs(_f(item))
        if "key" not in d:
            raise EvalError("attribute 'key' required")
        kv = _f(d["key"])
        key = _closure_key(kv)
        if seen and key[0] != first_kind:
            # Nix keeps the keys in an ordered set, which compares them
            less_than(first_key, kv, None)
        if not seen:
            first_kind, first_key = key[0], kv
        if key in seen:
            continue
        seen.add(key)
        result.append(item)
        work.extend(expect_list(_apply(op, d)))
    return result


__all__ = ["PrimOp", "lazy_apply"]

"""Operations of the Nix language that compiled code and builtins call.

Unless a docstring says otherwise, arguments are forced values and results
are forced values.  Positions (``pos``) are only used for error messages.
"""

from __future__ import annotations

import math
from types import FunctionType
from typing import Any, Final, NoReturn

from . import attrpos
from .errors import (
    EvalError,
    InfiniteRecursion,
    MissingAttribute,
    NixError,
    TypeError_,
    UndefinedVariable,
    did_you_mean,
    show_pos,
    similar,
)
from .values import (
    EMPTY_CTX,
    LAMBDA_INFO,
    NixPath,
    NixStr,
    Pos,
    PrimOp,
    PrimOpApp,
    StrValue,
    Thunk,
    make_str,
    show_type,
    to_text,
)

MAX_INT: Final = (1 << 63) - 1
MIN_INT: Final = -(1 << 63)


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


def wrap_int(r: int) -> int:
    """Two's-complement wrap-around, as Nix 2.8's 64-bit arithmetic does."""
    return ((r + (1 << 63)) & 0xFFFFFFFFFFFFFFFF) - (1 << 63)


def force(v: Any) -> Any:
    return v.force() if type(v) is Thunk else v


def int_div(a: int, b: int) -> int:
    """C's integer division: truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


# ---------------------------------------------------------------------------
# type checks with Nix's messages


def type_error(expected: str, v: Any, pos: Pos | None = None) -> TypeError_:
    return TypeError_(f"value is {show_type(v)} while {expected} was expected", pos)


def expect_int(v: Any, pos: Pos | None = None) -> int:
    if type(v) is int:
        return v
    raise type_error("an integer", v, pos)


def expect_float(v: Any, pos: Pos | None = None) -> float:
    """forceFloat: ints are accepted and converted."""
    t = type(v)
    if t is float:
        return v
    if t is int:
        return float(v)
    raise type_error("a float", v, pos)


def expect_bool(v: Any, pos: Pos | None = None) -> bool:
    if v is True or v is False:
        return v
    raise type_error("a Boolean", v, pos)


def expect_attrs(v: Any, pos: Pos | None = None) -> dict[str, Any]:
    if type(v) is dict:
        return v
    raise type_error("a set", v, pos)


def expect_list(v: Any, pos: Pos | None = None) -> list[Any]:
    if type(v) is list:
        return v
    raise type_error("a list", v, pos)


def expect_function(v: Any, pos: Pos | None = None) -> Any:
    t = type(v)
    if t is FunctionType or t is PrimOp or t is PrimOpApp:
        return v
    raise type_error("a function", v, pos)


def expect_string(v: Any, pos: Pos | None = None) -> StrValue:
    """forceString: a string (context kept on the returned object)."""
    t = type(v)
    if t is str or t is NixStr:
        return v
    raise type_error("a string", v, pos)


def expect_string_no_ctx(v: Any, pos: Pos | None = None) -> str:
    s = expect_string(v, pos)
    if isinstance(s, NixStr):
        raise EvalError(
            f"the string '{to_text(str(s))}' is not allowed to refer to a store path "
            f"(such as '{to_text(min(s.ctx))}')",
            pos,
        )
    return s


def truthy(v: Any, pos: Pos | None) -> bool:
    if v is True:
        return True
    if v is False:
        return False
    raise type_error("a Boolean", v, pos)


# ---------------------------------------------------------------------------
# function application


def call(f: Any, arg: Any, pos: Pos | None = None) -> Any:
    """Apply a forced function value to an argument (a value or a thunk)."""
    t = type(f)
    if t is FunctionType:
        return f(arg)
    if t is PrimOp:
        if f.arity == 1:
            try:
                return f.fn(arg)
            except NixError as e:
                raise e.at(pos) from None
        return PrimOpApp(f, (arg,))
    if t is PrimOpApp:
        prim = f.prim
        args = (*f.args, arg)
        if len(args) == prim.arity:
            try:
                return prim.fn(*args)
            except NixError as e:
                raise e.at(pos) from None
        return PrimOpApp(prim, args)
    if t is dict:
        functor = f.get("__functor", MISSING)
        if functor is not MISSING:
            fun = force(functor)
            return call(call(fun, f, pos), arg, pos)
    raise TypeError_(
        f"attempt to call something which is not a function but {show_type(f)}", pos
    )


def call_lazy(f: Any, arg: Any, pos: Pos | None = None) -> Any:
    """Apply a function value (possibly a thunk) to an argument."""
    return call(f.force() if type(f) is Thunk else f, arg, pos)


def lambda_name(f: Any) -> str:
    info = LAMBDA_INFO.get(f.__code__)
    if info is None:
        return "anonymous function"
    if info.name:
        return f"'{to_text(info.name)}' at {show_pos(info.pos)}"
    return f"anonymous function at {show_pos(info.pos)}"


def missing_argument(fn_code: Any, name: str, pos: Pos | None) -> NoReturn:
    info = LAMBDA_INFO.get(fn_code)
    who = "anonymous function"
    if info is not None:
        who = (
            f"'{to_text(info.name)}' at {show_pos(info.pos)}"
            if info.name
            else f"anonymous function at {show_pos(info.pos)}"
        )
    raise TypeError_(f"{who} called without required argument '{to_text(name)}'", pos)


def unexpected_argument(fn_code: Any, args: dict[str, Any], pos: Pos | None) -> NoReturn:
    info = LAMBDA_INFO[fn_code]
    names = [f[0] for f in info.formals or ()]
    allowed = set(names)
    bad = sorted(k for k in args if k not in allowed)[0]
    who = (
        f"'{to_text(info.name)}' at {show_pos(info.pos)}"
        if info.name
        else f"anonymous function at {show_pos(info.pos)}"
    )
    raise TypeError_(
        f"{who} called with unexpected argument '{to_text(bad)}'",
        pos,
        hint=did_you_mean(similar(bad, names)),
    )


# ---------------------------------------------------------------------------
# attribute sets


def _show_attr(name: str) -> str:
    return to_text(name)


def missing_attr(d: dict[str, Any], name: str, pos: Pos | None) -> MissingAttribute:
    return MissingAttribute(
        f"attribute '{_show_attr(name)}' missing",
        pos,
        hint=did_you_mean(similar(name, d.keys())),
    )


def select(v: Any, name: str, pos: Pos | None) -> Any:
    """``v.name`` (v forced); the attribute's value, forced."""
    if type(v) is dict:
        try:
            x = v[name]
        except KeyError:
            raise missing_attr(v, name, pos) from None
        return x.force() if type(x) is Thunk else x
    raise type_error("a set", v, pos)


def select_path(v: Any, names: tuple[str, ...], pos: Pos | None) -> Any:
    for name in names:
        if type(v) is not dict:
            raise type_error("a set", v, pos)
        try:
            x = v[name]
        except KeyError:
            raise missing_attr(v, name, pos) from None
        v = x.force() if type(x) is Thunk else x
    return v


def select_or(v: Any, names: tuple[str, ...]) -> Any:
    """``v.a.b or ...``: the forced value, or MISSING."""
    for name in names:
        if type(v) is not dict:
            return MISSING
        x = v.get(name, MISSING)
        if x is MISSING:
            return MISSING
        v = x.force() if type(x) is Thunk else x
    return v


def has_attr_path(v: Any, names: tuple[str, ...]) -> bool:
    """``v ? a.b`` (v forced)."""
    last = len(names) - 1
    for i, name in enumerate(names):
        if type(v) is not dict:
            return False
        if name not in v:
            return False
        if i < last:
            v = force(v[name])
    return True


def attr_name(v: Any, pos: Pos | None) -> str | None:
    """A dynamic attribute name: a string without context, or null (skip)."""
    if v is None:
        return None
    if type(v) is str:
        return v
    return expect_string_no_ctx(v, pos)


def select_name(v: Any, pos: Pos | None) -> str:
    if type(v) is str:
        return v
    return expect_string_no_ctx(v, pos)


def add_dynamic_attrs(
    d: dict[str, Any], items: list[tuple[Any, Any, Pos]], static_pos: dict[str, Pos] | None
) -> dict[str, Any]:
    """Insert ``"${name}" = value`` attributes; items are (forced name, value, pos)."""
    for name_v, value, pos in items:
        name = attr_name(name_v, pos)
        if name is None:
            continue
        if name in d:
            where = (static_pos or {}).get(name)
            raise EvalError(
                f"dynamic attribute '{_show_attr(name)}' already defined at {show_pos(where)}",
                pos,
            )
        d[name] = value
        if attrpos.STATE.enabled:
            attrpos.add(d, name, pos)
    return d


def update(a: Any, b: Any, pos: Pos | None) -> dict[str, Any]:
    """``a // b``."""
    if type(a) is not dict:
        raise type_error("a set", a, pos)
    if type(b) is not dict:
        raise type_error("a set", b, pos)
    if not b:
        return a
    if not a:
        return b
    r = a.copy()
    r.update(b)
    if attrpos.STATE.enabled:
        attrpos.merge(r, a, b)
    return r


def with_lookup(chain: Any, name: str, pos: Pos | None) -> Any:
    """A variable bound by ``with``: the forced value from the innermost scope that has it.

    A scope chain is a list ``[attrs, outer chain]``; ``attrs`` starts as the
    (lazy) expression and is replaced by the forced set on first use.
    """
    while chain is not None:
        d = chain[0]
        if type(d) is not dict:
            d = _force_with(chain, pos)
        if name in d:
            x = d[name]
            if type(x) is Thunk:
                return x.v if x.fn is None else x.force()
            return x
        chain = chain[1]
    raise UndefinedVariable(f"undefined variable '{to_text(name)}'", pos)


def _force_with(chain: list[Any], pos: Pos | None) -> dict[str, Any]:
    d = chain[0]
    if type(d) is Thunk:
        d = d.force()
    if type(d) is not dict:
        raise type_error("a set", d, pos)
    chain[0] = d
    return d


def with_lookup_lazy(chain: Any, name: str, pos: Pos | None) -> Any:
    """A ``with``-bound variable in a lazy position: the value (or thunk) itself when
    the scopes up to the one that has it are already forced, else a thunk."""
    c = chain
    while c is not None:
        d = c[0]
        if type(d) is not dict:
            break
        x = d.get(name, MISSING)
        if x is not MISSING:
            return x
        c = c[1]
    return Thunk(with_lookup, (chain, name, pos))


def with_lookup_thunk(chain: Any, name: str, pos: Pos | None) -> Thunk:
    """A ``with``-bound variable in a lazy position, always as a thunk."""
    return Thunk(with_lookup, (chain, name, pos))


# ---------------------------------------------------------------------------
# lists


def concat_lists(a: Any, b: Any, pos: Pos | None) -> list[Any]:
    if type(a) is not list:
        raise type_error("a list", a, pos)
    if type(b) is not list:
        raise type_error("a list", b, pos)
    if not b:
        return a
    if not a:
        return b
    return a + b


# ---------------------------------------------------------------------------
# arithmetic and comparison


def arith_error(op: str, a: Any, b: Any, pos: Pos | None) -> NoReturn:
    if type(a) is float or type(b) is float:
        expect_float(a, pos)
        expect_float(b, pos)
    expect_int(a, pos)
    expect_int(b, pos)
    raise AssertionError("unreachable")


def sub(a: Any, b: Any, pos: Pos | None) -> Any:
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        r = a - b
        if MIN_INT <= r <= MAX_INT:
            return r
        return wrap_int(r)
    if (ta is float or tb is float) and ta in (int, float) and tb in (int, float):
        return float(a) - float(b)
    arith_error("-", a, b, pos)


def mul(a: Any, b: Any, pos: Pos | None) -> Any:
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        r = a * b
        if MIN_INT <= r <= MAX_INT:
            return r
        return wrap_int(r)
    if (ta is float or tb is float) and ta in (int, float) and tb in (int, float):
        return float(a) * float(b)
    arith_error("*", a, b, pos)


def div(a: Any, b: Any, pos: Pos | None) -> Any:
    ta = type(a)
    tb = type(b)
    if (ta is float or tb is float) and ta in (int, float) and tb in (int, float):
        if b == 0:
            raise EvalError("division by zero", pos)
        return float(a) / float(b)
    if ta is int and tb is int:
        if b == 0:
            raise EvalError("division by zero", pos)
        if a == MIN_INT and b == -1:
            raise EvalError("overflow in integer division", pos)
        q = abs(a) // abs(b)
        return q if (a < 0) == (b < 0) else -q
    if tb in (int, float) and b == 0 and ta in (int, float):
        raise EvalError("division by zero", pos)
    arith_error("/", a, b, pos)


def _cannot_compare(a: Any, b: Any, pos: Pos | None, extra: str = "") -> NoReturn:
    raise EvalError(f"cannot compare {show_type(a)} with {show_type(b)}{extra}", pos)


def less_than(a: Any, b: Any, pos: Pos | None) -> bool:
    """``builtins.lessThan`` / ``<`` on forced values."""
    ta = type(a)
    tb = type(b)
    if ta is int or ta is float:
        if tb is int or tb is float:
            return a < b
        _cannot_compare(a, b, pos)
    if ta is str or ta is NixStr:
        if tb is str or tb is NixStr:
            return str(a) < str(b)
        _cannot_compare(a, b, pos)
    if ta is not tb:
        _cannot_compare(a, b, pos)
    if ta is NixPath:
        return a.path < b.path
    if ta is list:
        i = 0
        n1 = len(a)
        n2 = len(b)
        while True:
            if i == n2:
                return False
            if i == n1:
                return True
            x = force(a[i])
            y = force(b[i])
            if not equal(x, y):
                return less_than(x, y, pos)
            i += 1
    _cannot_compare(a, b, pos, "; values of that type are incomparable")


def is_derivation(v: Any) -> bool:
    t = v.get("type")
    if t is None:
        return False
    t = force(t)
    return (type(t) is str or type(t) is NixStr) and t == "derivation"


def equal(a: Any, b: Any) -> bool:
    """``==`` on forced values."""
    ta = type(a)
    tb = type(b)
    if ta is not tb:
        if (ta is int and tb is float) or (ta is float and tb is int):
            return a == b
        if (ta is str and tb is NixStr) or (ta is NixStr and tb is str):
            return str(a) == str(b)
        return False
    if ta is str or ta is int or ta is bool or ta is float:
        return a == b
    if ta is NixStr:
        return a.s == b.s
    if a is None:
        return True
    if ta is list:
        if len(a) != len(b):
            return False
        for x, y in zip(a, b):
            if x is y:
                force(x)  # Nix forces even an element compared with itself
                continue
            if not equal(force(x), force(y)):
                return False
        return True
    if ta is dict:
        if ("type" in a and "type" in b and "outPath" in a and "outPath" in b
                and is_derivation(a) and is_derivation(b)):
            return equal(force(a["outPath"]), force(b["outPath"]))
        if len(a) != len(b):
            return False
        for k, x in a.items():
            y = b.get(k, MISSING)
            if y is MISSING:
                return False
            if x is y:
                force(x)
                continue
            if not equal(force(x), force(y)):
                return False
        return True
    if ta is NixPath:
        return a.path == b.path
    return False


# ---------------------------------------------------------------------------
# strings


def float_to_string(f: float) -> str:
    """C++ std::to_string of a double (``toString 1.5`` = "1.500000")."""
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if math.isnan(f):
        return "nan" if math.copysign(1, f) > 0 else "-nan"
    return f"{f:.6f}"


class Coercer:
    """coerceToString: the hooks a store provides for paths.

    ``copy_path`` turns a path into a store path string with context (it is
    installed by the evaluator, which knows the store).
    """

    copy_path: Any = None


COERCER: Final = Coercer()


def coerce_to_string(
    v: Any,
    pos: Pos | None,
    ctx: set[str] | None,
    coerce_more: bool = False,
    copy_to_store: bool = True,
    canonicalize_path: bool = True,
) -> str:
    """A value as a string; its context is added to ``ctx`` (when given)."""
    t = type(v)
    if t is str:
        return v
    if t is NixStr:
        if ctx is not None:
            ctx.update(v.ctx)
        return str(v)
    if t is NixPath:
        p = v.path
        if canonicalize_path:
            from .paths import canon_path

            p = canon_path(p)
        if copy_to_store:
            s = COERCER.copy_path(p, pos)
            if ctx is not None and type(s) is NixStr:
                ctx.update(s.ctx)
            return str(s)
        return p
    if t is dict:
        # (a value stored directly may be None: null, so look up with a sentinel)
        to_s = v.get("__toString", MISSING)
        if to_s is not MISSING:
            r = call(force(to_s), v, pos)
            return coerce_to_string(r, pos, ctx, coerce_more, copy_to_store)
        out = v.get("outPath", MISSING)
        if out is MISSING:
            raise TypeError_("cannot coerce a set to a string", pos)
        return coerce_to_string(force(out), pos, ctx, coerce_more, copy_to_store)
    if coerce_more:
        if v is True:
            return "1"
        if v is False or v is None:
            return ""
        if t is int:
            return str(v)
        if t is float:
            return float_to_string(v)
        if t is list:
            parts = []
            last = len(v) - 1
            for i, item in enumerate(v):
                item = force(item)
                parts.append(coerce_to_string(item, pos, ctx, coerce_more, copy_to_store))
                if i < last and (type(item) is not list or item):
                    parts.append(" ")
            return "".join(parts)
    raise TypeError_(f"cannot coerce {show_type(v)} to a string", pos)


def to_string(v: Any, pos: Pos | None) -> StrValue:
    """``toString v`` with context."""
    ctx: set[str] = set()
    s = coerce_to_string(v, pos, ctx, coerce_more=True, copy_to_store=False)
    return make_str(s, ctx)


def interpolate(parts: tuple[Any, ...], positions: tuple[Pos, ...]) -> StrValue:
    """``"a${b}c"``: every part coerced to a string, paths copied to the store."""
    out: list[str] = []
    ctx: set[str] | None = None
    for v, pos in zip(parts, positions):
        t = type(v)
        if t is str:
            out.append(v)
        elif t is NixStr:
            if ctx is None:
                ctx = set()
            ctx.update(v.ctx)
            out.append(str(v))
        else:
            if ctx is None:
                ctx = set()
            out.append(coerce_to_string(v, pos, ctx))
    s = "".join(out)
    return make_str(s, ctx) if ctx else s


def add(a: Any, b: Any, pa: Pos | None, pb: Pos | None) -> Any:
    """``a + b`` (Nix's ExprConcatStrings with two operands)."""
    ta = type(a)
    if ta is int:
        tb = type(b)
        if tb is int:
            r = a + b
            return r if MIN_INT <= r <= MAX_INT else wrap_int(r)
        if tb is float:
            return a + b
        raise EvalError(f"cannot add {show_type(b)} to an integer", pb)
    if ta is float:
        tb = type(b)
        if tb is int or tb is float:
            return a + b
        raise EvalError(f"cannot add {show_type(b)} to a float", pb)
    if ta is str or ta is NixStr:
        tb = type(b)
        if tb is str and ta is str:
            return a + b
        ctx: set[str] = set(a.ctx) if ta is NixStr else set()
        sb = coerce_to_string(b, pb, ctx, copy_to_store=True)
        return make_str(str(a) + sb, ctx)
    if ta is NixPath:
        ctx = set()
        sb = coerce_to_string(b, pb, ctx, copy_to_store=False)
        if ctx:
            raise EvalError("a string that refers to a store path cannot be appended to a path", pa)
        from .paths import canon_path

        return NixPath(canon_path(a.path + sb))
    # the first operand decides: anything else is coerced to a string
    ctx = set()
    sa = coerce_to_string(a, pa, ctx, copy_to_store=True, canonicalize_path=False)
    sb = coerce_to_string(b, pb, ctx, copy_to_store=True)
    return make_str(sa + sb, ctx)


def concat_path(parts: tuple[Any, ...], positions: tuple[Pos, ...]) -> Any:
    """An interpolated path ``./a/${b}``: the first part is a path."""
    first = parts[0]
    ctx: set[str] = set()
    out = [first.path if type(first) is NixPath else
           coerce_to_string(first, positions[0], ctx, copy_to_store=False,
                            canonicalize_path=False)]
    for v, pos in zip(parts[1:], positions[1:]):
        out.append(coerce_to_string(v, pos, ctx, copy_to_store=False))
    if type(first) is not NixPath:
        return make_str("".join(out), ctx)
    if ctx:
        raise EvalError(
            "a string that refers to a store path cannot be appended to a path", positions[0]
        )
    from .paths import canon_path

    return NixPath(canon_path("".join(out)))


# ---------------------------------------------------------------------------
# deep forcing


def deep_force(v: Any) -> Any:
    """Force a value and everything in it (``deepSeq``, ``--strict``)."""
    stack = [v]
    seen: set[int] = set()
    while stack:
        x = stack.pop()
        if type(x) is Thunk:
            x = x.force()
        t = type(x)
        if t is dict:
            if id(x) in seen:
                continue
            seen.add(id(x))
            stack.extend(reversed(x.values()))
        elif t is list:
            if id(x) in seen:
                continue
            seen.add(id(x))
            stack.extend(reversed(x))
    return force(v)


def infinite_recursion(pos: Pos | None) -> InfiniteRecursion:
    return InfiniteRecursion("infinite recursion encountered", pos)


NO_CTX: Final = EMPTY_CTX


# ---------------------------------------------------------------------------
# small helpers for compiled code


def function_arg(v: Any, pos: Pos | None) -> dict[str, Any]:
    """The argument of a lambda with formals: a forced attribute set."""
    if type(v) is Thunk:
        v = v.force()
    if type(v) is dict:
        return v
    raise type_error("a set", v, pos)


def not_bool(v: Any, pos: Pos | None) -> NoReturn:
    raise type_error("a Boolean", v, pos)


def check_assert(cond: Any, pos: Pos | None, text: str) -> bool:
    if cond is True:
        return True
    if cond is False:
        from .errors import AssertionFailed

        raise AssertionFailed(f"assertion '{to_text(text)}' failed", pos)
    raise type_error("a Boolean", cond, pos)


def overrides_of(d: dict[str, Any]) -> dict[str, Any]:
    """``rec { __overrides = ...; }``: the forced override set."""
    return expect_attrs(force(d["__overrides"]))


def override_get(o: dict[str, Any], name: str, current: Any) -> Any:
    return o.get(name, current)


def override_merge(d: dict[str, Any], o: dict[str, Any]) -> dict[str, Any]:
    r = d.copy()
    r.update(o)
    return r


def dyn_attrs_or_static(d: dict[str, Any]) -> dict[str, Any]:
    return d

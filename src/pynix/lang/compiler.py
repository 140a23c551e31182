"""Compile the Nix syntax tree to Python code.

Every Nix binding (``let``, ``rec``, lambda argument, formal) becomes a
uniquely named Python local, so CPython's own compiler resolves variables to
fast locals and closure cells: scope resolution happens once, at compile
time, and nothing walks the Nix syntax tree at run time.  Only ``with`` is
dynamic: its scopes form a chain that is searched by name.

Each Nix lambda becomes a Python function of one argument, each suspended
computation a zero-argument function wrapped in a :class:`~.values.Thunk`.
An expression is compiled in one of three modes:

* ``strict``: a Python expression that yields the value in weak head normal form;
* ``lazy``: a Python expression that does no work that could fail or
  diverge: a constant, a variable, a new function, a container of lazy
  parts, or a new thunk;
* ``tail``: statements ending in ``return`` (a function body), where
  ``if``, ``let``, ``with`` and ``assert`` become Python statements.

Statements that must run before an expression (function definitions,
``let`` bindings) are appended to the current statement list ``out``.
Creating a binding never evaluates anything, so this is safe even when the
expression itself is only evaluated conditionally.
"""

from __future__ import annotations

import ast as py
from types import CodeType
from typing import Any, Final

from . import syntax as S
from .errors import UndefinedVariable
from .values import LambdaInfo, Pos

# base-environment names that compile to constants
_CONSTANTS: Final = {"true": True, "false": False, "null": None}

# names the generated code finds in its module's globals (see Evaluator._globals)
RUNTIME_GLOBALS: Final = frozenset([
    "_T", "_FT", "_NixPath", "_MISSING", "_MIN", "_MAX", "_wrap", "_idiv", "_B", "_force",
    "_call", "_sel", "_selp", "_selor", "_sname", "_has", "_dyn", "_update", "_concat",
    "_interp", "_add", "_concat_path", "_sub", "_mul", "_div", "_lt", "_eq", "_truthy",
    "_notbool", "_assert", "_wl", "_wll", "_wlt", "_fargs", "_missing_arg", "_unexpected_arg",
    "_overrides", "_ovget", "_ovmerge", "_recpos", "type", "int", "float", "bool", "dict",
    "str", "list", "len",
])

_BIT_OPS: Final[dict[str, py.operator]] = {
    "bitAnd": py.BitAnd(), "bitOr": py.BitOr(), "bitXor": py.BitXor()}

# curried lambdas with more parameters than this get no uncurried form
_MAX_UNCURRIED: Final = 8

# a thunk that needs more variables than this is a closure
_MAX_CAPTURED: Final = 16

# desugared operators that compile to inline operations when not shadowed
_BOOL_PRIMOPS: Final = frozenset([
    "isAttrs", "isList", "isInt", "isFloat", "isBool", "isString", "isNull", "isPath",
    "isFunction", "hasAttr", "elem", "any", "all", "lessThan", "pathExists", "hasContext",
])

# primops whose one-argument call is a type test: the Python type(s) they accept
_TYPE_TESTS: Final = {
    "isAttrs": ("dict",),
    "isList": ("list",),
    "isInt": ("int",),
    "isFloat": ("float",),
    "isBool": ("bool",),
}

_ARITH: Final = {"__sub": "_sub", "__mul": "_mul", "__div": "_div", "__lessThan": "_lt"}


def _load(name: str) -> py.Name:
    return py.Name(id=name, ctx=py.Load())


def _store(name: str) -> py.Name:
    return py.Name(id=name, ctx=py.Store())


def _const(v: Any) -> py.Constant:
    return py.Constant(value=v)


def _call(fn: str, *args: py.expr) -> py.Call:
    return py.Call(func=_load(fn), args=list(args), keywords=[])


def _walrus(name: str, value: py.expr) -> py.NamedExpr:
    return py.NamedExpr(target=_store(name), value=value)


def _is(a: py.expr, b: py.expr) -> py.Compare:
    return py.Compare(left=a, ops=[py.Is()], comparators=[b])


def _type_is(v: py.expr, tname: str) -> py.Compare:
    return _is(_call("type", v), _load(tname))


def _assign(name: str, value: py.expr) -> py.Assign:
    return py.Assign(targets=[_store(name)], value=value)


def _ifexp(test: py.expr, body: py.expr, orelse: py.expr) -> py.IfExp:
    return py.IfExp(test=test, body=body, orelse=orelse)


def _forced(name: str) -> py.expr:
    """The value of the thunk in ``name``: its cached value, or force it now."""
    t = _load(name)
    return _ifexp(
        _is(py.Attribute(value=t, attr="fn", ctx=py.Load()), _const(None)),
        py.Attribute(value=_load(name), attr="v", ctx=py.Load()),
        py.Call(func=py.Attribute(value=_load(name), attr="force", ctx=py.Load()), args=[],
                keywords=[]),
    )


def _sanitize(name: str) -> str:
    out = []
    for ch in name[:24]:
        out.append(ch if ch.isascii() and (ch.isalnum() or ch == "_") else "_")
    return "".join(out)


class Binding:
    """A Nix variable bound to a Python local.

    ``whnf``: the local never holds a thunk (a constant or a lambda).
    ``fn``: the Python function that owns the local (it may rebind it).
    """

    __slots__ = ("arity", "fn", "name", "node", "uncurried", "whnf")

    def __init__(self, name: str, fn: FnCtx, whnf: bool = False) -> None:
        self.name = name
        self.fn = fn
        self.whnf = whnf
        # the expression the variable is bound to, when known (a `let` or `rec`)
        self.node: S.Node | None = None
        # for a variable bound to a lambda: its Python function takes one argument;
        # `uncurried` names a function taking all `arity` curried arguments at once
        self.arity = 0
        self.uncurried: str | None = None


class Alias:
    """A Nix variable that stands for an expression compiled elsewhere.

    ``primop`` names the builtin when the variable is known to be one.
    """

    __slots__ = ("expr", "primop")

    def __init__(self, expr: py.expr, primop: str | None = None) -> None:
        self.expr = expr
        self.primop = primop


class Scope:
    __slots__ = ("names", "static", "with_chain")

    def __init__(self, names: dict[str, Binding | Alias] | None, with_chain: str | None,
                 static: bool = False) -> None:
        self.names = names or {}
        self.with_chain = with_chain  # set for a `with` scope: the chain's Python name
        # a `with` whose set is a literal: its names are known and bound to locals,
        # found in `names` (but still with `with` priority: any lexical binding wins)
        self.static = static


class FnCtx:
    """A Python function being generated."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class Compiled:
    """The result of compiling one Nix source: a code object and lambda metadata."""

    __slots__ = ("code", "lambdas")

    def __init__(self, code: CodeType, lambdas: dict[str, LambdaInfo]) -> None:
        self.code = code
        self.lambdas = lambdas


class Compiler:
    def __init__(self, file: str, base_names: frozenset[str], curpos_file: str,
                 eager: bool = True, primops: dict[str, tuple[int, str]] | None = None,
                 base_primops: dict[str, str] | None = None) -> None:
        self.file = file
        self.eager = eager
        # builtin name -> (arity, global name); base-environment name -> builtin name
        self.primops = primops or {}
        self.base_primops = base_primops or {}
        self.inherit_nodes: list[list[S.Node]] = []
        # names given by scopedImport: they override builtins of the same name
        self.shadowed: frozenset[str] = frozenset()
        self.track_positions = False
        self.no_aliases = False
        self.module_names: set[str] = set()
        # names planned for the uncurried forms of let-bound curried lambdas
        self.uncurried_names: dict[int, str] = {}
        self.inner_lambdas: set[int] = set()
        # locals of the current function that are bound but not yet assigned (a
        # `let` or `rec` being set up): code run now cannot capture their values
        self.unassigned: set[str] = set()
        self.base_names = base_names
        self.curpos_file = curpos_file
        self.counter = 0
        self.scopes: list[Scope] = []
        self.fn = FnCtx("_nix_main")
        self.module_stmts: list[py.stmt] = []
        self.lambdas: dict[str, LambdaInfo] = {}
        self.inherit_temps: list[list[str]] = []

    # -- helpers -------------------------------------------------------

    def fresh(self, hint: str) -> str:
        self.counter += 1
        return f"{hint}{self.counter}"

    def pos_const(self, pos: Pos) -> py.Constant:
        return _const(pos)

    def force_expr(self, e: py.expr) -> py.expr:
        """Force a Python expression that may yield a thunk."""
        if isinstance(e, py.Constant):
            return e
        if isinstance(e, py.Name):
            return _ifexp(_type_is(e, "_T"), _forced(e.id), _load(e.id))
        return _call("_force", e)

    def lookup(self, name: str) -> tuple[str, Any]:
        """Resolve a variable: ('local', Binding|Alias) | ('base', None) | ('with', chain)."""
        first_with: str | None = None
        # what the innermost `with` that can bind the name gives: a static `with`
        # that lacks the name is skipped, a dynamic one decides at run time
        from_with: tuple[str, Any] | None = None
        for scope in reversed(self.scopes):
            if scope.with_chain is not None:
                if first_with is None:
                    first_with = scope.with_chain
                if from_with is None:
                    if not scope.static:
                        from_with = ("with", scope.with_chain)
                    elif name in scope.names:
                        from_with = ("local", scope.names[name])
                continue
            b = scope.names.get(name)
            if b is not None:
                return "local", b
        if name in self.shadowed:
            return "scope", None
        if name in self.base_names:
            return "base", None
        if from_with is not None:
            return from_with
        if first_with is not None:
            # bound by no `with` (all static): the chain reports it at run time
            return "with", first_with
        return "undefined", None

    def undefined(self, name: str, pos: Pos) -> UndefinedVariable:
        """The error for a variable bound nowhere, suggesting names that are bound."""
        from .errors import did_you_mean, similar

        visible: set[str] = set()
        for scope in self.scopes:
            visible.update(scope.names)
        visible.update(n for n in self.base_names if not n.startswith("__"))
        return UndefinedVariable(f"undefined variable '{name}'", pos,
                                 hint=did_you_mean(similar(name, visible)))

    def static_primop(self, node: S.Node) -> str | None:
        """The builtin a node denotes, when that is known at compile time."""
        if isinstance(node, S.Var):
            kind, info = self.lookup(node.name)
            if kind == "base":
                return self.base_primops.get(node.name)
            if kind == "local" and isinstance(info, Alias):
                return info.primop
            return None
        if isinstance(node, S.Select) and node.default is None and len(node.path) == 1:
            name = node.path[0]
            if not isinstance(name, str) or name not in self.primops:
                return None
            src = node.expr
            if isinstance(src, S.InheritFrom):
                if not self.inherit_nodes or src.index >= len(self.inherit_nodes[-1]):
                    return None
                src = self.inherit_nodes[-1][src.index]
            if isinstance(src, S.Var) and src.name == "builtins" and \
                    self.lookup("builtins")[0] == "base":
                return name
        return None

    def primop_ref(self, name: str) -> py.expr:
        return _load("_P_" + self.primops[name][1])

    def current_with_chain(self) -> str | None:
        for scope in reversed(self.scopes):
            if scope.with_chain is not None:
                return scope.with_chain
        return None

    # -- entry ---------------------------------------------------------

    def compile_module(self, node: S.Node) -> py.Module:
        body: list[py.stmt] = []
        self.tail(node, body)
        fn = py.FunctionDef(
            name="_nix_main",
            args=py.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[],
                              kw_defaults=[], kwarg=None, defaults=[]),
            body=body,
            decorator_list=[],
            returns=None,
            lineno=1,
        )
        return py.Module(body=[*self.module_stmts, fn], type_ignores=[])

    # -- strict --------------------------------------------------------

    def strict(self, node: S.Node, out: list[py.stmt]) -> py.expr:
        m = getattr(self, "s_" + type(node).__name__)
        e: py.expr = m(node, out)
        # Python positions carry Nix positions: an error raised without one is
        # placed from the traceback (see errors.position_from_traceback)
        line = node.pos[1]
        if line > 0 and getattr(e, "lineno", None) is None:
            e.lineno = e.end_lineno = line
            e.col_offset = node.pos[2] - 1
            e.end_col_offset = node.pos[2]
        return e

    def s_Int(self, node: S.Int, out: list[py.stmt]) -> py.expr:
        return _const(node.value)

    s_Float = s_Int
    s_Str = s_Int

    def s_Path(self, node: S.Path, out: list[py.stmt]) -> py.expr:
        name = self.fresh("_k")
        self.module_stmts.append(_assign(name, _call("_NixPath", _const(node.value))))
        self.module_names.add(name)
        return _load(name)

    def s_CurPos(self, node: S.CurPos, out: list[py.stmt]) -> py.expr:
        return py.Dict(
            keys=[_const("column"), _const("file"), _const("line")],
            values=[_const(node.pos[2]), _const(self.curpos_file), _const(node.pos[1])],
        )

    def s_Var(self, node: S.Var, out: list[py.stmt]) -> py.expr:
        kind, info = self.lookup(node.name)
        if kind == "local":
            if isinstance(info, Alias):
                if isinstance(info.expr, py.Constant):
                    return _const(info.expr.value)  # (a node of its own for its position)
                return self.force_expr(info.expr)
            b: Binding = info
            if b.whnf:
                return _load(b.name)
            if b.fn is self.fn:
                # force and keep the forced value in the local
                return _ifexp(
                    _type_is(_load(b.name), "_T"),
                    _walrus(b.name, _forced(b.name)),
                    _load(b.name),
                )
            return self.force_expr(_load(b.name))
        if kind == "base":
            return self.base_value(node.name, strict=True)
        if kind == "scope":
            return _call("_force", self.scope_value(node.name))
        if kind == "with":
            return _call("_wl", _load(info), _const(node.name), self.pos_const(node.pos))
        raise self.undefined(node.name, node.pos)

    def scope_value(self, name: str) -> py.expr:
        return py.Subscript(value=_load("_B"), slice=_const(name), ctx=py.Load())

    def base_value(self, name: str, strict: bool) -> py.expr:
        if name in _CONSTANTS:
            return _const(_CONSTANTS[name])
        prim = self.base_primops.get(name)
        if prim is not None:
            return self.primop_ref(prim)
        e: py.expr = py.Subscript(value=_load("_B"), slice=_const(name), ctx=py.Load())
        return _call("_force", e) if strict else e

    def s_Select(self, node: S.Select, out: list[py.stmt]) -> py.expr:
        prim = self.static_primop(node)
        if prim is not None:
            return self.primop_ref(prim)
        folded = self.fold_select(node, out)
        if folded is not None:
            return folded
        base = self.strict(node.expr, out)
        names = [n if isinstance(n, str) else None for n in node.path]
        pos = self.pos_const(node.pos)
        if node.default is None:
            v = base
            for attr in node.path:
                if isinstance(attr, str):
                    v = self.inline_select(v, _const(attr), pos)
                    continue
                # Nix evaluates a dynamic name before the set
                k = self.fresh("_t")
                key = _walrus(k, _call("_sname", self.strict(attr, out), pos))
                v = py.Subscript(
                    value=py.Tuple(elts=[key, self.inline_select(v, _load(k), pos)],
                                   ctx=py.Load()),
                    slice=_const(1), ctx=py.Load())
            return v
        if all(n is not None for n in names):
            key_tuple: py.expr = _const(tuple(names))
        else:
            key_tuple = py.Tuple(
                elts=[
                    _const(n) if isinstance(n, str) else _call(
                        "_sname", self.strict(n, out), pos)
                    for n in node.path
                ],
                ctx=py.Load(),
            )
        t = self.fresh("_t")
        default = self.strict(node.default, out)
        if len(node.path) == 1:
            d = self.fresh("_t")
            lookup: py.expr = _ifexp(
                _type_is(_walrus(d, base), "dict"),
                py.Call(func=py.Attribute(value=_load(d), attr="get", ctx=py.Load()),
                        args=[key_tuple.elts[0] if isinstance(key_tuple, py.Tuple)
                              else _const(node.path[0]), _load("_MISSING")], keywords=[]),
                _load("_MISSING"),
            )
            return _ifexp(
                _is(_walrus(t, lookup), _load("_MISSING")),
                default,
                self.force_expr(_load(t)),
            )
        return _ifexp(
            _is(_walrus(t, _call("_selor", base, key_tuple)), _load("_MISSING")),
            default,
            _load(t),
        )

    def fold_select(self, node: S.Select, out: list[py.stmt]) -> py.expr | None:
        """``x.a.b`` where ``x`` is bound to a literal set whose ``a.b`` is a literal
        (or is missing, with an ``or`` default): the result is known now.  Nothing
        on the way can fail or have an effect (literal sets, forced only)."""
        if not isinstance(node.expr, S.Var):
            return None
        kind, info = self.lookup(node.expr.name)
        if kind != "local" or not isinstance(info, Binding) or info.node is None:
            return None
        cur: S.Node = info.node
        for attr in node.path:
            if not (isinstance(attr, str) and isinstance(cur, S.AttrSet) and not cur.rec
                    and not cur.dynamic):
                return None
            d = cur.attrs.get(attr)
            if d is None:
                if node.default is None:
                    return None  # the error, as usual
                return self.strict(node.default, out)
            if d.inherited:
                return None
            cur = d.value
        if isinstance(cur, (S.Int, S.Float, S.Str)):
            return _const(cur.value)
        return None

    def inline_select(self, v: py.expr, key: py.expr, pos: py.expr) -> py.expr:
        """``v.key``: a dict lookup and a force inline, the helper for errors."""
        d, x = self.fresh("_t"), self.fresh("_t")
        return _ifexp(
            py.BoolOp(op=py.And(), values=[
                _type_is(_walrus(d, v), "dict"),
                py.Compare(left=key, ops=[py.In()], comparators=[_load(d)]),
            ]),
            _ifexp(_type_is(_walrus(x, py.Subscript(value=_load(d), slice=key, ctx=py.Load())),
                            "_T"),
                   _forced(x), _load(x)),
            _call("_sel", _load(d), key, pos),
        )

    def s_HasAttr(self, node: S.HasAttr, out: list[py.stmt]) -> py.expr:
        base = self.strict(node.expr, out)
        pos = self.pos_const(node.pos)
        if len(node.path) == 1:
            n = node.path[0]
            key = _const(n) if isinstance(n, str) else _call("_sname", self.strict(n, out), pos)
            t = self.fresh("_t")
            return py.BoolOp(op=py.And(), values=[
                _type_is(_walrus(t, base), "dict"),
                py.Compare(left=key, ops=[py.In()], comparators=[_load(t)]),
            ])
        if all(isinstance(n, str) for n in node.path):
            key_tuple: py.expr = _const(tuple(node.path))
        else:
            key_tuple = py.Tuple(
                elts=[
                    _const(n) if isinstance(n, str) else _call(
                        "_sname", self.strict(n, out), pos)
                    for n in node.path
                ],
                ctx=py.Load(),
            )
        return _call("_has", base, key_tuple)

    def s_InheritFrom(self, node: S.InheritFrom, out: list[py.stmt]) -> py.expr:
        return self.force_expr(_load(self.inherit_temps[-1][node.index]))

    def s_AttrSet(self, node: S.AttrSet, out: list[py.stmt]) -> py.expr:
        if node.rec:
            return self.rec_attrs(node, out)
        temps = self.inherit_sources(node, out)
        self.inherit_temps.append(temps)
        self.inherit_nodes.append(node.inherit_from)
        try:
            keys: list[py.expr | None] = []
            values: list[py.expr] = []
            for name, d in node.attrs.items():
                keys.append(_const(name))
                values.append(self.lazy(d.value, out))
            result: py.expr = self.positioned(node, py.Dict(keys=keys, values=values))
            if node.dynamic:
                result = self.dynamic_attrs(node, result, out)
        finally:
            self.inherit_temps.pop()
            self.inherit_nodes.pop()
        return result

    def positioned(self, node: S.AttrSet, d: py.expr) -> py.expr:
        """When unsafeGetAttrPos is in use, record where each attribute was defined."""
        if not self.track_positions or not node.attrs:
            return d
        return _call("_recpos", d, _const(tuple((k, a.pos) for k, a in node.attrs.items())))

    def inherit_sources(self, node: S.AttrSet, out: list[py.stmt]) -> list[str]:
        temps = []
        for src in node.inherit_from:
            t = self.fresh("_i")
            out.append(_assign(t, self.lazy(src, out)))
            temps.append(t)
        return temps

    def dynamic_attrs(self, node: S.AttrSet, static: py.expr, out: list[py.stmt]) -> py.expr:
        items: list[py.expr] = []
        for d in node.dynamic:
            items.append(py.Tuple(
                elts=[self.strict(d.name, out), self.lazy(d.value, out),
                      self.pos_const(d.pos)],
                ctx=py.Load()))
        positions = py.Dict(
            keys=[_const(k) for k in node.attrs],
            values=[self.pos_const(d.pos) for d in node.attrs.values()],
        )
        return _call("_dyn", static, py.List(elts=items, ctx=py.Load()), positions)

    def bind_group(self, attrs: S.AttrSet, out: list[py.stmt]) -> dict[str, Binding | Alias]:
        """Bind the attributes of a `let` or `rec` as locals; returns the new scope's names.

        The caller has not pushed the scope; this pushes it and leaves it pushed.
        """
        names: dict[str, Binding | Alias] = {}
        # inherited names refer to the enclosing scope
        for name, d in attrs.attrs.items():
            if d.inherited:
                assert isinstance(d.value, S.Var)
                kind, info = self.lookup(name)
                if kind == "local":
                    names[name] = info
                elif kind == "base":
                    names[name] = Alias(self.base_value(name, strict=False))
                elif kind == "scope":
                    names[name] = Alias(self.scope_value(name))
                elif kind == "with":
                    names[name] = Alias(self.with_lazy(info, name, d.value.pos))
                else:
                    raise self.undefined(name, d.value.pos)
        own: dict[str, Binding] = {}
        self.inherit_nodes.append(attrs.inherit_from)
        shadows_builtins = "builtins" in attrs.attrs
        try:
            for name, d in attrs.attrs.items():
                if d.inherited or shadows_builtins:
                    continue
                prim = self.static_primop(d.value)
                if prim is not None:
                    names[name] = Alias(self.primop_ref(prim), prim)
        finally:
            self.inherit_nodes.pop()
        for name, d in attrs.attrs.items():
            if not d.inherited and name not in names:
                if isinstance(d.value, (S.Int, S.Float, S.Str)) and not self.no_aliases:
                    # a literal: its uses become the constant itself
                    names[name] = Alias(_const(d.value.value))
                    continue
                b = Binding(self.fresh("v") + "_" + _sanitize(name), self.fn)
                b.whnf = isinstance(d.value, (S.Int, S.Float, S.Str)) or (
                    self.eager and isinstance(d.value, S.Lambda))
                if not self.no_aliases:
                    b.node = d.value
                own[name] = b
                names[name] = b
        self.scopes.append(Scope(names, None))
        # the sources of `inherit (e)` may refer to the group's own bindings:
        # set them after the bindings (which only read them from thunks)
        deferred: list[py.stmt] = []
        temps = self.inherit_sources(attrs, deferred)
        pending_names = {b.name for b in own.values()} | set(temps)
        self.unassigned |= pending_names
        self.inherit_temps.append(temps)
        self.inherit_nodes.append(attrs.inherit_from)
        try:
            group = {b.name for b in own.values()}
            pending: list[tuple[Binding, py.expr, set[str]]] = []
            for name, b in own.items():
                value = attrs.attrs[name].value
                if isinstance(value, S.Lambda) and b.whnf:
                    self.plan_known_lambda(b, value)
            for name, b in own.items():
                value = attrs.attrs[name].value
                reads: set[str] = set()
                if self.no_aliases and isinstance(value, S.Var):
                    e = self.thunk(value, out)
                else:
                    e = self.lazy(value, out, reads)
                deps = reads & group
                if deps:
                    pending.append((b, e, deps))
                else:
                    out.append(_assign(b.name, e))
                    self.unassigned.discard(b.name)
            done = group - {b.name for b, _, _ in pending}
            while pending:
                progress = False
                rest = []
                for b, e, deps in pending:
                    if deps <= done:
                        out.append(_assign(b.name, e))
                        self.unassigned.discard(b.name)
                        done.add(b.name)
                        progress = True
                    else:
                        rest.append((b, e, deps))
                pending = rest
                if not progress and pending:
                    b, e, _ = pending.pop(0)
                    b.whnf = False
                    out.append(_assign(b.name, self.thunk_of_expr(e)))
                    self.unassigned.discard(b.name)
                    done.add(b.name)
            out.extend(deferred)
            self.unassigned -= pending_names
        finally:
            self.inherit_temps.pop()
            self.inherit_nodes.pop()
        return names

    @staticmethod
    def curried_params(lam: S.Lambda) -> tuple[list[str], S.Node]:
        """The parameters of ``a: b: ... body`` (at most one more than an uncurried
        form may take, which is enough to tell) and the body."""
        params: list[str] = []
        body: S.Node = lam
        while (isinstance(body, S.Lambda) and body.formals is None and body.arg is not None
               and len(params) <= _MAX_UNCURRIED):
            params.append(body.arg)
            body = body.body
        return params, body

    def plan_known_lambda(self, b: Binding, lam: S.Lambda) -> None:
        """A variable bound to a lambda: calls to it can skip the function test, and
        calls with all the arguments of ``a: b: ...`` can skip the partial applications
        (through the function taking them all that :meth:`s_Lambda` makes)."""
        b.arity = 1
        params, _ = self.curried_params(lam)
        if 2 <= len(params) <= _MAX_UNCURRIED:
            b.arity = len(params)
            b.uncurried = self.fresh("_u")
            self.uncurried_names[id(lam)] = b.uncurried
            self.unassigned.add(b.uncurried)

    def uncurried_def(self, lam: S.Lambda, name: str, out: list[py.stmt]) -> bool:
        """``a: b: body`` as one function of all its arguments; True if at module level."""
        params, body = self.curried_params(lam)
        saved, saved_unassigned = self.fn, self.unassigned
        self.fn = FnCtx(name)
        self.unassigned = set()  # the body runs later, when all is assigned
        stmts: list[py.stmt] = []
        names: dict[str, Binding | Alias] = {}
        pynames = []
        for p in params:
            pb = Binding(self.fresh("a") + "_" + _sanitize(p), self.fn)
            names[p] = pb
            pynames.append(pb.name)
        # later parameters shadow earlier ones of the same name
        self.scopes.append(Scope(names, None))
        try:
            self.tail(body, stmts)
        finally:
            self.scopes.pop()
            self.fn = saved
            self.unassigned = saved_unassigned
        hoisted = self.emit_def(out, self.make_def(name, pynames, stmts, lam.pos))
        self.unassigned.discard(name)
        return hoisted

    def thunk_of_expr(self, e: py.expr) -> py.expr:
        """A thunk that forces a (lazy) Python expression when it is forced."""
        body = self.force_expr(e)
        return _call("_T", py.Lambda(
            args=py.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[],
                              kw_defaults=[], kwarg=None, defaults=[]),
            body=body))

    def rec_attrs(self, node: S.AttrSet, out: list[py.stmt]) -> py.expr:
        if "__overrides" in node.attrs:
            return self.call_local_def(node, out)
        names = self.bind_group(node, out)
        try:
            result: py.expr = self.positioned(node, py.Dict(
                keys=[_const(k) for k in node.attrs],
                values=[self.binding_ref(names[k]) for k in node.attrs],
            ))
            if node.dynamic:
                result = self.dynamic_attrs(node, result, out)
        finally:
            self.scopes.pop()
        return result

    def binding_ref(self, b: Binding | Alias) -> py.expr:
        if isinstance(b, Alias):
            return _const(b.expr.value) if isinstance(b.expr, py.Constant) else b.expr
        return _load(b.name)

    def call_local_def(self, node: S.Node, out: list[py.stmt]) -> py.expr:
        """Compile a node as the body of a local function and call it at once."""
        name = self.fresh("_r")
        saved = self.fn
        self.fn = FnCtx(name)
        body: list[py.stmt] = []
        try:
            if isinstance(node, S.AttrSet):
                self.rec_with_overrides(node, body)
            else:
                self.tail(node, body)
        finally:
            self.fn = saved
        out.append(self.make_def(name, [], body, node.pos))
        return py.Call(func=_load(name), args=[], keywords=[])

    def rec_with_overrides(self, node: S.AttrSet, body: list[py.stmt]) -> None:
        # overrides replace bindings after the fact: nothing may be computed or
        # shared early, every binding must look its variables up when forced
        eager, self.eager = self.eager, False
        self.no_aliases = True
        try:
            names = self.bind_group(node, body)
        finally:
            self.eager = eager
            self.no_aliases = False
        try:
            d = self.fresh("_d")
            result: py.expr = self.positioned(node, py.Dict(
                keys=[_const(k) for k in node.attrs],
                values=[self.binding_ref(names[k]) for k in node.attrs],
            ))
            if node.dynamic:
                result = self.dynamic_attrs(node, result, body)
            body.append(_assign(d, result))
            o = self.fresh("_o")
            body.append(_assign(o, _call("_overrides", _load(d))))
            for k, b in names.items():
                if isinstance(b, Binding) and b.fn is self.fn:
                    body.append(_assign(b.name, _call(
                        "_ovget", _load(o), _const(k), _load(b.name))))
            body.append(py.Return(value=_call("_ovmerge", _load(d), _load(o))))
        finally:
            self.scopes.pop()

    def s_Let(self, node: S.Let, out: list[py.stmt]) -> py.expr:
        self.bind_group(node.attrs, out)
        try:
            return self.strict(node.body, out)
        finally:
            self.scopes.pop()

    def s_List(self, node: S.List, out: list[py.stmt]) -> py.expr:
        return py.List(elts=[self.lazy(i, out) for i in node.items], ctx=py.Load())

    def s_Lambda(self, node: S.Lambda, out: list[py.stmt]) -> py.expr:
        name = self.fresh("_lam")
        if isinstance(node.body, S.Lambda):
            # `a: b: ...`: only the outermost lambda gets an uncurried form
            self.inner_lambdas.add(id(node.body))
        saved, saved_unassigned = self.fn, self.unassigned
        self.fn = FnCtx(name)
        self.unassigned = set()  # the body runs later, when all is assigned
        body: list[py.stmt] = []
        try:
            names: dict[str, Binding | Alias] = {}
            if node.formals is None:
                assert node.arg is not None
                b = Binding(self.fresh("a") + "_" + _sanitize(node.arg), self.fn)
                names[node.arg] = b
                param = b.name
                self.scopes.append(Scope(names, None))
            else:
                param = self.fresh("_a")
                self.formals(node, param, names, body)
            try:
                self.tail(node.body, body)
            finally:
                self.scopes.pop()
        finally:
            self.fn = saved
            self.unassigned = saved_unassigned
        formals = None
        if node.formals is not None:
            formals = tuple((f.name, f.default is not None, f.pos) for f in node.formals)
        self.lambdas[name] = LambdaInfo(node.name, node.pos, node.arg, formals, node.ellipsis)
        hoisted = self.emit_def(out, self.make_def(name, [param], body, node.pos))
        if (self.eager and node.formals is None and isinstance(node.body, S.Var)
                and node.body.name == node.arg):
            # `x: x`: builtins may skip calling it (genList makes the integers at once)
            mark = py.Assign(
                targets=[py.Attribute(value=_load(name), attr="identity", ctx=py.Store())],
                value=_const(True))
            (self.module_stmts if hoisted else out).append(mark)
        n_params = 0
        if node.formals is None and id(node) not in self.inner_lambdas:
            n_params = len(self.curried_params(node)[0])
        if 2 <= n_params <= _MAX_UNCURRIED:
            # builtins that call a function with two arguments (foldl', sort...) and
            # direct calls use the uncurried form, found as the attribute `u`
            uname = self.uncurried_names.pop(id(node), None) or self.fresh("_u")
            u_hoisted = self.uncurried_def(node, uname, out)
            link = py.Assign(
                targets=[py.Attribute(value=_load(name), attr="u", ctx=py.Store())],
                value=_load(uname))
            (self.module_stmts if hoisted and u_hoisted else out).append(link)
        return _load(name)

    def formals(self, node: S.Lambda, param: str, names: dict[str, Binding | Alias],
                body: list[py.stmt]) -> None:
        assert node.formals is not None
        pos = self.pos_const(node.pos)
        a = _load(param)
        body.append(_assign(param, _call("_fargs", a, pos)))
        if node.arg is not None:
            names[node.arg] = Binding(
                self.fresh("a") + "_" + _sanitize(node.arg), self.fn, whnf=True)
        for f in node.formals:
            names[f.name] = Binding(self.fresh("f") + "_" + _sanitize(f.name), self.fn)
        self.scopes.append(Scope(names, None))
        code = py.Attribute(value=_load(self.fn.name), attr="__code__", ctx=py.Load())
        if node.arg is not None:
            body.append(_assign(self.binding_ref_name(names[node.arg]), a))
        for f in node.formals:
            b = names[f.name]
            assert isinstance(b, Binding)
            if f.default is None:
                body.append(_assign(b.name, py.IfExp(
                    test=py.Compare(left=_const(f.name), ops=[py.In()], comparators=[a]),
                    body=py.Subscript(value=a, slice=_const(f.name), ctx=py.Load()),
                    orelse=_call("_missing_arg", code, _const(f.name), pos),
                )))
        # A default may refer to a formal whose own default comes later
        # (`{ a ? f b, b ? 1 }`): until assigned, those are unassigned, so a
        # thunk reading them is a closure, not a capture of their value.
        pending = {names[f.name].name for f in node.formals  # type: ignore[union-attr]
                   if f.default is not None}
        self.unassigned |= pending
        for f in node.formals:
            b = names[f.name]
            assert isinstance(b, Binding)
            if f.default is not None:
                reads: set[str] = set()
                e = self.lazy(f.default, body, reads)
                if reads:
                    e = self.thunk_of_expr(e)
                t = self.fresh("_t")
                body.append(_assign(b.name, _ifexp(
                    _is(_walrus(t, py.Call(
                        func=py.Attribute(value=a, attr="get", ctx=py.Load()),
                        args=[_const(f.name), _load("_MISSING")], keywords=[])),
                        _load("_MISSING")),
                    e,
                    _load(t),
                )))
                self.unassigned.discard(b.name)
        self.unassigned -= pending
        if not node.ellipsis:
            fs = frozenset(f.name for f in node.formals)
            body.append(py.If(
                test=py.UnaryOp(op=py.Not(), operand=py.Compare(
                    left=py.Call(func=py.Attribute(value=a, attr="keys", ctx=py.Load()),
                                 args=[], keywords=[]),
                    ops=[py.LtE()], comparators=[_const(fs)])),
                body=[py.Expr(value=_call("_unexpected_arg", code, a, pos))],
                orelse=[],
            ))

    def binding_ref_name(self, b: Binding | Alias) -> str:
        assert isinstance(b, Binding)
        return b.name

    def emit_def(self, out: list[py.stmt], fn: py.FunctionDef) -> bool:
        """Place a function definition: where it is, or once at module level when it
        refers to no local variable of enclosing functions.  Lifting closed functions
        out keeps Python's nesting shallow (CPython's compiler is quadratic in it) and
        saves making the function anew on every run of the enclosing code."""
        if not (self.free_names(fn) - {fn.name}):
            self.module_stmts.append(fn)
            self.module_names.add(fn.name)
            return True
        out.append(fn)
        return False

    def free_names(self, fn: py.FunctionDef | py.Lambda) -> frozenset[str]:
        """Local names of enclosing functions that a function refers to (cached)."""
        cached: frozenset[str] | None = getattr(fn, "_free", None)
        if cached is not None:
            return cached
        bound = {a.arg for a in fn.args.args}
        loads: set[str] = set()
        stack: list[py.AST] = list(fn.body) if isinstance(fn, py.FunctionDef) else [fn.body]
        while stack:
            n = stack.pop()
            t = type(n)
            if t is py.Name:
                assert isinstance(n, py.Name)
                if type(n.ctx) is py.Store:
                    bound.add(n.id)
                else:
                    loads.add(n.id)
            elif t is py.FunctionDef:
                assert isinstance(n, py.FunctionDef)
                bound.add(n.name)
                loads.update(self.free_names(n))
            elif t is py.Lambda:
                assert isinstance(n, py.Lambda)
                loads.update(self.free_names(n))
            else:
                stack.extend(py.iter_child_nodes(n))
        free = frozenset(
            x for x in loads - bound
            if x not in RUNTIME_GLOBALS and x not in self.module_names
            and not x.startswith(("_P_", "_F_"))
        )
        fn._free = free  # type: ignore[union-attr]
        return free

    def make_def(self, name: str, params: list[str], body: list[py.stmt],
                 pos: Pos) -> py.FunctionDef:
        return py.FunctionDef(
            name=name,
            args=py.arguments(
                posonlyargs=[], args=[py.arg(arg=p) for p in params], vararg=None,
                kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]),
            body=body or [py.Pass()],
            decorator_list=[],
            returns=None,
            lineno=max(pos[1], 1),
            end_lineno=max(pos[1], 1),
            col_offset=0,
            end_col_offset=0,
        )

    def s_Call(self, node: S.Call, out: list[py.stmt]) -> py.expr:
        fn = node.fn
        pos = self.pos_const(node.pos)
        if isinstance(fn, S.Var) and len(node.args) == 2 and fn.name in _ARITH:
            kind, _ = self.lookup(fn.name)
            if kind == "base":
                a = self.strict(node.args[0], out)
                b = self.strict(node.args[1], out)
                return self.arith(fn.name, a, b, pos)
        args = node.args
        prim = self.static_primop(fn)
        known = self.known_function(fn)
        if prim is not None and len(args) >= self.primops[prim][0]:
            arity = self.primops[prim][0]
            f = self.primop_call(prim, args[:arity], out)
            args = args[arity:]
        elif known is not None and known.uncurried and len(args) >= known.arity:
            f = py.Call(func=_load(known.uncurried),
                        args=[self.lazy(a, out) for a in args[:known.arity]], keywords=[])
            args = args[known.arity:]
        elif known is not None and known.uncurried is None:
            f = py.Call(func=_load(known.name), args=[self.lazy(args[0], out)], keywords=[])
            args = args[1:]
        else:
            f = self.strict(fn, out)
        for arg in args:
            a = self.lazy(arg, out)
            t = self.fresh("_t")
            test: py.expr = _type_is(_walrus(t, f), "_FT")
            if not isinstance(a, (py.Name, py.Constant)):
                # bind the argument once; a lazy expression is never None
                ta = self.fresh("_t")
                test = py.BoolOp(op=py.And(), values=[
                    py.Compare(left=_walrus(ta, a), ops=[py.IsNot()],
                               comparators=[_const(None)]),
                    test])
                a = _load(ta)
            f = _ifexp(
                test,
                py.Call(func=_load(t), args=[a], keywords=[]),
                _call("_call", _load(t), a, pos),
            )
        return f

    def known_function(self, fn: S.Node) -> Binding | None:
        """A variable known to hold a lambda compiled in this file."""
        if isinstance(fn, S.Var):
            kind, info = self.lookup(fn.name)
            if kind == "local" and isinstance(info, Binding) and info.arity:
                return info
        return None

    def primop_call(self, prim: str, args: list[S.Node], out: list[py.stmt]) -> py.expr:
        types = _TYPE_TESTS.get(prim)
        if types is not None:
            return _type_is(self.strict(args[0], out), types[0])
        bit_op = _BIT_OPS.get(prim)
        if bit_op is not None:
            slow_fn = "_F_" + self.primops[prim][1]
            return self.int_op(self.strict(args[0], out), self.strict(args[1], out), bit_op,
                               lambda x, y: py.Call(func=_load(slow_fn), args=[x, y],
                                                    keywords=[]),
                               checked=False)
        if prim in ("head", "length", "tail"):
            # the common case inline, the builtin for everything else (and errors)
            t = self.fresh("_t")
            lst = _walrus(t, self.strict(args[0], out))
            slow = py.Call(func=_load("_F_" + self.primops[prim][1]), args=[_load(t)],
                           keywords=[])
            if prim == "length":
                return _ifexp(_type_is(lst, "list"), _call("len", _load(t)), slow)
            test = py.BoolOp(op=py.And(), values=[_type_is(lst, "list"), _load(t)])
            if prim == "tail":
                return _ifexp(test, py.Subscript(
                    value=_load(t), slice=py.Slice(lower=_const(1)), ctx=py.Load()), slow)
            x = self.fresh("_t")
            first = py.Subscript(value=_load(t), slice=_const(0), ctx=py.Load())
            return _ifexp(test, _ifexp(_type_is(_walrus(x, first), "_T"), _forced(x),
                                       _load(x)), slow)
        return py.Call(func=_load("_F_" + self.primops[prim][1]),
                       args=[self.lazy(a, out) for a in args], keywords=[])

    def arith(self, op: str, a: py.expr, b: py.expr, pos: py.expr) -> py.expr:
        helper = _ARITH[op]
        if op == "__lessThan":
            return self.int_op(a, b, py.Lt(), lambda x, y: _call(helper, x, y, pos),
                               checked=False)
        if op == "__sub":
            return self.int_op(a, b, py.Sub(), lambda x, y: _call(helper, x, y, pos))
        if op == "__mul":
            return self.int_op(a, b, py.Mult(), lambda x, y: _call(helper, x, y, pos))
        # division of ints by a positive int: C truncates toward zero, Python floors
        ta, tb = self.fresh("_t"), self.fresh("_t")
        floor = py.BinOp(left=_load(ta), op=py.FloorDiv(), right=_load(tb))
        neg = py.UnaryOp(op=py.USub(), operand=py.BinOp(
            left=py.UnaryOp(op=py.USub(), operand=_load(ta)), op=py.FloorDiv(),
            right=_load(tb)))
        return _ifexp(
            py.BoolOp(op=py.And(), values=[
                py.BinOp(left=_type_is(_walrus(ta, a), "int"), op=py.BitAnd(),
                         right=_type_is(_walrus(tb, b), "int")),
                py.Compare(left=_load(tb), ops=[py.Gt()], comparators=[_const(0)]),
            ]),
            _ifexp(py.Compare(left=_load(ta), ops=[py.GtE()], comparators=[_const(0)]),
                   floor, neg),
            _call(helper, _load(ta), _load(tb), pos),
        )

    def int_op(self, a: py.expr, b: py.expr, op: py.operator | py.cmpop,
               slow: Any, checked: bool = True) -> py.expr:
        """``a op b`` computed inline when both are ints; otherwise ``slow(a, b)``.

        With ``checked``, a result outside the 64-bit range also takes the
        slow path (which wraps around as Nix 2.8 does).
        """
        tests: list[py.expr] = []
        operands: list[py.expr] = []
        for e in (a, b):
            if isinstance(e, py.Constant) and type(e.value) is int:
                operands.append(e)
            else:
                t = self.fresh("_t")
                tests.append(_type_is(_walrus(t, e), "int"))
                operands.append(_load(t))
        x, y = operands
        if isinstance(op, py.cmpop):
            fast: py.expr = py.Compare(left=x, ops=[op], comparators=[y])
        else:
            fast = py.BinOp(left=x, op=op, right=y)
        if not tests:
            return _call("_wrap", fast) if checked else fast
        test = tests[0] if len(tests) == 1 else py.BinOp(left=tests[0], op=py.BitAnd(),
                                                         right=tests[1])
        if checked:
            r = self.fresh("_t")
            test = py.BoolOp(op=py.And(), values=[
                test,
                py.Compare(left=_load("_MIN"), ops=[py.LtE(), py.LtE()],
                           comparators=[_walrus(r, fast), _load("_MAX")]),
            ])
            fast = _load(r)
        return _ifexp(test, fast, slow(x, y))

    def s_With(self, node: S.With, out: list[py.stmt]) -> py.expr:
        static = self.push_with(node, out)
        try:
            e = self.strict(node.body, out)
        finally:
            self.pop_with(static, out)
        if static is not None:
            self.emit_static_chain(static, out, e)
        return e

    @staticmethod
    def is_static_with(node: S.With) -> bool:
        env = node.env
        return (isinstance(env, S.AttrSet) and not env.rec and not env.dynamic
                and not env.inherit_from)

    def with_lazy(self, chain: str, name: str, pos: Pos) -> py.expr:
        """A ``with``-bound variable in a lazy position.  Without eager containers
        it is always a thunk, as in Nix (a lazy printout shows it as ``<CODE>``)."""
        return _call("_wll" if self.eager else "_wlt", _load(chain), _const(name),
                     self.pos_const(pos))

    def push_with(self, node: S.With, out: list[py.stmt]) -> tuple[str, int, py.expr] | None:
        """Push the scope of a ``with``.  For a literal set (``with { a = 1; }; ...``),
        whose names are known, the attributes are bound to locals that variables
        resolve to at compile time; its chain (for the dynamic ``with``s inside it)
        is made only if something uses it: the result is then (chain, where in
        ``out`` to make it, the chain's value) for :meth:`emit_static_chain`."""
        outer = self.current_with_chain()
        chain = self.fresh("_w")
        outer_e = _load(outer) if outer else _const(None)
        if self.eager and self.is_static_with(node):
            assert isinstance(node.env, S.AttrSet)
            names: dict[str, Binding | Alias] = {}
            keys: list[py.expr | None] = []
            values: list[py.expr] = []
            for name, d in node.env.attrs.items():
                if isinstance(d.value, (S.Int, S.Float, S.Str)):
                    names[name] = Alias(_const(d.value.value))
                    keys.append(_const(name))
                    values.append(_const(d.value.value))
                    continue
                b = Binding(self.fresh("w") + "_" + _sanitize(name), self.fn)
                b.whnf = isinstance(d.value, (S.Int, S.Float, S.Str)) or (
                    self.eager and isinstance(d.value, S.Lambda))
                out.append(_assign(b.name, self.lazy(d.value, out)))
                names[name] = b
                keys.append(_const(name))
                values.append(_load(b.name))
            self.scopes.append(Scope(names, chain, static=True))
            value = py.List(elts=[py.Dict(keys=keys, values=values), outer_e], ctx=py.Load())
            return chain, len(out), value
        env = self.lazy(node.env, out)
        out.append(_assign(chain, py.List(elts=[env, outer_e], ctx=py.Load())))
        self.scopes.append(Scope(None, chain))
        return None

    def pop_with(self, static: tuple[str, int, py.expr] | None, out: list[py.stmt]) -> None:
        self.scopes.pop()

    @staticmethod
    def emit_static_chain(static: tuple[str, int, py.expr], out: list[py.stmt],
                          *exprs: py.expr) -> None:
        """Make a static ``with``'s chain where it belongs if the code after it uses it."""
        chain, at, value = static
        for root in [*out[at:], *exprs]:
            for n in py.walk(root):
                if type(n) is py.Name and n.id == chain:
                    out.insert(at, _assign(chain, value))
                    return

    def s_Assert(self, node: S.Assert, out: list[py.stmt]) -> py.expr:
        cond = self.strict(node.cond, out)
        check = _call("_assert", cond, self.pos_const(node.pos), _const(show_expr(node.cond)))
        return py.Subscript(
            value=py.Tuple(elts=[check, self.strict(node.body, out)], ctx=py.Load()),
            slice=_const(1), ctx=py.Load())

    def s_If(self, node: S.If, out: list[py.stmt]) -> py.expr:
        c = self.strict(node.cond, out)
        t = self.fresh("_t")
        return _ifexp(
            _is(_walrus(t, c), _const(True)),
            self.strict(node.then, out),
            _ifexp(
                _is(_load(t), _const(False)),
                self.strict(node.else_, out),
                _call("_notbool", _load(t), self.pos_const(node.pos)),
            ),
        )

    def bool_expr(self, node: S.Node, out: list[py.stmt]) -> py.expr:
        """A Nix expression that must be a Boolean, as a Python bool."""
        e = self.strict(node, out)
        if self.is_bool(node):
            return e
        return _call("_truthy", e, self.pos_const(node.pos))

    def is_bool(self, node: S.Node) -> bool:
        """Does this expression always yield a Boolean (when it yields at all)?"""
        if isinstance(node, (S.Not, S.HasAttr)):
            return True
        if isinstance(node, S.BinOp):
            return node.op in ("==", "!=", "&&", "||", "->")
        if isinstance(node, S.Call) and isinstance(node.fn, S.Var) and len(node.args) == 2:
            return node.fn.name == "__lessThan" and self.lookup("__lessThan")[0] == "base"
        if isinstance(node, S.Call):
            prim = self.static_primop(node.fn)
            return prim is not None and prim in _BOOL_PRIMOPS and \
                len(node.args) == self.primops[prim][0]
        return False

    def s_Not(self, node: S.Not, out: list[py.stmt]) -> py.expr:
        return py.UnaryOp(op=py.Not(), operand=self.bool_expr(node.expr, out))

    def s_BinOp(self, node: S.BinOp, out: list[py.stmt]) -> py.expr:
        op = node.op
        pos = self.pos_const(node.pos)
        if op == "==" or op == "!=":
            e = self.equality(self.strict(node.a, out), self.strict(node.b, out))
            return e if op == "==" else py.UnaryOp(op=py.Not(), operand=e)
        if op == "&&":
            return _ifexp(self.bool_expr(node.a, out), self.bool_expr(node.b, out),
                          _const(False))
        if op == "||":
            return _ifexp(self.bool_expr(node.a, out), _const(True),
                          self.bool_expr(node.b, out))
        if op == "->":
            return _ifexp(self.bool_expr(node.a, out), self.bool_expr(node.b, out),
                          _const(True))
        if op == "//":
            return _call("_update", self.strict(node.a, out), self.strict(node.b, out), pos)
        if op == "++":
            return _call("_concat", self.strict(node.a, out), self.strict(node.b, out), pos)
        raise AssertionError(op)

    def equality(self, a: py.expr, b: py.expr) -> py.expr:
        """``a == b``, inline when one side is a constant of a simple type."""
        if isinstance(a, py.Constant) and not isinstance(b, py.Constant):
            a, b = b, a
        if isinstance(b, py.Constant):
            c = b.value
            if c is None or c is True or c is False:
                return _is(a, b)
            if type(c) is int or type(c) is str:
                t = self.fresh("_t")
                return _ifexp(
                    _type_is(_walrus(t, a), type(c).__name__),
                    py.Compare(left=_load(t), ops=[py.Eq()], comparators=[b]),
                    _call("_eq", _load(t), b),
                )
        if isinstance(a, (py.List, py.Dict)) and not isinstance(b, (py.List, py.Dict)):
            a, b = b, a
        if (isinstance(b, py.List) and not b.elts) or (isinstance(b, py.Dict) and not b.keys):
            # comparing with [ ] or { }: the same kind of value, and empty
            t = self.fresh("_t")
            return py.BoolOp(op=py.And(), values=[
                _type_is(_walrus(t, a), "list" if isinstance(b, py.List) else "dict"),
                py.UnaryOp(op=py.Not(), operand=_load(t)),
            ])
        # two strings without context compare as Python strings
        ta, tb = self.fresh("_t"), self.fresh("_t")
        return _ifexp(
            py.BinOp(left=_type_is(_walrus(ta, a), "str"), op=py.BitAnd(),
                     right=_type_is(_walrus(tb, b), "str")),
            py.Compare(left=_load(ta), ops=[py.Eq()], comparators=[_load(tb)]),
            _call("_eq", _load(ta), _load(tb)),
        )

    def s_ConcatStrings(self, node: S.ConcatStrings, out: list[py.stmt]) -> py.expr:
        values = [self.strict(p, out) for _, p in node.parts]
        positions = _const(tuple(pp for pp, _ in node.parts))
        if node.force_string:
            return self.interpolation(values, positions)
        if len(values) == 2:
            pa = _const(node.parts[0][0])
            pb = _const(node.parts[1][0])
            if isinstance(values[0], py.Constant) and type(values[0].value) is str:
                return _call("_add", values[0], values[1], pa, pb)
            return self.int_op(values[0], values[1], py.Add(),
                               lambda x, y: _call("_add", x, y, pa, pb))
        return _call("_concat_path", py.Tuple(elts=values, ctx=py.Load()), positions)

    def interpolation(self, values: list[py.expr], positions: py.expr) -> py.expr:
        """``"a${b}c"``: joined inline when every part is a plain string (no
        context), by the runtime otherwise."""
        tests: list[py.expr] = []
        operands: list[py.expr] = []
        for v in values:
            if isinstance(v, py.Constant) and type(v.value) is str:
                operands.append(v)
                continue
            t = self.fresh("_t")
            tests.append(_type_is(_walrus(t, v), "str"))
            operands.append(_load(t))
        slow = _call("_interp", py.Tuple(elts=operands, ctx=py.Load()), positions)
        if not tests:
            return slow
        fast = operands[0]
        for o in operands[1:]:
            fast = py.BinOp(left=fast, op=py.Add(), right=o)
        # `&`, not `and`: every part is computed (in order) before either branch
        test = tests[0]
        for x in tests[1:]:
            test = py.BinOp(left=test, op=py.BitAnd(), right=x)
        return _ifexp(test, fast, slow)

    # -- lazy ------------------------------------------------------------

    def lazy(self, node: S.Node, out: list[py.stmt], reads: set[str] | None = None) -> py.expr:
        t = type(node)
        if t is S.Int or t is S.Float or t is S.Str:
            return _const(node.value)  # type: ignore[attr-defined]
        if t is S.Path or (t is S.Lambda and self.eager):
            return self.strict(node, out)
        if t is S.Var:
            assert isinstance(node, S.Var)
            kind, info = self.lookup(node.name)
            if kind == "local":
                if isinstance(info, Alias):
                    if isinstance(info.expr, py.Constant):
                        return _const(info.expr.value)
                    return info.expr
                if reads is not None:
                    reads.add(info.name)
                return _load(info.name)
            if kind == "base":
                return self.base_value(node.name, strict=False)
            if kind == "scope":
                return self.scope_value(node.name)
            if kind == "with":
                return self.with_lazy(info, node.name, node.pos)
            raise self.undefined(node.name, node.pos)
        if t is S.List and self.eager:
            assert isinstance(node, S.List)
            return py.List(elts=[self.lazy(i, out, reads) for i in node.items], ctx=py.Load())
        if t is S.AttrSet and self.eager:
            assert isinstance(node, S.AttrSet)
            if not node.rec and not node.dynamic and not node.inherit_from:
                return self.positioned(node, py.Dict(
                    keys=[_const(k) for k in node.attrs],
                    values=[self.lazy(d.value, out, reads) for d in node.attrs.values()],
                ))
        if t is S.Select:
            prim = self.static_primop(node)
            if prim is not None:
                return self.primop_ref(prim)
        if self.eager and (t is S.Call or t is S.ConcatStrings or t is S.BinOp or t is S.If
                           or t is S.Not):
            spec = self.speculate(node, out, reads)
            if spec is not None:
                return spec
        return self.thunk(node, out)

    def speculate(self, node: S.Node, out: list[py.stmt],
                  reads: set[str] | None = None) -> py.expr | None:
        """Compute cheap integer/Boolean expressions at once when their inputs are known."""
        from .speculate import Speculator

        def resolve(name: str) -> str | py.Constant | None:
            kind, info = self.lookup(name)
            if kind == "local":
                if isinstance(info, Binding):
                    return info.name
                if isinstance(info.expr, py.Constant):
                    return info.expr
            return None

        spec = Speculator(resolve, lambda n: self.lookup(n)[0] == "base", self.fresh)
        built = spec.build(node)
        if built is None:
            return None
        test, value = built
        if reads is not None:
            reads.update(spec.vars)
        return _ifexp(test, value, self.thunk(node, out))

    def thunk(self, node: S.Node, out: list[py.stmt]) -> py.expr:
        """A new thunk for ``node``.

        Its code is one function at module level when it needs no variables or
        only variables that already have their values: those are passed to the
        thunk (``_T(fn, (x, y))``), which costs far less than a closure.
        Otherwise (a binding of a ``let`` being set up) it is a closure.
        """
        body: list[py.stmt] = []
        name = self.fresh("_th")
        saved, saved_unassigned = self.fn, self.unassigned
        self.fn = FnCtx(name)
        self.unassigned = set()  # the body runs when forced, after all is set up
        try:
            self.tail(node, body)
        finally:
            self.fn = saved
            self.unassigned = saved_unassigned
        fn = self.make_def(name, [], body, node.pos)
        free = self.free_names(fn) - {name}
        if not free:
            self.module_stmts.append(fn)
            self.module_names.add(name)
            return _call("_T", _load(name))
        # (`__overrides` rebinds the variables of its `rec` afterwards: no copies)
        if not free & self.unassigned and len(free) <= _MAX_CAPTURED and not self.no_aliases:
            params = sorted(free)
            lifted = self.make_def(name, params, body, node.pos)
            lifted._free = frozenset()  # type: ignore[attr-defined]
            self.module_stmts.append(lifted)
            self.module_names.add(name)
            return _call("_T", _load(name),
                         py.Tuple(elts=[_load(p) for p in params], ctx=py.Load()))
        if len(body) == 1 and isinstance(body[0], py.Return):
            value = body[0].value
            assert value is not None
            # a single expression: a lambda (its walrus temporaries are its own locals)
            return _call("_T", py.Lambda(
                args=py.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[],
                                  kw_defaults=[], kwarg=None, defaults=[]),
                body=value))
        out.append(fn)
        return _call("_T", _load(name))

    # -- strictness ------------------------------------------------------

    def force_first(self, node: S.Let, out: list[py.stmt]) -> None:
        """Force, before a ``let`` in tail position sets up its bindings, the
        variables of the enclosing scopes that evaluating it certainly forces
        first, in that order (see :meth:`strict_prefix`).  Nothing observable
        changes (the let's first actions are exactly these forces), but the
        bindings then find those values known and can be computed at once
        (see :meth:`speculate`) rather than becoming thunks."""
        prefix, _ = self.strict_prefix(node, {}, 0)
        seen: set[str] = set()
        for b, pos in prefix:
            if b.name in seen:
                continue
            seen.add(b.name)
            call = py.Call(func=py.Attribute(value=_load(b.name), attr="force", ctx=py.Load()),
                           args=[], keywords=[])
            stmt: py.stmt
            if b.fn is self.fn:
                # a local of this function keeps the value
                test: py.expr = _type_is(_load(b.name), "_T")
                value = _ifexp(
                    _is(py.Attribute(value=_load(b.name), attr="fn", ctx=py.Load()),
                        _const(None)),
                    py.Attribute(value=_load(b.name), attr="v", ctx=py.Load()), call)
                stmt = _assign(b.name, value)
            else:
                # a variable of an enclosing function (or a thunk's copy) is only forced
                test = py.BoolOp(op=py.And(), values=[
                    _type_is(_load(b.name), "_T"),
                    py.Compare(left=py.Attribute(value=_load(b.name), attr="fn", ctx=py.Load()),
                               ops=[py.IsNot()], comparators=[_const(None)])])
                stmt = py.Expr(value=call)
            line = max(pos[1], 1)
            for n in (call, stmt):
                n.lineno = n.end_lineno = line
                n.col_offset = max(pos[2] - 1, 0)
                n.end_col_offset = max(pos[2], 1)
            out.append(py.If(test=test, body=[stmt], orelse=[]))

    _PREFIX_DEPTH: Final = 48

    def strict_prefix(self, node: S.Node, env: dict[str, Any],
                      depth: int) -> tuple[list[tuple[Binding, Pos]], bool]:
        """The variables of enclosing scopes that evaluating ``node`` forces before
        anything else that could fail, diverge or have an effect, in order; and
        whether evaluating ``node`` is nothing more than forcing them.

        ``env`` maps the names bound by ``let``s inside the analysed expression
        to (definition, its environment), or to None when unknown."""
        if depth > self._PREFIX_DEPTH:
            return [], False
        depth += 1
        t = type(node)
        if t is S.Int or t is S.Float or t is S.Str:
            return [], True
        if t is S.Var:
            assert isinstance(node, S.Var)
            if node.name in env:
                d = env[node.name]
                if d is None:
                    return [], False
                return self.strict_prefix(d[0], d[1], depth)
            kind, info = self.lookup(node.name)
            if kind == "local" and isinstance(info, Binding) and not info.whnf \
                    and info.name not in self.unassigned:
                return [(info, node.pos)], True
            return [], False
        if t is S.Let:
            assert isinstance(node, S.Let)
            inner = dict(env)
            for name, a in node.attrs.attrs.items():
                if a.inherited:
                    continue  # `inherit x;` is the enclosing x: as it was
                inner[name] = None if isinstance(a.value, S.InheritFrom) else (a.value, inner)
            return self.strict_prefix(node.body, inner, depth)
        operands: list[S.Node] = []
        if t is S.Call:
            assert isinstance(node, S.Call)
            fn = node.fn
            if isinstance(fn, S.Var) and fn.name in _ARITH and len(node.args) == 2 \
                    and fn.name not in env and self.lookup(fn.name)[0] == "base":
                operands = node.args
            else:
                return [], False
        elif t is S.ConcatStrings:
            assert isinstance(node, S.ConcatStrings)
            operands = [p for _, p in node.parts]
        elif t is S.BinOp:
            assert isinstance(node, S.BinOp)
            operands = [node.a] if node.op in ("&&", "||", "->") else [node.a, node.b]
        elif t is S.If:
            assert isinstance(node, S.If)
            operands = [node.cond]
        elif t is S.Not:
            assert isinstance(node, S.Not)
            operands = [node.expr]
        elif t is S.Assert:
            assert isinstance(node, S.Assert)
            operands = [node.cond]
        elif (t is S.Select or t is S.HasAttr) and self.static_primop(node) is None:
            assert isinstance(node, (S.Select, S.HasAttr))
            operands = [node.expr]
        # the operands are evaluated first, in order; then the operation itself
        out: list[tuple[Binding, Pos]] = []
        for o in operands:
            vs, complete = self.strict_prefix(o, env, depth)
            out += vs
            if not complete:
                break
        return out, False

    # -- tail ------------------------------------------------------------

    def tail(self, node: S.Node, out: list[py.stmt]) -> None:
        t = type(node)
        if t is S.If:
            assert isinstance(node, S.If)
            c = self.strict(node.cond, out)
            v = self.fresh("_c")
            out.append(_assign(v, c))
            then: list[py.stmt] = []
            self.tail(node.then, then)
            out.append(py.If(test=_is(_load(v), _const(True)), body=then, orelse=[]))
            out.append(py.If(test=py.Compare(left=_load(v), ops=[py.IsNot()],
                                             comparators=[_const(False)]),
                             body=[py.Expr(value=_call("_notbool", _load(v),
                                                       self.pos_const(node.pos)))],
                             orelse=[]))
            self.tail(node.else_, out)
            return
        if t is S.Let:
            assert isinstance(node, S.Let)
            self.force_first(node, out)
            self.bind_group(node.attrs, out)
            try:
                self.tail(node.body, out)
            finally:
                self.scopes.pop()
            return
        if t is S.With:
            assert isinstance(node, S.With)
            static = self.push_with(node, out)
            try:
                self.tail(node.body, out)
            finally:
                self.pop_with(static, out)
            if static is not None:
                self.emit_static_chain(static, out)
            return
        if t is S.Assert:
            assert isinstance(node, S.Assert)
            c = self.strict(node.cond, out)
            out.append(py.Expr(value=_call(
                "_assert", c, self.pos_const(node.pos), _const(show_expr(node.cond)))))
            self.tail(node.body, out)
            return
        out.append(py.Return(value=self.strict(node, out)))


def show_expr(node: S.Node) -> str:
    from .show import show

    return show(node)


def fix_missing_locations(root: py.AST) -> None:
    """``ast.fix_missing_locations`` without recursion: the same locations (a node
    without one gets its parent's), but with a loop over an explicit stack, which
    is several times faster on the deep trees that long Nix expressions make."""
    stack: list[tuple[py.AST, int, int, int, int]] = [(root, 1, 0, 1, 0)]
    pop, push, AST = stack.pop, stack.append, py.AST
    while stack:
        node, lineno, col, end_lineno, end_col = pop()
        if "lineno" in node._attributes:
            if not hasattr(node, "lineno"):
                node.lineno = lineno  # type: ignore[attr-defined]
            else:
                lineno = node.lineno
            if getattr(node, "end_lineno", None) is None:
                node.end_lineno = end_lineno  # type: ignore[attr-defined]
            else:
                end_lineno = node.end_lineno  # type: ignore[attr-defined]
            if not hasattr(node, "col_offset"):
                node.col_offset = col  # type: ignore[attr-defined]
            else:
                col = node.col_offset
            if getattr(node, "end_col_offset", None) is None:
                node.end_col_offset = end_col  # type: ignore[attr-defined]
            else:
                end_col = node.end_col_offset  # type: ignore[attr-defined]
        for field in node._fields:
            value = getattr(node, field, None)
            if isinstance(value, AST):
                push((value, lineno, col, end_lineno, end_col))
            elif type(value) is list:
                for item in value:
                    if isinstance(item, AST):
                        push((item, lineno, col, end_lineno, end_col))


def compile_node(node: S.Node, file: str, base_names: frozenset[str],
                 curpos_file: str, eager: bool = True,
                 primops: dict[str, tuple[int, str]] | None = None,
                 base_primops: dict[str, str] | None = None,
                 shadowed: frozenset[str] = frozenset(),
                 track_positions: bool = False) -> Compiled:
    comp = Compiler(file, base_names, curpos_file, eager, primops, base_primops)
    comp.shadowed = shadowed
    comp.track_positions = track_positions
    module = comp.compile_module(node)
    fix_missing_locations(module)
    code = compile(module, file or "«nix»", "exec", dont_inherit=True, optimize=2)
    return Compiled(code, comp.lambdas)

"""The abstract syntax tree of the Nix language.

The parser desugars as Nix does, so that later stages see few node kinds:
``a - b`` is ``__sub a b``, ``a < b`` is ``__lessThan a b``, ``-a`` is
``__sub 0 a``, ``<p>`` is ``__findFile __nixPath "p"``, ``let { ... }`` is
``(rec { ... }).body`` and ``a.b.c = v`` is a nested attribute set.
"""

from __future__ import annotations

from .values import NO_POS, Pos


class Node:
    __slots__ = ("pos",)

    def __init__(self, pos: Pos) -> None:
        self.pos = pos


class Int(Node):
    __slots__ = ("value",)

    def __init__(self, pos: Pos, value: int) -> None:
        self.pos = pos
        self.value = value


class Float(Node):
    __slots__ = ("value",)

    def __init__(self, pos: Pos, value: float) -> None:
        self.pos = pos
        self.value = value


class Str(Node):
    __slots__ = ("value",)

    def __init__(self, pos: Pos, value: str) -> None:
        self.pos = pos
        self.value = value


class Path(Node):
    """A path literal, already made absolute (or a ``~`` path made from $HOME)."""

    __slots__ = ("value",)

    def __init__(self, pos: Pos, value: str) -> None:
        self.pos = pos
        self.value = value


class ConcatStrings(Node):
    """``a + b`` (``force_string`` false) or an interpolated string or path.

    ``parts`` holds (position, expression) pairs.
    """

    __slots__ = ("force_string", "parts")

    def __init__(self, pos: Pos, force_string: bool, parts: list[tuple[Pos, Node]]) -> None:
        self.pos = pos
        self.force_string = force_string
        self.parts = parts


class Var(Node):
    __slots__ = ("name",)

    def __init__(self, pos: Pos, name: str) -> None:
        self.pos = pos
        self.name = name


class CurPos(Node):
    __slots__ = ()


AttrName = str | Node  # a static name, or an expression giving the name


class Select(Node):
    __slots__ = ("default", "expr", "path")

    def __init__(self, pos: Pos, expr: Node, path: list[AttrName], default: Node | None) -> None:
        self.pos = pos
        self.expr = expr
        self.path = path
        self.default = default


class HasAttr(Node):
    __slots__ = ("expr", "path")

    def __init__(self, pos: Pos, expr: Node, path: list[AttrName]) -> None:
        self.pos = pos
        self.expr = expr
        self.path = path


class InheritFrom(Node):
    """The i-th ``inherit (e)`` source expression of the enclosing attribute set."""

    __slots__ = ("index",)

    def __init__(self, pos: Pos, index: int) -> None:
        self.pos = pos
        self.index = index


class AttrDef:
    """One static attribute.  ``inherited``: ``inherit x;`` (x from the outer scope)."""

    __slots__ = ("inherited", "pos", "value")

    def __init__(self, value: Node, pos: Pos, inherited: bool = False) -> None:
        self.value = value
        self.pos = pos
        self.inherited = inherited


class DynAttr:
    __slots__ = ("name", "pos", "value")

    def __init__(self, name: Node, value: Node, pos: Pos) -> None:
        self.name = name
        self.value = value
        self.pos = pos


class AttrSet(Node):
    __slots__ = ("attrs", "dynamic", "inherit_from", "rec")

    def __init__(self, pos: Pos, rec: bool = False) -> None:
        self.pos = pos
        self.rec = rec
        self.attrs: dict[str, AttrDef] = {}
        self.dynamic: list[DynAttr] = []
        self.inherit_from: list[Node] = []


class Let(Node):
    __slots__ = ("attrs", "body")

    def __init__(self, pos: Pos, attrs: AttrSet, body: Node) -> None:
        self.pos = pos
        self.attrs = attrs
        self.body = body


class List(Node):
    __slots__ = ("items",)

    def __init__(self, pos: Pos, items: list[Node]) -> None:
        self.pos = pos
        self.items = items


class Formal:
    __slots__ = ("default", "name", "pos")

    def __init__(self, name: str, default: Node | None, pos: Pos) -> None:
        self.name = name
        self.default = default
        self.pos = pos


class Lambda(Node):
    """``arg: body``, ``{ formals }: body`` or both with ``@``.

    ``name`` is the attribute or variable the lambda is bound to, for messages.
    """

    __slots__ = ("arg", "body", "ellipsis", "formals", "name")

    def __init__(
        self,
        pos: Pos,
        arg: str | None,
        formals: list[Formal] | None,
        ellipsis: bool,
        body: Node,
    ) -> None:
        self.pos = pos
        self.arg = arg
        self.formals = formals
        self.ellipsis = ellipsis
        self.body = body
        self.name: str | None = None


class Call(Node):
    __slots__ = ("args", "fn")

    def __init__(self, pos: Pos, fn: Node, args: list[Node]) -> None:
        self.pos = pos
        self.fn = fn
        self.args = args


class With(Node):
    __slots__ = ("body", "env")

    def __init__(self, pos: Pos, env: Node, body: Node) -> None:
        self.pos = pos
        self.env = env
        self.body = body


class Assert(Node):
    __slots__ = ("body", "cond")

    def __init__(self, pos: Pos, cond: Node, body: Node) -> None:
        self.pos = pos
        self.cond = cond
        self.body = body


class If(Node):
    __slots__ = ("cond", "else_", "then")

    def __init__(self, pos: Pos, cond: Node, then: Node, else_: Node) -> None:
        self.pos = pos
        self.cond = cond
        self.then = then
        self.else_ = else_


class Not(Node):
    __slots__ = ("expr",)

    def __init__(self, pos: Pos, expr: Node) -> None:
        self.pos = pos
        self.expr = expr


class BinOp(Node):
    """``==``, ``!=``, ``&&``, ``||``, ``->``, ``//``, ``++``."""

    __slots__ = ("a", "b", "op")

    def __init__(self, pos: Pos, op: str, a: Node, b: Node) -> None:
        self.pos = pos
        self.op = op
        self.a = a
        self.b = b


def call2(pos: Pos, fn: str, a: Node, b: Node) -> Call:
    return Call(pos, Var(NO_POS, fn), [a, b])

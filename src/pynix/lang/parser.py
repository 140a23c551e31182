"""The Nix parser: tokens to the syntax tree of :mod:`pynix.lang.syntax`.

A recursive-descent parser with precedence climbing for operators.  The
precedences and associativities are Nix's (lowest first): ``|>`` and ``<|``
(which do not mix), ``->`` (right), ``||``, ``&&``, ``==``/``!=`` (none),
``<``/``<=``/``>``/``>=`` (none), ``//`` (right), ``!`` (prefix), ``+``/``-``,
``*``/``/``, ``++`` (right), ``?``, unary ``-``, application, selection.
"""

from __future__ import annotations

import os
from typing import NoReturn

from . import lexer as L
from .errors import ParseError
from .paths import canon_path
from .syntax import (
    Assert,
    AttrDef,
    AttrName,
    AttrSet,
    BinOp,
    Call,
    ConcatStrings,
    CurPos,
    DynAttr,
    Float,
    Formal,
    HasAttr,
    If,
    InheritFrom,
    Int,
    Lambda,
    Let,
    List,
    Node,
    Not,
    Path,
    Select,
    Str,
    Var,
    With,
    call2,
)
from .values import NO_POS, Pos

# binary operators: token kind -> (precedence, associativity)
_BINARY: dict[str, tuple[int, str]] = {
    "IMPL": (1, "right"),
    "OR": (2, "left"),
    "AND": (3, "left"),
    "EQ": (4, "none"),
    "NEQ": (4, "none"),
    "<": (5, "none"),
    ">": (5, "none"),
    "LEQ": (5, "none"),
    "GEQ": (5, "none"),
    "UPDATE": (6, "right"),
    "+": (8, "left"),
    "-": (8, "left"),
    "*": (9, "left"),
    "/": (9, "left"),
    "CONCAT": (10, "right"),
    "?": (11, "left"),
}
_NOT_PREC = 7
_NEGATE_PREC = 12

# how tokens are named in "unexpected X" messages (as Bison names them)
_TOKEN_NAMES = {
    L.EOF: "end of file",
    L.INT: "INT",
    L.FLOAT: "FLOAT",
    L.IND_OPEN: "IND_STRING_OPEN",
    L.IND_CLOSE: "IND_STRING_CLOSE",
}

# tokens that can start an expr_select (an argument of a function application)
_SIMPLE_START = frozenset(
    [
        L.ID,
        L.INT,
        L.FLOAT,
        '"',
        L.IND_OPEN,
        L.PATH,
        L.HPATH,
        L.SPATH,
        L.URI,
        "(",
        "LET",
        "REC",
        "{",
        "[",
    ]
)


class Parser:
    def __init__(self, src: L.Source, base_dir: str, home: str | None = None) -> None:
        self.src = src
        self.toks = L.tokenize(src)
        self.i = 0
        self.base_dir = base_dir
        self.home = home

    # -- token access ----------------------------------------------------

    def kind(self, k: int = 0) -> str:
        j = self.i + k
        return self.toks[j][0] if j < len(self.toks) else L.EOF

    def pos(self, k: int = 0) -> Pos:
        j = min(self.i + k, len(self.toks) - 1)
        return self.src.pos(self.toks[j][2])

    def advance(self) -> L.Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, kind: str) -> L.Token:
        if self.kind() != kind:
            self.unexpected(kind)
        return self.advance()

    def unexpected(self, expecting: str | None = None) -> NoReturn:
        kind = self.kind()
        name = _TOKEN_NAMES.get(kind)
        if name is None:
            name = f"'{kind}'" if len(kind) == 1 else kind
        msg = f"syntax error, unexpected {name}"
        if expecting:
            exp = f"'{expecting}'" if len(expecting) == 1 else expecting
            msg += f", expecting {exp}"
        raise ParseError(msg, self.pos())

    # -- entry -------------------------------------------------------------

    def parse(self) -> Node:
        e = self.expr()
        if self.kind() != L.EOF:
            self.unexpected()
        return e

    # -- expressions -----------------------------------------------------

    def expr(self) -> Node:
        k = self.kind()
        pos = self.pos()
        if k == L.ID:
            k1 = self.kind(1)
            if k1 == ":":
                name = str(self.advance()[1])
                self.advance()
                return Lambda(pos, name, None, False, self.expr())
            if k1 == "@":
                name = str(self.advance()[1])
                self.advance()
                if self.kind() != "{":
                    self.unexpected("{")
                formals, ellipsis = self.formals()
                self.expect(":")
                return self.make_formals_lambda(pos, name, formals, ellipsis)
        elif k == "{" and self.at_formals():
            formals, ellipsis = self.formals()
            arg = None
            if self.kind() == "@":
                self.advance()
                arg = str(self.expect(L.ID)[1])
            self.expect(":")
            return self.make_formals_lambda(pos, arg, formals, ellipsis)
        elif k == "ASSERT":
            self.advance()
            cond = self.expr()
            self.expect(";")
            return Assert(pos, cond, self.expr())
        elif k == "WITH":
            self.advance()
            env = self.expr()
            self.expect(";")
            return With(pos, env, self.expr())
        elif k == "LET" and self.kind(1) != "{":
            self.advance()
            binds = self.binds(AttrSet(pos, rec=True), "IN", allow_dynamic=False)
            self.expect("IN")
            return Let(pos, binds, self.expr())
        if k == "IF":
            self.advance()
            cond = self.expr()
            self.expect("THEN")
            then = self.expr()
            self.expect("ELSE")
            return If(pos, cond, then, self.expr())
        return self.expr_pipe()

    def make_formals_lambda(
        self, pos: Pos, arg: str | None, formals: list[Formal], ellipsis: bool
    ) -> Lambda:
        seen: set[str] = set()
        for f in formals:
            if f.name in seen:
                raise ParseError(f"duplicate formal function argument '{f.name}'", f.pos)
            seen.add(f.name)
        if arg is not None and arg in seen:
            raise ParseError(f"duplicate formal function argument '{arg}'", pos)
        return Lambda(pos, arg, formals, ellipsis, self.expr())

    def at_formals(self) -> bool:
        """At '{': is this a formal argument set rather than an attribute set?"""
        k1 = self.kind(1)
        if k1 == "}":
            return self.kind(2) in (":", "@")
        if k1 == "ELLIPSIS":
            return True
        if k1 == L.ID:
            k2 = self.kind(2)
            if k2 in (",", "?"):
                return True
            if k2 == "}":
                return True
        return False

    def formals(self) -> tuple[list[Formal], bool]:
        self.expect("{")
        formals: list[Formal] = []
        ellipsis = False
        while True:
            k = self.kind()
            if k == "}":
                break
            if k == "ELLIPSIS":
                self.advance()
                ellipsis = True
                break
            pos = self.pos()
            name = str(self.expect(L.ID)[1])
            default = None
            if self.kind() == "?":
                self.advance()
                default = self.expr()
            formals.append(Formal(name, default, pos))
            if self.kind() == ",":
                self.advance()
                continue
            break
        self.expect("}")
        return formals, ellipsis

    def expr_pipe(self) -> Node:
        pos = self.pos()
        e = self.expr_op(0)
        k = self.kind()
        if k == "PIPE_INTO":
            while self.kind() == "PIPE_INTO":
                self.advance()
                f = self.expr_op(0)
                e = Call(pos, f, [e])
            if self.kind() == "PIPE_FROM":
                self.unexpected()
        elif k == "PIPE_FROM":
            self.advance()
            arg = self.expr_pipe_from()
            e = Call(pos, e, [arg])
        return e

    def expr_pipe_from(self) -> Node:
        pos = self.pos()
        e = self.expr_op(0)
        if self.kind() == "PIPE_FROM":
            self.advance()
            return Call(pos, e, [self.expr_pipe_from()])
        if self.kind() == "PIPE_INTO":
            self.unexpected()
        return e

    def expr_op(self, min_prec: int) -> Node:
        pos = self.pos()
        k = self.kind()
        lhs: Node
        if k == "!":
            self.advance()
            lhs = Not(pos, self.expr_op(_NOT_PREC + 1))
        elif k == "-":
            self.advance()
            lhs = call2(pos, "__sub", Int(NO_POS, 0), self.expr_op(_NEGATE_PREC + 1))
        else:
            lhs = self.expr_app()
        last_nonassoc = -1
        while True:
            k = self.kind()
            info = _BINARY.get(k)
            if info is None:
                break
            prec, assoc = info
            if prec < min_prec:
                break
            if prec == last_nonassoc:
                self.unexpected()
            op_pos = self.pos()
            self.advance()
            if k == "?":
                lhs = HasAttr(pos, lhs, self.attrpath())
                continue
            rhs_pos = self.pos()
            rhs = self.expr_op(prec if assoc == "right" else prec + 1)
            lhs = self.binary(k, pos, op_pos, lhs, rhs, rhs_pos)
            last_nonassoc = prec if assoc == "none" else -1
        return lhs

    def binary(self, k: str, pos: Pos, op_pos: Pos, a: Node, b: Node, b_pos: Pos) -> Node:
        if k == "+":
            return ConcatStrings(pos, False, [(a_pos(a, pos), a), (b_pos, b)])
        if k == "-":
            return call2(pos, "__sub", a, b)
        if k == "*":
            return call2(pos, "__mul", a, b)
        if k == "/":
            return call2(pos, "__div", a, b)
        if k == "<":
            return call2(pos, "__lessThan", a, b)
        if k == ">":
            return call2(pos, "__lessThan", b, a)
        if k == "LEQ":
            return Not(pos, call2(pos, "__lessThan", b, a))
        if k == "GEQ":
            return Not(pos, call2(pos, "__lessThan", a, b))
        op = {
            "EQ": "==",
            "NEQ": "!=",
            "AND": "&&",
            "OR": "||",
            "IMPL": "->",
            "UPDATE": "//",
            "CONCAT": "++",
        }[k]
        return BinOp(pos, op, a, b)

    def expr_app(self) -> Node:
        pos = self.pos()
        fn = self.expr_select()
        args: list[Node] = []
        while self.kind() in _SIMPLE_START:
            args.append(self.expr_select())
        if not args:
            return fn
        return Call(pos, fn, args)

    def expr_select(self) -> Node:
        pos = self.pos()
        e = self.expr_simple()
        k = self.kind()
        if k == ".":
            self.advance()
            path = self.attrpath()
            default = None
            if self.kind() == "OR_KW":
                self.advance()
                default = self.expr_select()
            return Select(pos, e, path, default)
        if k == "OR_KW":
            # "f or": an old function named 'or' applied as an argument
            or_pos = self.pos()
            self.advance()
            return Call(pos, e, [Var(or_pos, "or")])
        return e

    def expr_simple(self) -> Node:
        k = self.kind()
        pos = self.pos()
        if k == L.ID:
            name = str(self.advance()[1])
            if name == "__curPos":
                return CurPos(pos)
            return Var(pos, name)
        if k == L.INT:
            return Int(pos, int(self.advance()[1]))  # type: ignore[call-overload]
        if k == L.FLOAT:
            return Float(pos, float(self.advance()[1]))  # type: ignore[arg-type]
        if k == '"':
            self.advance()
            e = self.string_parts(pos)
            self.expect('"')
            return e
        if k == L.IND_OPEN:
            self.advance()
            parts = self.ind_string_parts()
            self.expect(L.IND_CLOSE)
            return strip_indentation(pos, parts)
        if k == L.PATH or k == L.HPATH:
            return self.path(pos)
        if k == L.SPATH:
            name = str(self.advance()[1])[1:-1]
            return call2(pos, "__findFile", Var(NO_POS, "__nixPath"), Str(pos, name))
        if k == L.URI:
            return Str(pos, str(self.advance()[1]))
        if k == "(":
            self.advance()
            e = self.expr()
            self.expect(")")
            return e
        if k == "LET" and self.kind(1) == "{":
            self.advance()
            self.advance()
            attrs = self.binds(AttrSet(pos, rec=True), "}", allow_dynamic=True)
            self.expect("}")
            return Select(NO_POS, attrs, ["body"], None)
        if k == "REC":
            self.advance()
            self.expect("{")
            attrs = self.binds(AttrSet(pos, rec=True), "}", allow_dynamic=True)
            self.expect("}")
            return attrs
        if k == "{":
            self.advance()
            attrs = self.binds(AttrSet(pos, rec=False), "}", allow_dynamic=True)
            self.expect("}")
            return attrs
        if k == "[":
            self.advance()
            items: list[Node] = []
            while self.kind() != "]":
                if self.kind() not in _SIMPLE_START:
                    self.unexpected()
                items.append(self.expr_select())
            self.advance()
            return List(pos, items)
        self.unexpected()

    # -- strings and paths -------------------------------------------------

    def string_parts(self, pos: Pos) -> Node:
        parts: list[tuple[Pos, Node]] = []
        while True:
            k = self.kind()
            if k == L.STR:
                p = self.pos()
                parts.append((p, Str(p, str(self.advance()[1]))))
            elif k == L.DOLLAR_CURLY:
                self.advance()
                p = self.pos()
                parts.append((p, self.expr()))
                self.expect("}")
            else:
                break
        if not parts:
            return Str(pos, "")
        if len(parts) == 1 and isinstance(parts[0][1], Str):
            return parts[0][1]
        return ConcatStrings(pos, True, parts)

    def ind_string_parts(self) -> list[tuple[Pos, Node | tuple[str, bool]]]:
        parts: list[tuple[Pos, Node | tuple[str, bool]]] = []
        while True:
            k = self.kind()
            if k == L.IND_STR:
                p = self.pos()
                v = self.advance()[1]
                assert isinstance(v, tuple)
                parts.append((p, v))
            elif k == L.DOLLAR_CURLY:
                self.advance()
                p = self.pos()
                parts.append((p, self.expr()))
                self.expect("}")
            else:
                return parts

    def path(self, pos: Pos) -> Node:
        kind, raw, _ = self.advance()
        assert isinstance(raw, str)
        if kind == L.HPATH:
            home = self.home if self.home is not None else os.environ.get("HOME", "")
            value = canon_path(home + raw[1:]) if home else raw
        else:
            value = canon_path(raw if raw.startswith("/") else self.base_dir + "/" + raw)
        if raw.endswith("/") and len(raw) > 1:
            value += "/"
        parts: list[tuple[Pos, Node]] = [(pos, Path(pos, value))]
        if self.kind() == L.STR and self.kind(1) != L.DOLLAR_CURLY:
            # text after a path token is only allowed around an interpolation
            self.advance()
            self.unexpected(L.DOLLAR_CURLY)
        while True:
            k = self.kind()
            if k == L.STR:
                p = self.pos()
                parts.append((p, Str(p, str(self.advance()[1]))))
            elif k == L.DOLLAR_CURLY:
                self.advance()
                p = self.pos()
                parts.append((p, self.expr()))
                self.expect("}")
            else:
                break
        self.expect(L.PATH_END)
        if len(parts) == 1:
            return parts[0][1]
        return ConcatStrings(pos, False, parts)

    # -- bindings ------------------------------------------------------------

    def attr_name(self) -> tuple[AttrName, Pos]:
        k = self.kind()
        pos = self.pos()
        if k == L.ID:
            return str(self.advance()[1]), pos
        if k == "OR_KW":
            self.advance()
            return "or", pos
        if k == '"':
            self.advance()
            e = self.string_parts(pos)
            self.expect('"')
            if isinstance(e, Str):
                return e.value, pos
            return e, pos
        if k == L.DOLLAR_CURLY:
            self.advance()
            e = self.expr()
            self.expect("}")
            if isinstance(e, Str):
                return e.value, pos
            return e, pos
        self.unexpected()

    def attrpath(self) -> list[AttrName]:
        path = [self.attr_name()[0]]
        while self.kind() == ".":
            self.advance()
            path.append(self.attr_name()[0])
        return path

    def binds(self, attrs: AttrSet, end: str, allow_dynamic: bool) -> AttrSet:
        while True:
            k = self.kind()
            if k == end:
                return attrs
            if k == "INHERIT":
                self.inherit(attrs)
                continue
            if k not in (L.ID, "OR_KW", '"', L.DOLLAR_CURLY):
                self.unexpected()
            pos = self.pos()
            path: list[tuple[AttrName, Pos]] = [self.attr_name()]
            while self.kind() == ".":
                self.advance()
                path.append(self.attr_name())
            self.expect("=")
            value = self.expr()
            self.expect(";")
            if not allow_dynamic and any(not isinstance(n, str) for n, _ in path):
                raise ParseError("dynamic attributes not allowed in let", pos)
            add_attr(attrs, path, value, pos)

    def inherit(self, attrs: AttrSet) -> None:
        # Nix places every inherited attribute just after `inherit` or `)`
        where = self.src.pos(self.advance()[2] + len("inherit"))
        source: Node | None = None
        if self.kind() == "(":
            self.advance()
            source = self.expr()
            where = self.src.pos(self.expect(")")[2] + 1)
        index = -1
        if source is not None:
            index = len(attrs.inherit_from)
            attrs.inherit_from.append(source)
        while self.kind() != ";":
            pos = self.pos()
            if self.kind() not in (L.ID, "OR_KW", '"', L.DOLLAR_CURLY):
                self.unexpected()
            name, _ = self.attr_name()
            if not isinstance(name, str):
                raise ParseError("dynamic attributes not allowed in inherit", pos)
            if name in attrs.attrs:
                prev = attrs.attrs[name].pos
                raise ParseError(
                    f"attribute '{name}' already defined at {show_pos(prev)}", pos
                )
            if source is None:
                attrs.attrs[name] = AttrDef(Var(pos, name), where, inherited=True)
            else:
                attrs.attrs[name] = AttrDef(
                    Select(pos, InheritFrom(pos, index), [name], None), where
                )
        self.advance()


def show_pos(pos: Pos) -> str:
    from .errors import show_pos as sp

    return sp(pos)


def a_pos(node: Node, default: Pos) -> Pos:
    return node.pos if node.pos[0] else default


def _show_path(path: list[tuple[AttrName, Pos]]) -> str:
    return ".".join(n if isinstance(n, str) else '"${...}"' for n, _ in path)


def add_attr(attrs: AttrSet, path: list[tuple[AttrName, Pos]], value: Node, pos: Pos) -> None:
    """Add ``a.b.c = value`` to an attribute set, merging nested sets as Nix does."""
    for name, _npos in path[:-1]:
        if isinstance(name, str):
            existing = attrs.attrs.get(name)
            if existing is not None:
                if existing.inherited or not isinstance(existing.value, AttrSet):
                    raise ParseError(
                        f"attribute '{_show_path(path)}' already defined at "
                        f"{show_pos(existing.pos)}",
                        pos,
                    )
                attrs = existing.value
            else:
                nested = AttrSet(pos)
                attrs.attrs[name] = AttrDef(nested, pos)
                attrs = nested
        else:
            nested = AttrSet(pos)
            attrs.dynamic.append(DynAttr(name, nested, pos))
            attrs = nested
    name = path[-1][0]
    if isinstance(name, str):
        existing = attrs.attrs.get(name)
        if existing is not None:
            ev = existing.value
            if isinstance(ev, AttrSet) and isinstance(value, AttrSet) and not existing.inherited:
                for k2, d2 in value.attrs.items():
                    if k2 in ev.attrs:
                        raise ParseError(
                            f"attribute '{_show_path(path)}.{k2}' already defined at "
                            f"{show_pos(ev.attrs[k2].pos)}",
                            d2.pos,
                        )
                    if isinstance(d2.value, Select) and isinstance(d2.value.expr, InheritFrom):
                        d2.value.expr.index += len(ev.inherit_from)
                    ev.attrs[k2] = d2
                ev.inherit_from.extend(value.inherit_from)
                ev.dynamic.extend(value.dynamic)
                return
            raise ParseError(
                f"attribute '{_show_path(path)}' already defined at {show_pos(existing.pos)}",
                pos,
            )
        attrs.attrs[name] = AttrDef(value, pos)
        if isinstance(value, Lambda) and value.name is None:
            value.name = name
    else:
        attrs.dynamic.append(DynAttr(name, value, pos))


def strip_indentation(pos: Pos, parts: list[tuple[Pos, Node | tuple[str, bool]]]) -> Node:
    """Indented strings: drop the common leading indentation, as Nix does."""
    if not parts:
        return Str(pos, "")
    at_start = True
    min_indent = 1000000
    cur = 0
    for _, p in parts:
        if not isinstance(p, tuple) or not p[1]:
            if at_start:
                at_start = False
                min_indent = min(min_indent, cur)
            continue
        for ch in p[0]:
            if at_start:
                if ch == " ":
                    cur += 1
                elif ch == "\n":
                    cur = 0
                else:
                    at_start = False
                    min_indent = min(min_indent, cur)
            elif ch == "\n":
                at_start = True
                cur = 0
    out: list[tuple[Pos, Node]] = []
    at_start = True
    dropped = 0
    n = len(parts)
    for idx, (ppos, p) in enumerate(parts):
        if not isinstance(p, tuple):
            at_start = False
            dropped = 0
            out.append((ppos, p))
            continue
        buf: list[str] = []
        for ch in p[0]:
            if at_start:
                if ch == " ":
                    if dropped >= min_indent:
                        buf.append(ch)
                    dropped += 1
                elif ch == "\n":
                    dropped = 0
                    buf.append(ch)
                else:
                    at_start = False
                    dropped = 0
                    buf.append(ch)
            else:
                buf.append(ch)
                if ch == "\n":
                    at_start = True
        s = "".join(buf)
        if idx == n - 1:
            nl = s.rfind("\n")
            if nl >= 0 and s[nl + 1 :].strip(" ") == "":
                s = s[: nl + 1]
        out.append((ppos, Str(ppos, s)))
    if len(out) == 1 and isinstance(out[0][1], Str):
        return out[0][1]
    return ConcatStrings(pos, True, out)


def parse(text: str, file: str, base_dir: str, home: str | None = None) -> Node:
    """Parse Nix source text (a Nix string: one character per byte).

    As in Nix, which hands its lexer a C string, the text ends at a NUL byte.
    """
    nul = text.find("\0")
    if nul >= 0:
        text = text[:nul]
    return Parser(L.Source(text, file), base_dir, home).parse()

"""Property test: random well-formed Nix expressions, pynix against the real Nix 2.8.

Two tests share one generator:

* ``test_typed_batches`` draws well-typed expressions that cannot fail (division by a
  guaranteed non-zero value, ``or`` defaults on selections, guarded ``elemAt``...), and
  evaluates a batch of them as one list with ``--eval --strict``, so one pair of calls
  checks many expressions.  On a mismatch the batch is bisected to the first differing
  expression, which the failure shows.
* ``test_single_expressions`` draws expressions that may be ill-typed or fail (wrong
  operand types, missing attributes, division by zero, throw/assert) and compares them
  one by one, so success against failure is checked too.

Together they compare well over 2 000 expressions, reproducibly (``derandomize``).
Variables are bound only to scalars: Nix 2.8 prints ``«repeated»`` for a list or set
seen twice by *pointer*, and whether two uses share a pointer is an implementation detail
(small lists are copied by value) that the corpus covers explicitly instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from difftest import Result, Runner, compare, describe, run_nix
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import needs

BATCH = 20
BATCH_EXAMPLES = int(os.environ.get("PYNIX_PROPERTY_BATCHES", "120"))  # x BATCH expressions
SINGLE_EXAMPLES = int(os.environ.get("PYNIX_PROPERTY_SINGLES", "500"))

SCALARS = ("int", "float", "bool", "string")
DATA = (*SCALARS, "list", "attrs")  # no functions: these can go through toJSON
TYPES = (*DATA, "fn")
HASH_ALGOS = ('"md5"', '"sha1"', '"sha256"', '"sha512"')
HAS_NAMES = ('"a"', '"b"', '"or"')
UNARY_BUILTINS = ("length", "head", "tail", "attrNames", "stringLength", "typeOf", "toJSON", "ceil")
PREDICATES = ("isInt", "isFloat", "isString", "isBool", "isList", "isAttrs", "isFunction", "isNull")
IS_TYPE = {"int": "isInt", "string": "isString"}
VAR_NAMES = ("a", "b", "x", "y", "v", "foo", "bar_1", "q'", "c-d", "__x")
ATTR_NAMES = ("a", "b", "c", "n", "foo", "x-y", "or", '"with space"', '""', '"if"', '"é"')
STRING_CHARS = "ab Z0\"\\$\n\t{}'é✓-_."
VERSIONS = ("1.0", "1.0.1", "2", "1.10", "1.9", "1.0pre1", "1.0a", "", "a", "0.1-rc2")
REGEXES = ('"a+"', '"(a)(b*)"', '"[[:alpha:]]+"', '".*"', '"a|b"', '"([0-9]+)\\\\.([0-9]+)"')

Draw = Callable[[st.SearchStrategy[Any]], Any]
Env = tuple[tuple[str, str, bool], ...]  # (name, type, bound by with)


class Gen:
    """Draws Nix source of a requested type.  ``env`` holds the scalar variables in scope."""

    def __init__(self, draw: Draw, *, sloppy: bool = False) -> None:
        self.draw = draw
        self.sloppy = sloppy  # allow ill-typed and failing expressions
        self.fresh = 0

    def pick(self, options: tuple[Any, ...] | list[Any]) -> Any:
        return self.draw(st.sampled_from(options))

    def chance(self, p: float) -> bool:
        """True with probability ``p``; the simplest draw (what shrinking aims at) is False."""
        return bool(self.draw(st.integers(0, 99)) >= 100 - round(p * 100))

    def var(self) -> str:
        return self.pick(VAR_NAMES)

    # ------------------------------------------------------------------ leaves

    def int_lit(self) -> str:
        n = self.draw(
            st.one_of(
                st.integers(-20, 20),
                st.integers(-(10**6), 10**6),
                st.integers(-(2**62), 2**62),
                st.sampled_from([2**63 - 1, 2**31, 4611686018427387904]),
            )
        )
        return f"({n})" if n < 0 else str(n)

    def float_lit(self, small: bool = False) -> str:
        whole = self.draw(st.integers(0, 99999))
        frac = self.draw(st.integers(0, 9999))
        form = self.draw(st.sampled_from((0, 1, 3) if small else (0, 1, 2, 3, 4)))
        if form == 0:
            return f"{whole}.{frac}" if whole else f"0.{frac}"
        if form == 1:
            return f".{frac}"
        if form == 2:
            exp = self.draw(st.integers(-12, 25))
            return f"{whole or 1}.{frac}e{exp}"
        if form == 3:
            return f"(-{whole}.{frac})"
        return self.pick(("1.0", "0.5", "0.1", "100.0", "1.0e6", "3.14159", "2.5E-3"))

    def str_lit(self) -> str:
        text = self.draw(st.text(alphabet=STRING_CHARS, max_size=10))
        if self.chance(0.2):
            return self.indented_lit(text)
        out = []
        for i, ch in enumerate(text):
            if ch == '"':
                out.append('\\"')
            elif ch == "\\":
                out.append("\\\\")
            elif ch == "\n":
                out.append("\\n")
            elif ch == "\t":
                out.append("\\t")
            elif ch == "$" and (text[i + 1 : i + 2] in ("{", "") or self.chance(0.5)):
                out.append("\\$")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'

    def indented_lit(self, text: str) -> str:
        indent = " " * self.draw(st.integers(0, 4))
        body = text.replace("''", "'''").replace("${", "''${")
        if body.endswith("'"):
            body += " "
        lines = body.split("\n")
        extra = [indent + (" " * self.draw(st.integers(0, 2))) + ln for ln in lines]
        return "''\n" + "\n".join(extra) + "\n" + indent + "''"

    def version_lit(self) -> str:
        return '"' + self.pick(VERSIONS) + '"'

    def attr_name(self) -> str:
        return self.pick(ATTR_NAMES)

    def scalar_var(self, env: Env, ty: str) -> str | None:
        visible = visible_types(env)
        names = sorted(n for n, t in visible.items() if t == ty)
        return self.pick(names) if names else None

    def leaf(self, ty: str, env: Env) -> str:
        if ty in SCALARS and self.chance(0.35):
            v = self.scalar_var(env, ty)
            if v is not None:
                return v
        if ty == "int":
            return self.int_lit()
        if ty == "float":
            return self.float_lit()
        if ty == "bool":
            return self.pick(("true", "false"))
        if ty == "string":
            return self.str_lit()
        if ty == "list":
            return (
                "[ " + " ".join(self.int_lit() for _ in range(self.draw(st.integers(0, 3)))) + " ]"
            )
        if ty == "attrs":
            names = self.draw(st.lists(st.sampled_from(ATTR_NAMES), max_size=3, unique=True))
            return "{ " + "".join(f"{n} = {self.int_lit()}; " for n in names) + "}"
        return self.pick(("(x: x)", "(x: x + 1)", "(builtins.add 3)", "(builtins.mul 2)"))

    # ------------------------------------------------------------------ typed

    def gen(self, ty: str, depth: int, env: Env = ()) -> str:
        if self.sloppy and self.chance(0.15):
            return self.ill_typed(depth, env)
        if depth <= 0 or not self.chance(0.8):
            return self.leaf(ty, env)
        d = depth - 1
        common = self.draw(st.integers(0, 9))
        if common == 0:
            cond, yes, no = self.gen("bool", d, env), self.gen(ty, d, env), self.gen(ty, d, env)
            return f"(if {cond} then {yes} else {no})"
        if common == 1:
            # let is recursive: the value must not see an outer variable of the same name
            v, vt = self.var(), self.pick(SCALARS)
            inner = ((v, vt, False), *env)
            value = self.gen(vt, d, without(env, v))
            return f"(let {v} = {value}; in {self.gen(ty, d, inner)})"
        if common == 2:
            v, vt = self.var(), self.pick(SCALARS)
            inner = ((v, vt, False), *env)
            return f"(({v}: {self.gen(ty, d, inner)}) {self.gen(vt, d, env)})"
        if common == 3:
            # with never shadows a lexical variable: only bind names not yet in scope
            free = [n for n in VAR_NAMES if n not in {e[0] for e in env}]
            if free:
                v, vt = self.pick(free), self.pick(SCALARS)
                inner = ((v, vt, True), *env)
                return f"(with {{ {v} = {self.gen(vt, d, env)}; }}; {self.gen(ty, d, inner)})"
        return getattr(self, "gen_" + ty)(d, env)

    def gen_int(self, d: int, env: Env) -> str:
        g = self.gen
        k = self.draw(st.integers(0, 17))
        if k == 0:
            return f"({g('int', d, env)} + {g('int', d, env)})"
        if k == 1:
            return f"({g('int', d, env)} - {g('int', d, env)})"
        if k == 2:
            return f"({g('int', d, env)} * {g('int', d, env)})"
        if k == 3:
            divisor = f"(1 + builtins.bitAnd {g('int', d, env)} 7)"
            if self.sloppy and self.chance(0.3):
                divisor = g("int", d, env)
            return f"({g('int', d, env)} / {divisor})"
        if k == 4:
            return f"(builtins.length {g('list', d, env)})"
        if k == 5:
            return f"(builtins.stringLength {g('string', d, env)})"
        if k == 6:
            op = self.pick(("bitAnd", "bitOr", "bitXor"))
            return f"(builtins.{op} {g('int', d, env)} {g('int', d, env)})"
        if k == 7:
            return self.select_or("int", d, env)
        if k == 8:
            return f"(builtins.{self.pick(('ceil', 'floor'))} {self.float_lit(small=True)})"
        if k == 9:
            return f"(builtins.compareVersions {self.version_lit()} {self.version_lit()})"
        if k == 10:
            return f"({g('fn', d, env)} {g('int', d, env)})"
        if k == 11:
            return f"(builtins.elemAt ([ {g('int', d, env)} ] ++ {g('list', d, env)}) 0)"
        if k == 12:
            return f"(builtins.foldl' (acc: e: acc + e) {g('int', d, env)} {g('list', d, env)})"
        if k == 13:
            return f'(if (builtins.tryEval (throw "t")).success then 0 else {g("int", d, env)})'
        if k == 14:
            inner = (("p", "int", False), ("q", "int", False), *env)
            default = g("int", d, bound(env, "p", "q"))
            return f"(({{ p, q ? {default} }}: {g('int', d, inner)}) {{ p = {g('int', d, env)}; }})"
        if k == 15:
            out = bound(env, "a", "b")
            return f"(rec {{ a = {g('int', d, out)}; b = a * 2 + {g('int', d, out)}; }}).b"
        if k == 16:
            return f"(builtins.head ({g('list', d, env)} ++ [ {g('int', d, env)} ]))"
        return f"(-{g('int', d, env)})"

    def gen_float(self, d: int, env: Env) -> str:
        g = self.gen
        k = self.draw(st.integers(0, 5))
        if k == 0:
            return f"({g('float', d, env)} + {g(self.pick(('int', 'float')), d, env)})"
        if k == 1:
            return f"({g('int', d, env)} * {g('float', d, env)})"
        if k == 2:
            return f"({g('float', d, env)} - {g('float', d, env)})"
        if k == 3:
            return f"({g('float', d, env)} / {self.pick(('2.5', '4', '0.125', '3'))})"
        if k == 4:
            return f"({g('int', d, env)} / 4.0)"
        return f"(builtins.fromJSON (builtins.toJSON {g('float', d, env)}))"

    def gen_bool(self, d: int, env: Env) -> str:
        g = self.gen
        k = self.draw(st.integers(0, 13))
        if k == 0:
            a, b = self.pick(
                (
                    ("int", "int"),
                    ("int", "float"),
                    ("float", "float"),
                    ("string", "string"),
                    ("list", "list"),
                )
            )
            op = self.pick(("<", "<=", ">", ">="))
            return f"({g(a, d, env)} {op} {g(b, d, env)})"
        if k == 1:
            t = self.pick(DATA)
            return f"({g(t, d, env)} {self.pick(('==', '!='))} {g(t, d, env)})"
        if k == 2:
            return f"(!{g('bool', d, env)})"
        if k == 3:
            op = self.pick(("&&", "||", "->"))
            return f"({g('bool', d, env)} {op} {g('bool', d, env)})"
        if k == 4:
            return f"({g('attrs', d, env)} ? {self.attr_name()})"
        if k == 5:
            return f"(builtins.hasAttr {self.pick(HAS_NAMES)} {g('attrs', d, env)})"
        if k == 6:
            return f"(builtins.elem {g('int', d, env)} {g('list', d, env)})"
        if k == 7:
            return f"(builtins.{self.pick(PREDICATES)} {g(self.pick(TYPES), d, env)})"
        if k == 8:
            q = self.pick(("any", "all"))
            return f"(builtins.{q} (e: e > {g('int', d, env)}) {g('list', d, env)})"
        if k == 9:
            return f"(builtins.tryEval {g(self.pick(SCALARS), d, env)}).success"
        if k == 10:
            return f"(builtins.match {self.pick(REGEXES)} {g('string', d, env)} == null)"
        if k == 11:
            return f"({g('attrs', d, env)} ? a.b)"
        if k == 12:
            return f"(builtins.lessThan {g('int', d, env)} {g('int', d, env)})"
        return f"({g('fn', d, env)} == {g('fn', d, env)})"

    def gen_string(self, d: int, env: Env) -> str:
        g = self.gen
        k = self.draw(st.integers(0, 14))
        if k == 0:
            return f"({g('string', d, env)} + {g('string', d, env)})"
        if k == 1:
            return f'"<${{{g("string", d, env)}}}>${{{g("string", d, env)}}}"'
        if k == 2:
            return f"(toString {g(self.pick(('int', 'float', 'bool', 'string', 'list')), d, env)})"
        if k == 3:
            start, length = self.draw(st.integers(0, 6)), self.draw(st.integers(-1, 6))
            n = str(length) if length >= 0 else "(-1)"
            return f"(builtins.substring {start} {n} {g('string', d, env)})"
        if k == 4:
            sep, s1, s2 = g("string", d, env), g("string", d, env), g("string", d, env)
            return f"(builtins.concatStringsSep {sep} [ {s1} {s2} ])"
        if k == 5:
            return (
                f"(builtins.replaceStrings [ {g('string', d, env)} ] [ {g('string', d, env)} ] "
                f"{g('string', d, env)})"
            )
        if k == 6:
            return f"(builtins.typeOf {g(self.pick(TYPES), d, env)})"
        if k == 7:
            return f"(builtins.toJSON {g(self.pick(DATA), d, env)})"
        if k == 8:
            return f"(builtins.hashString {self.pick(HASH_ALGOS)} {g('string', d, env)})"
        if k == 9:
            return f'(builtins.concatStringsSep "," (builtins.attrNames {g("attrs", d, env)}))'
        if k == 10:
            return f"(builtins.parseDrvName {g('string', d, env)}).{self.pick(('name', 'version'))}"
        if k == 11:
            return f'(builtins.concatStringsSep "|" (builtins.splitVersion {self.version_lit()}))'
        if k == 12:
            return f"''\n  x ${{{g('string', d, env)}}}\n    y\n''"
        if k == 13:
            return f"(builtins.toJSON (builtins.split {self.pick(REGEXES)} {g('string', d, env)}))"
        return self.select_or("string", d, env)

    def select_or(self, ty: str, d: int, env: Env) -> str:
        """``s.name or default``, type-safe although attribute values have random types."""
        name = self.attr_name()
        s = f"({self.gen('attrs', d, env)})"
        if self.chance(0.5):
            # the selected value is type-checked before use
            return (
                f"(let s_ = {s}; in if builtins.{IS_TYPE[ty]} (s_.{name} or null) "
                f"then s_.{name} else {self.gen(ty, d, without(env, 's_'))})"
            )
        # the attribute is removed first, so the default is what is used
        dropped = f"(builtins.removeAttrs {s} [ {name_as_string(name)} ])"
        return f"({dropped}.{name} or {self.gen(ty, d, env)})"

    def gen_list(self, d: int, env: Env) -> str:
        g = self.gen
        k = self.draw(st.integers(0, 9))
        if k == 0:
            return (
                "[ "
                + " ".join(g("int", d, env) for _ in range(self.draw(st.integers(0, 4))))
                + " ]"
            )
        if k == 1:
            return f"({g('list', d, env)} ++ {g('list', d, env)})"
        if k == 2:
            body = g("int", d, (("e", "int", False), *env))
            return f"(builtins.map (e: {body}) {g('list', d, env)})"
        if k == 3:
            body = g("bool", d, (("e", "int", False), *env))
            return f"(builtins.filter (e: {body}) {g('list', d, env)})"
        if k == 4:
            return f"(builtins.sort builtins.lessThan {g('list', d, env)})"
        if k == 5:
            body = g("int", d, (("i", "int", False), *env))
            return f"(builtins.genList (i: {body}) {self.draw(st.integers(0, 5))})"
        if k == 6:
            return f"(builtins.tail ([ {g('int', d, env)} ] ++ {g('list', d, env)}))"
        if k == 7:
            return f"(builtins.concatMap (e: [ e {g('int', d, env)} ]) {g('list', d, env)})"
        if k == 8:
            return f"(builtins.sort (p: q: p > q) {g('list', d, env)})"
        return f"(builtins.fromJSON (builtins.toJSON {g('list', d, env)}))"

    def gen_attrs(self, d: int, env: Env) -> str:
        g = self.gen
        k = self.draw(st.integers(0, 9))
        if k == 0:
            names = self.draw(st.lists(st.sampled_from(ATTR_NAMES), max_size=4, unique=True))
            body = "".join(
                f"{n} = {g(self.pick(TYPES if self.sloppy else DATA), d, env)}; " for n in names
            )
            return "{ " + body + "}"
        if k == 1:
            return f"({g('attrs', d, env)} // {g('attrs', d, env)})"
        if k == 2:
            a, b = self.draw(
                st.lists(
                    st.sampled_from(("b", "c", '"d e"', "or")), min_size=2, max_size=2, unique=True
                )
            )
            va, vb, vn = g(self.pick(DATA), d, env), g("int", d, env), g("int", d, env)
            return f"{{ a.{a} = {va}; a.{b} = {vb}; n = {vn}; }}"
        if k == 3:
            return f'(builtins.removeAttrs {g("attrs", d, env)} [ "a" "foo" ])'
        if k == 4:
            return f"(builtins.intersectAttrs {g('attrs', d, env)} {g('attrs', d, env)})"
        if k == 5:
            return f"(builtins.mapAttrs (n: v: n) {g('attrs', d, env)})"
        if k == 6:
            return (
                f'(builtins.listToAttrs (builtins.map (i: {{ name = "k${{toString i}}"; '
                f"value = i; }}) {g('list', d, env)}))"
            )
        if k == 7:
            return f"{{ ${{{g('string', d, env)}}} = {g(self.pick(DATA), d, env)}; }}"
        if k == 8:
            va = g("int", d, bound(env, "a", "b", "c"))
            return f"(rec {{ a = {va}; b = a + 1; c = [ a b ]; }})"
        name, value = g("string", d, env), g(self.pick(DATA), d, env)
        return f"(builtins.listToAttrs [ {{ name = {name}; value = {value}; }} ])"

    def gen_fn(self, d: int, env: Env) -> str:
        g = self.gen
        k = self.draw(st.integers(0, 3))
        if k == 0:
            return f"(z: {g('int', d, (('z', 'int', False), *env))})"
        if k == 1:
            return f"(builtins.add {g('int', d, env)})"
        if k == 2:
            return f"(let f = {g('fn', d, env)}; h = {g('fn', d, env)}; in z: f (h z))"
        return f"{{ __functor = self: z: z + {g('int', d, env)}; }}"

    # ------------------------------------------------------------------ sloppy

    def ill_typed(self, depth: int, env: Env) -> str:
        """An expression that may well fail: operators on random operand types and such."""
        d = max(depth - 1, 0)
        t1, t2 = self.pick(TYPES), self.pick(TYPES)
        a, b = self.gen(t1, d, env), self.gen(t2, d, env)
        k = self.draw(st.integers(0, 11))
        if k == 0:
            return f"({a} {self.pick(('+', '-', '*', '/', '++', '//', '<', '==', '&&', '->'))} {b})"
        if k == 1:
            return f"({a}.{self.attr_name()})"
        if k == 2:
            return f"({a} {b})"
        if k == 3:
            return f"(builtins.{self.pick(UNARY_BUILTINS)} {a})"
        if k == 4:
            return f"(assert {a}; {b})"
        if k == 5:
            return f"(throw {self.str_lit()})"
        if k == 6:
            return f"(if {a} then {b} else {b})"
        if k == 7:
            return f'"${{{a}}}"'
        if k == 8:
            return f"(builtins.elemAt {a} {self.int_lit()})"
        if k == 9:
            return f"(!{a})"
        if k == 10:
            return f"(builtins.tryEval {a})"
        return self.pick(("undefinedName", "(1 / 0)", "({ }.missing)", "(let r = r; in r)"))


def visible_types(env: Env) -> dict[str, str]:
    """The type each name resolves to: the innermost lexical binding, else the innermost with."""
    lexical: dict[str, str] = {}
    withs: dict[str, str] = {}
    for name, ty, by_with in env:  # innermost first
        target = withs if by_with else lexical
        target.setdefault(name, ty)
    return {**withs, **lexical}


def without(env: Env, *names: str) -> Env:
    return tuple(e for e in env if e[0] not in names)


def bound(env: Env, *names: str) -> Env:
    """The scope inside a ``rec`` or a function's defaults: ``names`` are bound
    there (to values that must not be used: they depend on what is being
    generated) and so a ``with`` cannot bind them either."""
    return (*((n, "unusable", False) for n in names), *without(env, *names))


def name_as_string(attr: str) -> str:
    return attr if attr.startswith('"') else f'"{attr}"'


@st.composite
def typed_expr(draw: Draw, depth: int = 4) -> str:
    gen = Gen(draw)
    return gen.gen(gen.pick(TYPES), depth)


@st.composite
def sloppy_expr(draw: Draw, depth: int = 3) -> str:
    gen = Gen(draw, sloppy=True)
    return gen.gen(gen.pick(TYPES), depth)


def _run_pair(
    source: str, args: list[str], pynix_run: Runner, fixtures: Path
) -> tuple[Result, Result]:
    from difftest import base_env

    argv = ["--eval", *args, "-E", source]
    env = base_env(fixtures)
    nix = run_nix(argv, env=env, cwd=fixtures)
    py = pynix_run(argv, env=env, cwd=fixtures)
    return nix, py


def _same(nix: Result, py: Result) -> bool:
    return nix.ok == py.ok and nix.stdout == py.stdout


@settings(
    max_examples=BATCH_EXAMPLES,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(exprs=st.lists(typed_expr(), min_size=BATCH, max_size=BATCH))
def test_typed_batches(exprs: list[str], fixtures_dir: Path, pynix_run: Runner) -> None:
    needs.nix()
    source = "[\n" + "\n".join(f"  ({e})" for e in exprs) + "\n]"
    nix, py = _run_pair(source, ["--strict"], pynix_run, fixtures_dir)
    if not nix.ok:
        pytest.fail(
            "generator bug: Nix fails on a typed batch\n" + source + "\n" + describe("nix", nix)
        )
    if _same(nix, py):
        return
    for e in exprs:
        n1, p1 = _run_pair(e, ["--strict"], pynix_run, fixtures_dir)
        if not _same(n1, p1):
            compare(n1, p1, what=f"expression {e!r}")
    compare(nix, py, what="batch (no single expression differs alone)\n" + source)


@settings(
    max_examples=SINGLE_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(
    expr=sloppy_expr(), args=st.sampled_from([["--strict"], ["--strict"], ["--strict", "--json"]])
)
def test_single_expressions(
    expr: str, args: list[str], fixtures_dir: Path, pynix_run: Runner
) -> None:
    needs.nix()
    nix, py = _run_pair(expr, args, pynix_run, fixtures_dir)
    compare(nix, py, what=f"expression {expr!r} with {args}")

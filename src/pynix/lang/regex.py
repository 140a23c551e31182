"""Regular expressions as ``builtins.match`` and ``builtins.split`` see them.

Nix 2.8 compiles patterns with libstdc++'s ``std::regex`` in POSIX *extended*
mode and matches byte strings.  This module reproduces that dialect, including
the places where libstdc++ is not quite POSIX:

* Escapes: only ``\\`` followed by one of ``.[\\()*+?{|^$`` is allowed; every
  other escape (``\\d``, ``\\w``, ``\\n``, ``\\]``, ``\\}``, back-references ...)
  is an invalid regular expression.  Inside brackets a backslash is an
  ordinary character.
* ``.`` matches every byte, newline included (only NUL is excluded, and Nix
  strings never contain NUL).  ``^`` and ``$`` only match at the very start
  and end of the string.
* ``]`` and ``}`` on their own are ordinary characters; ``{`` always starts
  an interval (``{``, ``a{``, ``a{,2}``, ``a{2,1}`` are invalid).  Quantifiers
  stack (``a**``, ``a{2}*``; ``a*?`` is ``(a*)?``, not a lazy loop) but cannot
  follow an anchor, ``|``, ``(`` or the start (``*a``, ``^*``, ``a|*``).
  ``()`` and empty alternatives (``a|``, ``(|a)``) are fine.
* Bracket expressions: ``]`` first is literal, ``-`` first or last is
  literal, ranges compare bytes as *signed* chars (so ``[a-\\xff]`` is
  invalid but ``[\\x80-\\xff]`` works), character classes are those of the C
  locale (``[:w:]``, ``[:d:]`` and ``[:s:]`` exist too, class names are case
  insensitive), ``[.name.]`` uses POSIX character names and ``[=x=]`` ignores
  case.
* Counted repetitions are expanded into copies; a pattern that needs more than
  100000 NFA states is rejected with "memory limit exceeded".  Counts are
  parsed the way libstdc++ parses them (64-bit accumulation truncated to a C
  ``int``), so ``a{4294967297}`` means ``a{1}``.
* Matching is a depth-first search.  For ``match`` (whole string) the capture
  groups come from the first successful path in backtracking order, exactly as
  in Python.  For ``split`` (searching) libstdc++ keeps searching after the
  first success: both sides of every ``|`` are tried and a strictly longer
  match wins, but a greedy loop never gives back iterations once anything has
  matched.  The result is neither POSIX leftmost-longest nor Perl
  leftmost-first: ``split "a|ab" "xabx"`` matches ``ab``, while
  ``split "a*(ab)?" "aab"`` matches only ``aa``.
* Empty loop iterations: libstdc++ lets a loop body match the empty string
  twice in a row at the same position, Python once.
* libstdc++ recurses once per character, so Nix overflows its stack on long
  inputs to patterns like ``(a|b)*`` (about 100 kB); here they just work.

Patterns for which Python's ``re`` provably gives the same answer are run by
``re`` (the common case).  The others run on a small interpreter of the same
NFA that libstdc++ builds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from re import Pattern
from typing import Any, Final, TypeAlias

from .errors import EvalError
from .values import to_text

__all__ = ["compile_regex", "regex_match", "regex_split"]

_STATE_LIMIT: Final = 100000  # _GLIBCXX_REGEX_STATE_LIMIT

# --------------------------------------------------------------------------
# Character classes and names (the C locale)

_ALL: Final = frozenset(chr(i) for i in range(256))


def _chars(pred: object) -> frozenset[str]:
    return frozenset(chr(i) for i in range(128) if pred(chr(i)))  # type: ignore[operator]


_CLASSES: Final[dict[str, frozenset[str]]] = {
    "alpha": _chars(lambda c: c.isalpha()),
    "digit": _chars(lambda c: c.isdigit()),
    "alnum": _chars(lambda c: c.isalnum()),
    "upper": _chars(lambda c: c.isupper()),
    "lower": _chars(lambda c: c.islower()),
    "space": _chars(lambda c: c in " \t\n\v\f\r"),
    "blank": _chars(lambda c: c in " \t"),
    "cntrl": _chars(lambda c: ord(c) < 32 or ord(c) == 127),
    "print": _chars(lambda c: 32 <= ord(c) < 127),
    "graph": _chars(lambda c: 32 < ord(c) < 127),
    "punct": _chars(lambda c: 32 < ord(c) < 127 and not c.isalnum()),
    "xdigit": _chars(lambda c: c in "0123456789abcdefABCDEF"),
}
_CLASSES["d"] = _CLASSES["digit"]
_CLASSES["s"] = _CLASSES["space"]
_CLASSES["w"] = _CLASSES["alnum"] | {"_"}

# Names accepted by [.name.] and [=name=], indexed by character code.
_CHAR_NAMES: Final = (
    "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "alert", "backspace", "tab", "newline",
    "vertical-tab", "form-feed", "carriage-return", "SO", "SI", "DLE", "DC1", "DC2", "DC3",
    "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC", "IS4", "IS3", "IS2", "IS1", "space",
    "exclamation-mark", "quotation-mark", "number-sign", "dollar-sign", "percent-sign",
    "ampersand", "apostrophe", "left-parenthesis", "right-parenthesis", "asterisk", "plus-sign",
    "comma", "hyphen", "period", "slash", "zero", "one", "two", "three", "four", "five", "six",
    "seven", "eight", "nine", "colon", "semicolon", "less-than-sign", "equals-sign",
    "greater-than-sign", "question-mark", "commercial-at", "A", "B", "C", "D", "E", "F", "G",
    "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T", "U", "V", "W", "X", "Y",
    "Z", "left-square-bracket", "backslash", "right-square-bracket", "circumflex", "underscore",
    "grave-accent", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o",
    "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z", "left-curly-bracket",
    "vertical-line", "right-curly-bracket", "tilde", "DEL",
)
_NAMED_CHAR: Final = {name: chr(i) for i, name in enumerate(_CHAR_NAMES)}


def _lower(c: str) -> str:
    return c.lower() if "A" <= c <= "Z" else c


def _signed(c: str) -> int:
    """A byte as a (signed) C ``char``: libstdc++ compares ranges this way."""
    o = ord(c)
    return o - 256 if o >= 128 else o


# --------------------------------------------------------------------------
# Syntax tree


class _Set:
    """One byte out of a set (a literal, ``.`` or a bracket expression)."""

    __slots__ = ("chars", "literal")

    def __init__(self, chars: frozenset[str], literal: str | None = None) -> None:
        self.chars = chars
        self.literal = literal


class _Assert:
    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind  # "^" or "$"


class _Group:
    __slots__ = ("alt", "index")

    def __init__(self, index: int, alt: _Alt) -> None:
        self.index = index
        self.alt = alt


class _Repeat:
    """A quantified term.  ``kind`` is ``*``, ``+``, ``?`` or ``{``.

    For ``{``: ``lo`` copies, then either a ``*`` loop (``hi is None``) or
    ``hi - lo`` nested optional copies.
    """

    __slots__ = ("body", "hi", "kind", "lo")

    def __init__(self, body: _Node, kind: str, lo: int = 0, hi: int | None = None) -> None:
        self.body = body
        self.kind = kind
        self.lo = lo
        self.hi = hi


class _Alt:
    __slots__ = ("branches",)

    def __init__(self, branches: list[list[_Node]]) -> None:
        self.branches = branches


_Node: TypeAlias = "_Set | _Assert | _Group | _Repeat"


class _Invalid(Exception):
    pass


class _TooBig(Exception):
    pass


# --------------------------------------------------------------------------
# Scanner (one token of look-ahead, errors raised while scanning, as in
# libstdc++, so that the first error reported is the same)

_SPECIAL: Final = ".[\\()*+?{|^$"

(
    T_EOF, T_ORD, T_ANY, T_BOL, T_EOL, T_STAR, T_PLUS, T_OPT, T_OR, T_LPAREN,
    T_RPAREN, T_LBRACKET, T_LBRACKET_NEG, T_RBRACKET, T_DASH, T_COLL, T_EQUIV,
    T_CLASS, T_LBRACE, T_RBRACE, T_COUNT, T_COMMA,
) = range(22)

_SIMPLE_TOKENS: Final = {
    ".": T_ANY, "^": T_BOL, "$": T_EOL, "*": T_STAR, "+": T_PLUS, "?": T_OPT,
    "|": T_OR, "(": T_LPAREN, ")": T_RPAREN,
}

_NORMAL, _IN_BRACKET, _IN_BRACE = 0, 1, 2


class _Scanner:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.mode = _NORMAL
        self.at_bracket_start = False
        self.token = T_EOF
        self.value = ""
        self.advance()

    def advance(self) -> None:
        p = self.p
        if self.i >= len(p):
            self.token = T_EOF
            return
        c = p[self.i]
        self.i += 1
        if self.mode == _NORMAL:
            if c not in _SPECIAL:
                self.token, self.value = T_ORD, c
            elif c == "\\":
                if self.i >= len(p) or p[self.i] not in _SPECIAL:
                    raise _Invalid  # also: POSIX forbids escaping ordinary chars
                self.token, self.value = T_ORD, p[self.i]
                self.i += 1
            elif c == "[":
                self.mode = _IN_BRACKET
                self.at_bracket_start = True
                if self.i < len(p) and p[self.i] == "^":
                    self.i += 1
                    self.token = T_LBRACKET_NEG
                else:
                    self.token = T_LBRACKET
            elif c == "{":
                self.mode = _IN_BRACE
                self.token = T_LBRACE
            else:
                self.token = _SIMPLE_TOKENS[c]
        elif self.mode == _IN_BRACKET:
            if c == "-":
                self.token = T_DASH
            elif c == "[":
                if self.i >= len(p):
                    raise _Invalid
                k = p[self.i]
                if k in ".:=":
                    self.i += 1
                    self.token = {".": T_COLL, ":": T_CLASS, "=": T_EQUIV}[k]
                    # the name runs to the first `k`, which must be followed by `]`
                    end = p.find(k, self.i)
                    if end < 0 or p[end + 1 : end + 2] != "]":
                        raise _Invalid
                    self.value = p[self.i : end]
                    self.i = end + 2
                else:
                    self.token, self.value = T_ORD, c
            elif c == "]" and not self.at_bracket_start:
                self.token = T_RBRACKET
                self.mode = _NORMAL
            else:
                self.token, self.value = T_ORD, c
            self.at_bracket_start = False
        else:  # in a brace
            if "0" <= c <= "9":
                j = self.i
                while j < len(p) and "0" <= p[j] <= "9":
                    j += 1
                self.token, self.value = T_COUNT, p[self.i - 1 : j]
                self.i = j
            elif c == ",":
                self.token = T_COMMA
            elif c == "}":
                self.token = T_RBRACE
                self.mode = _NORMAL
            else:
                raise _Invalid

    def take(self, token: int) -> bool:
        if self.token == token:
            self.advance()
            return True
        return False


def _count_value(digits: str) -> int:
    """A repetition count as libstdc++ reads it: a wrapping C ``long``
    accumulator returned as a C ``int``."""
    v = 0
    for d in digits:
        v = (v * 10 + ord(d) - 48) & 0xFFFFFFFFFFFFFFFF
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


# --------------------------------------------------------------------------
# Parser.  Besides the tree it counts NFA states exactly as libstdc++ inserts
# them, so that "memory limit exceeded" is reported for the same patterns.


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.sc = _Scanner(pattern)
        self.states = 0
        self.groups = 0

    def grow(self, n: int) -> None:
        self.states += n
        if self.states > _STATE_LIMIT:
            raise _TooBig

    def parse(self) -> tuple[_Alt, int]:
        self.grow(1)  # group 0 begins
        self.groups = 1
        alt, _ = self.disjunction()
        if not self.sc.take(T_EOF):
            raise _Invalid
        self.grow(2)  # group 0 ends, accept
        return alt, self.groups - 1

    # each parse function returns (node, number of states reachable in it)

    def disjunction(self) -> tuple[_Alt, int]:
        branch, reach = self.alternative()
        branches = [branch]
        while self.sc.take(T_OR):
            b, r = self.alternative()
            branches.append(b)
            reach += r + 2
            self.grow(2)  # join dummy and the alternative state
        return _Alt(branches), reach

    def alternative(self) -> tuple[list[_Node], int]:
        items: list[_Node] = []
        reach = 0
        while True:
            t = self.term()
            if t is None:
                break
            items.append(t[0])
            reach += t[1]
        self.grow(1)  # the empty tail
        return items, reach + 1

    def term(self) -> tuple[_Node, int] | None:
        sc = self.sc
        if sc.token == T_BOL or sc.token == T_EOL:
            kind = "^" if sc.token == T_BOL else "$"
            sc.advance()
            self.grow(1)
            return _Assert(kind), 1
        a = self.atom()
        if a is None:
            return None
        node, reach = a
        while True:
            q = self.quantifier(node, reach)
            if q is None:
                return node, reach
            node, reach = q

    def atom(self) -> tuple[_Node, int] | None:
        sc = self.sc
        tok = sc.token
        if tok == T_ANY:
            sc.advance()
            self.grow(1)
            return _Set(_ALL - {"\0"}), 1
        if tok == T_ORD:
            c = sc.value
            sc.advance()
            self.grow(1)
            return _Set(frozenset(c), c), 1
        if tok == T_LPAREN:
            sc.advance()
            self.grow(1)
            index = self.groups
            self.groups += 1
            alt, reach = self.disjunction()
            if not sc.take(T_RPAREN):
                raise _Invalid
            self.grow(1)
            return _Group(index, alt), reach + 2
        if tok in (T_LBRACKET, T_LBRACKET_NEG):
            sc.advance()
            chars = self.bracket(tok == T_LBRACKET_NEG)
            self.grow(1)
            return _Set(chars), 1
        return None

    def quantifier(self, node: _Node, reach: int) -> tuple[_Repeat, int] | None:
        sc = self.sc
        tok = sc.token
        if tok in (T_STAR, T_PLUS):
            sc.advance()
            self.grow(1)
            return _Repeat(node, "*" if tok == T_STAR else "+"), reach + 1
        if tok == T_OPT:
            sc.advance()
            self.grow(2)
            return _Repeat(node, "?"), reach + 2
        if tok != T_LBRACE:
            return None
        sc.advance()
        if sc.token != T_COUNT:
            raise _Invalid
        lo = _count_value(sc.value)
        sc.advance()
        self.grow(1)  # leading dummy
        infinite = False
        extra = 0
        if sc.take(T_COMMA):
            if sc.token == T_COUNT:
                extra = _count_value(sc.value) - lo
                sc.advance()
            else:
                infinite = True
        if not sc.take(T_RBRACE):
            raise _Invalid
        copies = max(lo, 0)
        self.grow(copies * reach)
        new_reach = 1 + copies * reach
        if infinite:
            self.grow(reach + 1)
            return _Repeat(node, "{", copies, None), new_reach + reach + 1
        if extra < 0:
            raise _Invalid
        self.grow(1 + extra * (reach + 1))
        return _Repeat(node, "{", copies, copies + extra), new_reach + 1 + extra * (reach + 1)

    def bracket(self, negated: bool) -> frozenset[str]:
        sc = self.sc
        chars: set[str] = set()
        ranges: list[tuple[int, int]] = []
        equiv: set[str] = set()
        last: str | None = None  # a pending single character
        last_is_class = False

        def push_char(c: str) -> None:
            nonlocal last, last_is_class
            if last is not None:
                chars.add(last)
            last, last_is_class = c, False

        def push_class() -> None:
            nonlocal last, last_is_class
            if last is not None:
                chars.add(last)
            last, last_is_class = None, True

        if sc.token == T_ORD:
            last = sc.value
            sc.advance()
        elif sc.take(T_DASH):
            last = "-"
        while True:
            tok = sc.token
            if tok == T_RBRACKET:
                sc.advance()
                break
            if tok == T_COLL:
                c = _NAMED_CHAR.get(sc.value)
                if c is None:
                    raise _Invalid
                sc.advance()
                chars.add(c)
                push_char(c)
            elif tok == T_EQUIV:
                c = _NAMED_CHAR.get(sc.value)
                if c is None:
                    raise _Invalid
                sc.advance()
                push_class()
                equiv.add(_lower(c))
            elif tok == T_CLASS:
                name = "".join(_lower(c) for c in sc.value)
                cls = _CLASSES.get(name)
                if cls is None:
                    raise _Invalid
                sc.advance()
                push_class()
                chars.update(cls)
            elif tok == T_ORD:
                c = sc.value
                sc.advance()
                push_char(c)
            elif tok == T_DASH:
                sc.advance()
                if sc.take(T_RBRACKET):
                    push_char("-")
                    break
                if last is None:  # after a class, a range or at the start
                    raise _Invalid
                if sc.token == T_ORD:
                    hi = sc.value
                    sc.advance()
                elif sc.take(T_DASH):
                    hi = "-"
                else:
                    raise _Invalid
                lo_s, hi_s = _signed(last), _signed(hi)
                if lo_s > hi_s:
                    raise _Invalid
                ranges.append((lo_s, hi_s))
                last, last_is_class = None, False
            else:
                raise _Invalid
        if last is not None:
            chars.add(last)
        result = set(chars)
        for lo_s, hi_s in ranges:
            result.update(chr(x & 0xFF) for x in range(lo_s, hi_s + 1))
        if equiv:
            result.update(c for c in _ALL if _lower(c) in equiv)
        return _ALL - result if negated else frozenset(result)


# --------------------------------------------------------------------------
# Analysis: when does Python's `re` give libstdc++'s answer?


def _first(items: list[_Node], start: int = 0) -> tuple[frozenset[str], bool]:
    """The bytes a sequence can start with, and whether it can match ''."""
    out: set[str] = set()
    for node in items[start:]:
        f, nullable = _node_first(node)
        out |= f
        if not nullable:
            return frozenset(out), False
    return frozenset(out), True


def _node_first(node: _Node) -> tuple[frozenset[str], bool]:
    if isinstance(node, _Set):
        return node.chars, False
    if isinstance(node, _Assert):
        return frozenset(), True
    if isinstance(node, _Group):
        return _alt_first(node.alt)
    f, nullable = _node_first(node.body)
    if node.kind in "*?" or (node.kind == "{" and node.lo == 0):
        nullable = True
    return f, nullable


def _alt_first(alt: _Alt) -> tuple[frozenset[str], bool]:
    out: set[str] = set()
    nullable = False
    for b in alt.branches:
        f, n = _first(b)
        out |= f
        nullable = nullable or n
    return frozenset(out), nullable


def _safety(alt: _Alt) -> tuple[bool, bool]:
    """(safe for whole-string matching, safe for searching) with Python's re.

    Whole-string matching agrees with Python unless a loop body can match the
    empty string (the two engines treat empty iterations differently).
    Searching additionally needs every ``|`` to be decided by the next byte:
    then libstdc++'s extra exploration of the other branches finds nothing.
    """
    exact_ok = True
    search_ok = True

    def walk_alt(a: _Alt) -> None:
        nonlocal search_ok
        if len(a.branches) > 1:
            seen: set[str] = set()
            for b in a.branches:
                f, nullable = _first(b)
                if nullable or seen & f:
                    search_ok = False
                seen |= f
        for b in a.branches:
            for n in b:
                walk(n)

    def walk(n: _Node) -> None:
        nonlocal exact_ok
        if isinstance(n, _Group):
            walk_alt(n.alt)
        elif isinstance(n, _Repeat):
            single = n.kind == "?" or (n.kind == "{" and n.hi is not None and n.hi - n.lo <= 1)
            if not single and _node_first(n.body)[1]:
                exact_ok = False
            walk(n.body)

    walk_alt(alt)
    return exact_ok, exact_ok and search_ok


# --------------------------------------------------------------------------
# Translation to Python's re


def _py_set(chars: frozenset[str]) -> str:
    if len(chars) == 1:
        c = next(iter(chars))
        return c if c.isascii() and c.isalnum() else f"\\x{ord(c):02x}"
    if not chars:
        return "[^\\x00-\\xff]"  # matches nothing: Nix strings hold bytes
    codes = sorted(ord(c) for c in chars)
    parts: list[str] = []
    i = 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        if j == i:
            parts.append(f"\\x{codes[i]:02x}")
        else:
            parts.append(f"\\x{codes[i]:02x}-\\x{codes[j]:02x}")
        i = j + 1
    return "[" + "".join(parts) + "]"


def _py_alt(alt: _Alt) -> str:
    return "|".join("".join(_py_node(n) for n in b) for b in alt.branches)


def _py_node(node: _Node) -> str:
    if isinstance(node, _Set):
        return _py_set(node.chars)
    if isinstance(node, _Assert):
        return r"\A" if node.kind == "^" else r"\Z"
    if isinstance(node, _Group):
        return "(" + _py_alt(node.alt) + ")"
    body = _py_node(node.body)
    if isinstance(node.body, _Repeat):  # Python reads `a*?` as lazy, `a*+` as possessive
        body = "(?:" + body + ")"
    if node.kind != "{":
        return body + node.kind
    if node.hi is None:
        return f"{body}{{{node.lo},}}"
    return f"{body}{{{node.lo},{node.hi}}}"


# --------------------------------------------------------------------------
# The libstdc++ NFA and its depth-first executor

_MATCH, _REPEAT, _ALTERN, _BEGIN, _END, _BOL, _EOL, _ACCEPT, _DUMMY = range(9)

# Branch points an attempt visits before it starts remembering dead ends.
_MEMO_AFTER = 200


class _NFA:
    def __init__(self, alt: _Alt) -> None:
        self.kind: list[int] = []
        self.next: list[int] = []
        self.alt: list[int] = []
        self.arg: list[object] = []
        start = self.new(_BEGIN, 0)
        s, e = self.disjunction(alt)
        self.next[start] = s
        end = self.new(_END, 0)
        self.next[e] = end
        self.next[end] = self.new(_ACCEPT)
        self.start = start
        self.eliminate_dummies()

    def new(self, kind: int, arg: object = None, alt: int = -1) -> int:
        self.kind.append(kind)
        self.next.append(-1)
        self.alt.append(alt)
        self.arg.append(arg)
        return len(self.kind) - 1

    def disjunction(self, a: _Alt) -> tuple[int, int]:
        s, e = self.sequence(a.branches[0])
        for b in a.branches[1:]:
            s2, e2 = self.sequence(b)
            join = self.new(_DUMMY)
            self.next[e] = join
            self.next[e2] = join
            fork = self.new(_ALTERN, alt=s)  # left branch first
            self.next[fork] = s2
            s, e = fork, join
        return s, e

    def sequence(self, items: list[_Node]) -> tuple[int, int]:
        first = last = -1
        for n in items:
            s, e = self.node(n)
            if first < 0:
                first = s
            else:
                self.next[last] = s
            last = e
        d = self.new(_DUMMY)
        if first < 0:
            return d, d
        self.next[last] = d
        return first, d

    def node(self, n: _Node) -> tuple[int, int]:
        if isinstance(n, _Set):
            st = self.new(_MATCH, n.chars)
            return st, st
        if isinstance(n, _Assert):
            st = self.new(_BOL if n.kind == "^" else _EOL)
            return st, st
        if isinstance(n, _Group):
            b = self.new(_BEGIN, n.index)
            s, e = self.disjunction(n.alt)
            self.next[b] = s
            end = self.new(_END, n.index)
            self.next[e] = end
            return b, end
        return self.repeat(n)

    def repeat(self, n: _Repeat) -> tuple[int, int]:
        if n.kind == "*" or n.kind == "+":
            s, e = self.node(n.body)
            r = self.new(_REPEAT, alt=s)
            self.next[e] = r
            return (r if n.kind == "*" else s), r
        if n.kind == "?":
            s, e = self.node(n.body)
            join = self.new(_DUMMY)
            r = self.new(_REPEAT, alt=s)
            self.next[e] = join
            self.next[r] = join
            return r, join
        first = last = self.new(_DUMMY)
        for _ in range(n.lo):
            s, e = self.node(n.body)
            self.next[last] = s
            last = e
        if n.hi is None:
            s, e = self.node(n.body)
            r = self.new(_REPEAT, alt=s)
            self.next[e] = r
            self.next[last] = r
            return first, r
        join = self.new(_DUMMY)
        for _ in range(n.hi - n.lo):
            s, e = self.node(n.body)
            r = self.new(_REPEAT, alt=s)  # "once more" is the body ...
            self.next[r] = join  # ... "no more" skips all remaining copies
            self.next[last] = r
            last = e
        self.next[last] = join
        return first, join

    def eliminate_dummies(self) -> None:
        kind, nxt = self.kind, self.next
        for i in range(len(kind)):
            while nxt[i] >= 0 and kind[nxt[i]] == _DUMMY:
                nxt[i] = nxt[nxt[i]]
            a = self.alt[i]
            while a >= 0 and kind[a] == _DUMMY:
                a = nxt[a]
            self.alt[i] = a

    def run(self, s: str, begin: int, exact: bool, not_null: bool,
            ngroups: int) -> list[tuple[int, int] | None] | None:
        """One attempt at position `begin` (libstdc++'s _M_main in DFS mode).

        The search is libstdc++'s, step for step, except that it remembers
        branch points it has fully explored without finding a match, so that
        it is not exponential where libstdc++ is.  That is sound because what
        a branch point finds depends only on the state, the position, whether
        a match was found before (which prunes loop exits) and the loops that
        were entered at this very position (their count of empty iterations);
        it only remembers branch points where no such loop is pending.
        """
        kind, nxt, alt, arg = self.kind, self.next, self.alt, self.arg
        n = len(s)
        first = [-1] * (ngroups + 1)
        second = [-1] * (ngroups + 1)
        matched = [False] * (ngroups + 1)
        rep_pos = [-1] * len(kind)
        rep_cnt = [0] * len(kind)
        pending: dict[int, int] = {}  # loops entered at each position, on the current path
        dead: set[int] = set()  # (state, position, has_sol) packed into an int
        width = 2 * (n + 1)
        solutions = 0
        branches = 0
        memo_after = _MEMO_AFTER  # short searches are faster without it
        best: list[tuple[int, int] | None] | None = None
        best_end = -1
        has_sol = False
        VISIT, REP_EXIT, REP_RESTORE, REP_DEC, ALT_RHS, ALT_MERGE = 0, 1, 2, 3, 4, 5
        SET_FIRST, SET_END, DONE = 6, 7, 8
        stack: list[tuple[int, int, Any]] = [(VISIT, self.start, begin)]
        pop, push = stack.pop, stack.append
        while stack:
            op, st, x = pop()
            if op == VISIT:
                pos: int = x
                k = kind[st]
                if k == _MATCH:
                    if pos < n and s[pos] in arg[st]:  # type: ignore[operator]
                        push((VISIT, nxt[st], pos + 1))
                    continue
                if k in (_REPEAT, _ALTERN):
                    branches += 1
                    if branches > memo_after and not pending.get(pos):
                        key = st * width + 2 * pos + has_sol
                        if key in dead:
                            continue
                        push((DONE, 0, (key, solutions)))
                    if k == _ALTERN:
                        push((ALT_RHS, st, pos))
                        push((VISIT, alt[st], pos))
                        continue
                    push((REP_EXIT, st, pos))
                    if rep_cnt[st] == 0 or rep_pos[st] != pos:
                        old = rep_pos[st], rep_cnt[st]
                        if old[1]:
                            pending[old[0]] -= 1
                        push((REP_RESTORE, st, old))
                        rep_pos[st] = pos
                        rep_cnt[st] = 1
                        pending[pos] = pending.get(pos, 0) + 1
                        push((VISIT, alt[st], pos))
                    elif rep_cnt[st] < 2:
                        push((REP_DEC, st, None))
                        rep_cnt[st] += 1
                        push((VISIT, alt[st], pos))
                elif k == _BEGIN:
                    g: int = arg[st]  # type: ignore[assignment]
                    push((SET_FIRST, g, first[g]))
                    first[g] = pos
                    push((VISIT, nxt[st], pos))
                elif k == _END:
                    g = arg[st]  # type: ignore[assignment]
                    push((SET_END, g, (second[g], matched[g])))
                    second[g] = pos
                    matched[g] = True
                    push((VISIT, nxt[st], pos))
                elif k == _BOL:
                    if pos == 0:
                        push((VISIT, nxt[st], pos))
                elif k == _EOL:
                    if pos == n:
                        push((VISIT, nxt[st], pos))
                else:  # accept
                    has_sol = pos == n if exact else True
                    if not_null and pos == begin:
                        has_sol = False
                    if has_sol:
                        solutions += 1
                        if pos > best_end:
                            best_end = pos
                            best = [(first[i], second[i]) if matched[i] else None
                                    for i in range(ngroups + 1)]
                            if exact or pos == n:
                                return best  # nothing later can replace it
            elif op == REP_EXIT:
                if not has_sol:
                    push((VISIT, nxt[st], x))
            elif op == REP_RESTORE:
                pending[rep_pos[st]] -= 1
                rep_pos[st], rep_cnt[st] = x
                if x[1]:
                    pending[x[0]] = pending.get(x[0], 0) + 1
            elif op == REP_DEC:
                rep_cnt[st] -= 1
            elif op == ALT_RHS:
                push((ALT_MERGE, 0, has_sol))
                has_sol = False
                push((VISIT, nxt[st], x))
            elif op == ALT_MERGE:
                has_sol = has_sol or x
            elif op == SET_FIRST:
                first[st] = x
            elif op == SET_END:
                second[st], matched[st] = x
            elif x[1] == solutions:  # DONE: explored, nothing found
                dead.add(x[0])
        return best


# --------------------------------------------------------------------------
# Compiled patterns


class _Regex:
    __slots__ = ("_nfa", "alt", "exact_ok", "groups", "py", "search_ok")

    def __init__(self, pattern: str) -> None:
        try:
            self.alt, self.groups = _Parser(pattern).parse()
        except _Invalid:
            raise EvalError(f"invalid regular expression '{to_text(pattern)}'") from None
        except _TooBig:
            raise EvalError(
                f"memory limit exceeded by regular expression '{to_text(pattern)}'"
            ) from None
        self.py = re.compile(_py_alt(self.alt))
        self.exact_ok, self.search_ok = _safety(self.alt)
        self._nfa: _NFA | None = None

    @property
    def nfa(self) -> _NFA:
        if self._nfa is None:
            self._nfa = _NFA(self.alt)
        return self._nfa


@lru_cache(maxsize=512)
def _get(pattern: str) -> _Regex:
    return _Regex(pattern)


def _compiled(pattern: str) -> _Regex:
    return _get(str(pattern))  # drop any string context from the cache key


def compile_regex(pattern: str) -> Pattern[str]:
    """The Python pattern equivalent to a Nix (POSIX extended) pattern.

    Raises :class:`EvalError` with Nix's message for an invalid pattern.
    Capture groups are numbered as in Nix.  The pattern matches the same
    strings; which *submatch* it reports can differ from Nix in the rare cases
    described in the module docstring, so use :func:`regex_match` and
    :func:`regex_split` for Nix semantics.
    """
    return _compiled(pattern).py


def _spans_custom(rx: _Regex, s: str) -> Iterator[list[tuple[int, int] | None]]:
    """The matches std::sregex_iterator produces, found by the NFA interpreter:
    after an empty match it first looks for a non-empty one at the same place,
    then searches on from the next byte."""
    nfa, n, py = rx.nfa, len(s), rx.py

    def search(start: int) -> list[tuple[int, int] | None] | None:
        while start <= n:
            # Python finds the leftmost position where some match starts;
            # both engines agree on that, not on which match it is.
            m = py.search(s, start)
            if m is None:
                return None
            res = nfa.run(s, m.start(), False, False, rx.groups)
            if res is not None:
                return res
            start = m.start() + 1  # pragma: no cover - cannot happen
        return None

    res = search(0)
    while res is not None:
        yield res
        b, e = res[0]  # type: ignore[misc]
        if b == e:
            if e == n:
                return
            again = nfa.run(s, e, False, True, rx.groups)
            if again is not None:
                res = again
                continue
            e += 1
        res = search(e)


def _nfa_match(rx: _Regex, s: str) -> list[str | None] | None:
    res = rx.nfa.run(s, 0, True, False, rx.groups)
    if res is None:
        return None
    return [None if g is None else s[g[0] : g[1]] for g in res[1:]]


def _nfa_split(rx: _Regex, s: str) -> list[str | list[str | None]]:
    out: list[str | list[str | None]] = []
    prev = 0
    for res in _spans_custom(rx, s):
        b, e = res[0]  # type: ignore[misc]
        out.append(s[prev:b])
        out.append([None if g is None else s[g[0] : g[1]] for g in res[1:]])
        prev = e
    out.append(s[prev:])
    return out


def regex_match(pattern: str, s: str) -> list[str | None] | None:
    """``builtins.match``: None if `s` as a whole does not match, else the
    capture groups (None for a group that did not take part)."""
    rx = _compiled(pattern)
    if not rx.exact_ok:
        return _nfa_match(rx, s)
    m = rx.py.fullmatch(s)
    return None if m is None else list(m.groups())


def regex_split(pattern: str, s: str) -> list[str | list[str | None]]:
    """``builtins.split``: the parts of `s` between matches, interleaved with
    lists of each match's capture groups."""
    rx = _compiled(pattern)
    if not rx.search_ok:
        return _nfa_split(rx, s)
    out: list[str | list[str | None]] = []
    prev = 0
    for m in rx.py.finditer(s):
        out.append(s[prev : m.start()])
        out.append(list(m.groups()))
        prev = m.end()
    out.append(s[prev:])
    return out

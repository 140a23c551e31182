"""builtins.match / builtins.split semantics, checked against the real Nix 2.8.

Nothing expected is stored here: every case is evaluated by ``nix-instantiate`` at
test time and our answer must be identical.  Cases are batched into one Nix call.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import needs
from pynix.lang import regex
from pynix.lang.errors import EvalError
from pynix.lang.values import NixStr

NIX = shutil.which("nix-instantiate")


@pytest.fixture(autouse=True)
def _need_nix() -> None:
    needs.nix()


def nix_string(s: str) -> str:
    """A Nix string literal for a byte string."""
    out = ['"']
    for c in s:
        out.append({"\\": "\\\\", '"': '\\"', "$": "\\$", "\n": "\\n", "\r": "\\r",
                    "\t": "\\t"}.get(c, c))
    out.append('"')
    return "".join(out)


def nix_eval(expr: str) -> tuple[bool, object]:
    """(True, value from --json) or (False, first line of the error, without 'error: ')."""
    assert NIX is not None
    r = subprocess.run([NIX, "--eval", "--strict", "--json", "-E", expr.encode("latin-1")],
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        first = r.stderr.decode("utf-8", "replace").split("\n")[0]
        return False, first.removeprefix("error: ")
    return True, json.loads(r.stdout.decode("latin-1"))


def call(fn: str, pattern: str, s: str) -> object:
    if fn == "match":
        return regex.regex_match(pattern, s)
    return regex.regex_split(pattern, s)


def call_nfa(fn: str, pattern: str, s: str) -> object:
    """The same through the libstdc++-like interpreter, bypassing Python's re, with
    its memory of dead ends switched on from the first step."""
    rx = regex._compiled(pattern)
    saved, regex._MEMO_AFTER = regex._MEMO_AFTER, 0
    try:
        return regex._nfa_match(rx, s) if fn == "match" else regex._nfa_split(rx, s)
    finally:
        regex._MEMO_AFTER = saved


def check_batch(cases: list[tuple[str, str, str]], nfa_too: bool = True) -> None:
    expr = "[" + " ".join(f"(builtins.{fn} {nix_string(p)} {nix_string(s)})"
                          for fn, p, s in cases) + "]"
    ok, want = nix_eval(expr)
    assert ok, want
    assert isinstance(want, list)
    for (fn, p, s), w in zip(cases, want, strict=True):
        assert call(fn, p, s) == w, (fn, p, s)
        if nfa_too:
            assert call_nfa(fn, p, s) == w, ("nfa", fn, p, s)


# --------------------------------------------------------------------------
# Fixed cases

CASES: list[tuple[str, str, str]] = [
    # basics and anchoring
    ("match", "abc", "abc"),
    ("match", "abc", "abcd"),
    ("match", "a", "ba"),
    ("match", "", ""),
    ("match", "", "a"),
    ("match", "(a)(b)?", "a"),
    ("match", "x(a){0}", "x"),
    ("match", "^a$", "a"),
    ("match", "a^", "a"),
    ("match", "a$b", "ab"),
    ("match", "$", ""),
    ("match", "(^a|b)*", "ab"),
    ("split", "^a", "aaa"),
    ("split", "a$", "aaa"),
    ("split", "$", "ab"),
    ("split", "^", "ab"),
    # the dot and newlines
    ("match", ".", "\n"),
    ("split", ".", "a\nb"),
    ("match", "a.c", "a\xe9c"),
    ("match", ".*", "line1\nline2"),
    # escapes that are allowed
    ("match", "\\.", "."),
    ("match", "\\.", "a"),
    ("match", "\\*\\+\\?\\(\\)\\[\\{\\|\\^\\$\\\\", "*+?()[{|^$\\"),
    ("match", "a]", "a]"),
    ("match", "}", "}"),
    ("match", "a}", "a}"),
    ("match", "]", "]"),
    # bracket expressions
    ("match", "[]a]", "]"),
    ("match", "[]a]*", "]a]"),
    ("match", "[^]a]", "]"),
    ("match", "[^]a]", "b"),
    ("match", "[^]]", "a"),
    ("match", "[a-]", "-"),
    ("match", "[-a]", "-"),
    ("match", "[^-a]", "b"),
    ("match", "[a-]]", "a]"),
    ("match", "[]-a]", "^"),
    ("match", "[]-]", "-"),
    ("match", "[%--]", "+"),
    ("match", "[!--]", ","),
    ("match", "[--/]", "."),
    ("match", "[a-a]", "a"),
    ("match", "[\\]", "\\"),
    ("match", "[a\\]]", "a]"),
    ("match", "[\\n]", "n"),
    ("match", "[\\n]", "\\"),
    ("match", "[[]", "["),
    ("match", "[[a]", "a"),
    ("match", "[:a]", ":"),
    ("match", "[a:]", ":"),
    ("match", "[.]", "."),
    ("match", "[.]", "a"),
    ("match", "[[:alpha:]-]", "-"),
    ("match", "[-[:alpha:]]", "-"),
    ("match", "[[.a.]-c]", "b"),
    ("match", "[[.hyphen.]]", "-"),
    ("match", "[[.space.]]", " "),
    ("match", "[[.tab.]]", "\t"),
    ("match", "[[.A.]]", "a"),
    ("match", "[[.left-square-bracket.]]+", "[["),
    ("match", "[[=a=]]", "A"),
    ("match", "[[=A=]]", "a"),
    ("match", "[[=b=]]", "a"),
    ("match", "[\x80-\xff]+", "\xe9\x80\xff"),
    ("match", "[^a]", "\xe9"),
    # character classes (C locale, ASCII only)
    ("match", "[[:alpha:]]", "x"),
    ("match", "[[:alpha:]]", "\xe9"),
    ("match", "[[:alpha:][:digit:]]+", "x1"),
    ("match", "[[:upper:][:digit:]]+", "A1"),
    ("match", "[^[:upper:]]", "A"),
    ("match", "[^[:upper:]]", "a"),
    ("match", "[[:d:]]", "5"),
    ("match", "[[:w:]]+", "a_1"),
    ("match", "[[:s:]]", " "),
    ("match", "[[:ALPHA:]]", "a"),
    ("match", "[[:Alpha:]]", "a"),
    ("match", "[[:space:]]+", " \t\n\r\x0b\x0c"),
    ("match", "[[:blank:]]+", " \t"),
    ("match", "[[:blank:]]", "\n"),
    ("match", "[[:cntrl:]]+", "\x01\x1f\x7f"),
    ("match", "[[:print:]]+", " ~"),
    ("match", "[[:print:]]", "\x7f"),
    ("match", "[[:graph:]]", " "),
    ("match", "[[:punct:]]+", "!/:@[`{~"),
    ("match", "[[:punct:]]", "_"),
    ("match", "[[:xdigit:]]+", "09afAF"),
    ("match", "[[:xdigit:]]", "g"),
    ("match", "[[:lower:]]+", "az"),
    ("match", "[[:alnum:]]+", "aZ09"),
    ("match", "[:alpha:]", "a"),
    # repetition
    ("match", "a{0}", ""),
    ("match", "a{0,0}", ""),
    ("match", "(a){2}", "aa"),
    ("match", "(a|b){2,3}", "ab"),
    ("match", "(a|b){2,3}", "abab"),
    ("match", "x{1}{2}", "xx"),
    ("match", "a{2,}", "aaaaa"),
    ("match", "a{01}", "a"),
    ("match", "a**", "aa"),
    ("match", "a*?", "aa"),
    ("match", "a+?", "aa"),
    ("match", "a?*", "aaa"),
    ("match", "a{1,2}?", "aa"),
    ("match", "a{2}*", "aaaa"),
    ("match", "a{1,2}{2}", "aaa"),
    ("match", "a{4294967297}", "a"),
    ("match", "a{4294967296}", ""),
    ("match", "a{2147483648}", ""),
    ("match", "a{0,4294967297}", "a"),
    ("match", "a{18446744073709551617}", "a"),
    ("split", "a{4294967297}", "aaa"),
    # groups, empty alternatives, empty loops
    ("match", "()", ""),
    ("match", "()*", "a"),
    ("match", "a|", ""),
    ("match", "|a", ""),
    ("match", "(|a)", "a"),
    ("match", "(a|)", "a"),
    ("match", "a||b", "b"),
    ("match", "a(|)b", "ab"),
    ("match", "(|a)*", "a"),
    ("match", "(|a){0,2}", "a"),
    ("match", "(a*)*", "b"),
    ("match", "(a*)*", ""),
    ("match", "(a*)+", ""),
    ("match", "(a|b|)*", "abab"),
    ("match", "((a)|b)*", "ab"),
    ("match", "((a)|(b))*", "ab"),
    ("match", "(a|ab)(c|bcd)(d*)", "abcd"),
    ("match", "(a|ab)(bcd|c)", "abcd"),
    ("match", "(a*)(ab)?b*", "aab"),
    ("match", "(a*)(a|b)", "aab"),
    ("match", "((a)|b)+(c)?", "abc"),
    # split: leftmost-longest-ish search, empty matches
    ("split", "(a|ab)(c|bcd)(d*)", "abcd"),
    ("split", "a|ab", "xabx"),
    ("split", "ab|a", "xabx"),
    ("split", "(a|ab)(b*)", "abbb"),
    ("split", "a*(ab)?", "aab"),
    ("split", "([^a]|b(b{2}))", "bbbba"),
    ("split", "a?|b^$|b", "aabba"),
    ("split", ".|.{1,}", "aaaaa"),
    ("split", "x*", "axbc"),
    ("split", "x*", ""),
    ("split", "", ""),
    ("split", "", "ab"),
    ("split", "a", ""),
    ("split", "a", "b"),
    ("split", "b*", "abbbc"),
    ("split", "(b)*", "abbbc"),
    ("split", "(a)|b", "ab"),
    ("split", "([[:space:]]+)|(,)", "a, b ,c"),
    ("split", "(\\.|-)", "1.2-rc3"),
    ("split", "\n", "l1\nl2\n"),
    ("split", "([,;]|[[:space:]]+)", "word1,  next-1;end word2"),
    ("split", "(,|;|[[:space:]]+|x|xy)", "a,xyb;  c"),
    ("split", "(a*|b)", "bab"),
    ("split", "(|a)+", "aa"),
    # exponential for libstdc++ (and for a plain backtracking search)
    ("match", "(a|b|)*c", "abababababababab"),
    ("match", "(^)+(.{0,1}(){0,2}){1,}^", "cccc."),
    ("split", "(a|b|)*c", "ababcabab"),
    ("split", "((a|b)*|c)*x", "abcabcab"),
    # bytes
    ("match", "\xc3\xa9+", "\xc3\xa9\xa9"),
    ("match", "(\xc3\xa9)+", "\xc3\xa9\xc3\xa9"),
    ("split", "\xe9", "a\xe9b"),
    # a realistic one from the benchmark
    ("match", '[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*'
              '("([^"]*)"|[^[:space:]]+)[[:space:]]*', '  spaced_key_2   =   "quoted 2"  '),
    ("match", "([0-9]+)\\.([0-9]+)(\\.([0-9]+))?(-?(alpha|beta|rc)([0-9]*))?", "1.2-rc3"),
    ("match", "[[]([a-z]+)[.]([0-9]+)[]]", "[section.3]"),
]


def test_fixed_cases() -> None:
    check_batch(CASES)


INVALID = [
    "(", ")", "a)", "(a))", "a{", "a{1", "{", "a{,2}", "a{1,2,3}", "a{ 1}", "a{1 }",
    "a{2,1}", "a{x}", "*a", "+", "?", "^*", "a|*", "(*a)", "(+)", "a|+", "(?:a)",
    "\\", "a\\", "\\d", "\\w", "\\s", "\\b", "\\n", "\\t", "\\1", "(a)\\1", "\\}", "\\]",
    "\\-", "\\/", "\\a", "\\x41", "[", "[a", "[]", "[^]", "[b-a]", "[a-z-9]", "[a-c-e]",
    "[z-a]", "[a-\xff]", "[\x01-\xff]", "[[:foo:]]", "[[:alpha:]", "[[:]", "[[=]", "[[.]",
    "[[:a]", "[[.-.]]", "[[.ab.]]", "[[..]]", "[[.]].]", "[a-[.z.]]", "[[=a=]-c]",
    "[[:alpha:]-z]", "[a-[:alpha:]]", "[a--]",
]
TOO_BIG = [
    "a{99994}", "a{1000}{100}", ".{1000}{1000}", "(a){33330}", "a{1,49998}",
    "(a|b){1,16665}", "a{200000,1}", "a{99999}(",
]
NOT_TOO_BIG = ["a{99993}", "ab{49998}", "a{1,49997}", "a{99999}\\"]


@pytest.mark.parametrize("pattern", INVALID + TOO_BIG + NOT_TOO_BIG)
def test_errors_and_limits(pattern: str) -> None:
    ok, want = nix_eval(f'builtins.match {nix_string(pattern)} "a"')
    try:
        got: object = regex.regex_match(pattern, "a")
    except EvalError as e:
        assert not ok and e.msg == want
    else:
        assert ok and got == want


def test_split_errors_too() -> None:
    ok, want = nix_eval('builtins.split "(" "a"')
    with pytest.raises(EvalError) as e:
        regex.regex_split("(", "a")
    assert not ok and e.value.msg == want


# --------------------------------------------------------------------------
# Random patterns over a tiny alphabet


# Kept small enough for libstdc++, whose search is exponential in nested loops: a
# group that contains an unbounded loop is only repeated a bounded number of times.
_BOUNDED = ["", "", "", "?", "{1}", "{2}", "{0,1}", "{1,2}", "{0,2}"]
_UNBOUNDED = ["*", "+", "{1,}"]
_Piece = tuple[str, bool]  # (text, contains an unbounded loop)


def _quantified(a: _Piece) -> st.SearchStrategy[_Piece]:
    choices = _BOUNDED + ([] if a[1] else _UNBOUNDED)
    return st.sampled_from(choices).map(lambda q: (a[0] + q, a[1] or q in _UNBOUNDED))


def _regex(atom: st.SearchStrategy[_Piece]) -> st.SearchStrategy[_Piece]:
    term = st.one_of(atom.flatmap(_quantified), st.sampled_from([("^", False), ("$", False)]))
    branch = st.lists(term, max_size=3).map(
        lambda ts: ("".join(t[0] for t in ts), any(t[1] for t in ts)))
    return st.lists(branch, min_size=1, max_size=3).map(
        lambda bs: ("|".join(b[0] for b in bs), any(b[1] for b in bs)))


def _patterns() -> st.SearchStrategy[str]:
    atom: st.SearchStrategy[_Piece] = st.sampled_from(
        [(a, False) for a in ["a", "b", "a", "b", "c", ".", "[ab]", "[^a]", "()", "\\."]])
    for _ in range(2):
        inner = _regex(atom)
        atom = st.one_of(atom, atom, inner.map(lambda r: (f"({r[0]})", r[1])))
    return _regex(atom).map(lambda r: r[0])


_CASE = st.tuples(st.sampled_from(["match", "split"]), _patterns(),
                  st.text(alphabet="ab.c", max_size=5))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_CASE, min_size=20, max_size=20))
def test_random_patterns(cases: list[tuple[str, str, str]]) -> None:
    check_batch(cases)


# --------------------------------------------------------------------------
# The API around the primitives


def test_compile_regex_is_memoised_and_python_compatible() -> None:
    p = "([a-z]+)-([0-9]+)"
    assert regex.compile_regex(p) is regex.compile_regex(p)
    m = regex.compile_regex(p).fullmatch("pkg-12")
    assert m is not None
    ok, want = nix_eval(f'builtins.match {nix_string(p)} "pkg-12"')
    assert ok and list(m.groups()) == want


def test_compile_regex_raises_nix_error() -> None:
    ok, want = nix_eval('builtins.match "a{2,1}" ""')
    with pytest.raises(EvalError) as e:
        regex.compile_regex("a{2,1}")
    assert not ok and e.value.msg == want


def test_strings_with_context_give_plain_strings() -> None:
    from pynix.lang.evaluator import Evaluator
    from pynix.lang.runtime import deep_force

    ev = Evaluator()
    s = NixStr("foo-1.2", frozenset({"/nix/store/x"}))
    pattern = NixStr("(f)", frozenset({"/nix/store/y"}))
    split = ev.builtins["split"].fn
    match = ev.builtins["match"].fn
    got = deep_force(split("-", s))
    assert got == ["foo", [], "1.2"]
    assert all(type(x) is str for x in got if not isinstance(x, list))
    m = deep_force(match("(.*)-(.*)", s))
    assert m == ["foo", "1.2"] and all(type(x) is str for x in m)
    assert deep_force(match(pattern, "f")) == ["f"]


def test_long_inputs() -> None:
    # (Nix itself overflows its stack on much longer inputs to "(a|b)*": libstdc++
    # recurses once per character.  We return the answer instead.)
    s = "ab" * 3000
    ok, want = nix_eval(
        'let s = builtins.concatStringsSep "" (builtins.genList (x: "ab") 3000); in '
        '[ (builtins.length (builtins.split "b" s)) (builtins.match "(a|b)*" s) '
        '(builtins.length (builtins.split "(a|ab)" s)) (builtins.match "(.*)b" s) ]')
    assert ok
    got = [len(regex.regex_split("b", s)), regex.regex_match("(a|b)*", s),
           len(regex.regex_split("(a|ab)", s)), regex.regex_match("(.*)b", s)]
    assert got == want

"""fromJSON, the JSON string and float writers, fromTOML and XML printing, checked
against the real Nix 2.8 at test time (nothing expected is stored here)."""

from __future__ import annotations

import itertools
import json
import math
import random
import shutil
import subprocess
import sys
from pathlib import Path
from types import FunctionType
from typing import Any

import pytest

import needs
from pynix.lang import errors
from pynix.lang.errors import EvalError, ThrownError
from pynix.lang.formats import from_json, from_toml, json_float, to_json_string, to_xml
from pynix.lang.values import (
    LAMBDA_INFO,
    LambdaInfo,
    NixPath,
    NixStr,
    Pos,
    PrimOp,
    PrimOpApp,
    Thunk,
    force,
    type_name,
)

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


def nix(args: list[str], expr_or_file: str) -> tuple[bool, str]:
    """Run nix-instantiate --eval; (True, stdout) or (False, first error line)."""
    assert NIX is not None
    r = subprocess.run([NIX, "--eval", *args, expr_or_file.encode("latin-1")],
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        return False, r.stderr.decode("utf-8", "replace").split("\n")[0].removeprefix("error: ")
    return True, r.stdout.decode("latin-1")


def nix_json(expr: str) -> tuple[bool, str]:
    ok, out = nix(["--strict", "--json", "-E"], expr)
    return ok, out.rstrip("\n") if ok else out


def render(v: Any) -> str:
    """Our value as `nix-instantiate --json` prints a value."""
    v = force(v)
    if v is None:
        return "null"
    if v is True or v is False:
        return "true" if v else "false"
    if type(v) is int:
        return str(v)
    if type(v) is float:
        return json_float(v)
    if isinstance(v, str):
        return to_json_string(v)
    if type(v) is list:
        return "[" + ",".join(render(x) for x in v) + "]"
    assert type(v) is dict
    return "{" + ",".join(to_json_string(k) + ":" + render(v[k]) for k in sorted(v)) + "}"


def types_of(v: Any) -> Any:
    v = force(v)
    if type(v) is list:
        return [types_of(x) for x in v]
    if type(v) is dict:
        return {k: types_of(x) for k, x in v.items()}
    return type_name(v)


TYPES_NIX = ('types = v: let t = builtins.typeOf v; in if t == "list" then map types v '
             'else if t == "set" then builtins.mapAttrs (n: types) v else t;')


def check_reader(builtin: str, read: Any, text: str) -> None:
    """`builtin text` in Nix against `read(text)` here: same value and types, or the
    same error."""
    ok, want = nix_json(f"let v = builtins.{builtin} {nix_string(text)}; {TYPES_NIX} "
                        "in [ v (types v) ]")
    try:
        v = read(text)
    except EvalError as e:
        assert not ok, (text, want, e.msg)
        assert e.msg == want
        return
    assert ok, (text, want)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20000))  # for the deeply nested case
    try:
        assert render([v, types_of(v)]) == want
    finally:
        sys.setrecursionlimit(limit)


# --------------------------------------------------------------------------
# fromJSON

JSON_CASES = [
    "1", "0", "-0", "1.0", "-0.0", "1e3", "1E3", "2.5E+2", "-1E-2", "1.0e0", "0.1", "1.5e-7",
    "9223372036854775807", "9223372036854775808", "18446744073709551615",
    "18446744073709551616", "-9223372036854775808", "-9223372036854775809",
    "123456789012345678901234567890", "1" * 400, "1" * 300 + ".5", "1e-400",
    "[1e308,1.7976931348623157e308,5e-324]", "true", "false", "null", "[true,false,null]",
    "[]", "{}", "[[[[]]]]", '{"a":{"b":[1,{"c":null}]}}', '{"b":1,"a":[]}',
    '{"a":1,"a":2}', '{"":1}', '{"__functor":1}', "\t\r\n 1 \n",
    '"\\u00e9\\ud83d\\ude00"', '"\\uD834\\uDD1E"', '"\\/\\b\\f\\n\\r\\t\\"\\\\"',
    '"a\\u0000b"', '{"k\\u0000":"v\\u0000w"}', '"\\\\u00e9"', '"\x7f"',
    '"\xc3\xa9\xe2\x98\x83\xf0\x9f\x98\x80"', '{"caf\xc3\xa9":"\\u2603"}',
    "\xef\xbb\xbf[1]", "[" * 3000 + "]" * 3000,
    # errors
    "", " ", "01", "-01", "-", ".5", "1.", "+1", "1e", "1e+", "1.5e-", "[-", "nul", "tru",
    "truex", "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1.0e400", "1E400",
    "[1,2,]", "[1,]", "{\"a\":1,}", '{"a":1 "b":2}', '{"a":1', "{", "[", "[1", "[1 2]",
    '{"a" 1}', "{1:2}", '{"a"}', "[]]", "1]", "1 2", ":", "}", "/*c*/1", "\x0c1",
    '"\\x"', '"abc', '"\\u12"', '"\\uzzzz"', '"\\ud83d"', '"\\ude00"', '"\\ud83dx"',
    '"\\ud83d\\u0041"', '"\\u0041\\u00"', '"\x01"', '"\x1f"', '"a\nb"', "[1,\n2,\nx]",
    '"\xe9"', '"\xed\xa0\x80"', '"\xf4\x90\x80\x80"', '"\xc3"', '"\xe2\x98"',
    "\xef\xbb[1]", "[1,\n\n  2 3]",
]


@pytest.mark.parametrize("text", JSON_CASES, ids=[repr(t)[:40] for t in JSON_CASES])
def test_from_json(text: str) -> None:
    check_reader("fromJSON", from_json, text)


def test_from_json_random_documents() -> None:
    rng = random.Random(7)

    def gen(depth: int) -> Any:
        r = rng.random()
        if depth > 3 or r < 0.4:
            return rng.choice([
                rng.randint(-10**6, 10**6), rng.randint(-2**63, 2**63 - 1), rng.random() * 1e6,
                True, False, None, "".join(rng.choice("ab\u00e9\u2603\U0001F600\n\"\\/\t")
                                           for _ in range(rng.randint(0, 6)))])
        if r < 0.7:
            return [gen(depth + 1) for _ in range(rng.randint(0, 4))]
        return {gen_key(): gen(depth + 1) for _ in range(rng.randint(0, 4))}

    def gen_key() -> str:
        return "".join(rng.choice("xyz\u00e9") for _ in range(rng.randint(0, 3)))

    docs = [json.dumps(gen(0), ensure_ascii=rng.random() < 0.5) for _ in range(30)]
    texts = [d.encode("utf-8").decode("latin-1") for d in docs]
    expr = f"let {TYPES_NIX} in map (t: let v = builtins.fromJSON t; in [ v (types v) ]) [ " + \
        " ".join(nix_string(t) for t in texts) + " ]"
    ok, want = nix_json(expr)
    assert ok, want
    assert render([[v, types_of(v)] for v in map(from_json, texts)]) == want


def test_from_json_of_a_large_document() -> None:
    # (how fast this is belongs to bench/eval's json-roundtrip, not here)
    rng = random.Random(1)
    doc = {f"pkg{i}": {"name": f"name-{i}", "deps": [f"d{j}" for j in range(rng.randint(0, 8))],
                       "size": rng.randint(0, 10**12), "score": rng.random(), "ok": True,
                       "desc": "caf\u00e9 \u2603 " * 3} for i in range(20000)}
    text = json.dumps(doc).encode("utf-8").decode("latin-1")
    assert len(text) > 3_000_000
    v = from_json(text)
    assert len(v) == 20000
    assert v["pkg19999"]["size"] == doc["pkg19999"]["size"]
    assert v["pkg7"]["desc"] == ("caf\u00e9 \u2603 " * 3).encode("utf-8").decode("latin-1")


# --------------------------------------------------------------------------
# toJSON's pieces


def test_to_json_string_all_bytes() -> None:
    everything = "".join(chr(i) for i in range(1, 256))
    for s in [everything, "", "plain", 'q"b\\s', "\n\r\t\b\f\x0b\x1b\x7f", "\xc3\xa9\xff"]:
        ok, want = nix_json(f"builtins.toJSON {nix_string(s)}")
        assert ok
        assert to_json_string(s) == json.loads(want)


def test_to_json_string_with_context() -> None:
    from pynix.lang.evaluator import Evaluator

    s = NixStr("/nix/store/abc", frozenset({"/nix/store/abc"}))
    out = Evaluator().builtins["toJSON"].fn([s])
    assert type(out) is NixStr and out.s == '["/nix/store/abc"]'
    assert out.ctx == frozenset({"/nix/store/abc"})


FLOATS = ["1.5", "0.1", "1.0e20", "1.0", "123456789.123", "(0.0 * -1)", "1.0e-7",
          "3.14159265358979", "1.0e300", "100000.0", "1000000.0", "0.0001", "0.00001",
          "(1.0 / 3)", "2.5e-5", "(-1.5)", "1.0e15", "1.0e16", "1.0e21", "123456.7",
          "1234567.0", "999999.5", "9999995.0", "0.000123456789", "0.5", "100.0",
          "1.7976931348623157e308", "12345678901234567890.0", "(1.0e308 * 10)",
          "(-1.0e308 * 10)", "(1.0e308 * 10 - 1.0e308 * 10)",
          "(0.0 - (1.0e308 * 10 - 1.0e308 * 10))"]


def _py_float(expr: str) -> float:
    inf = math.inf
    table = {"(0.0 * -1)": -0.0, "(1.0 / 3)": 1.0 / 3, "(-1.5)": -1.5, "(1.0e308 * 10)": inf,
             "(-1.0e308 * 10)": -inf, "(1.0e308 * 10 - 1.0e308 * 10)": inf - inf,
             "(0.0 - (1.0e308 * 10 - 1.0e308 * 10))": 0.0 - (inf - inf)}
    return table[expr] if expr in table else float(expr)


def test_json_float() -> None:
    ok, want = nix_json("builtins.toJSON [ " + " ".join(FLOATS) + " ]")
    assert ok
    assert json.loads(want) == "[" + ",".join(json_float(_py_float(f)) for f in FLOATS) + "]"


# --------------------------------------------------------------------------
# fromTOML

TOML_CASES = [
    "", "a = 1", "a = 0x1F", "a = 0xdead_beef", "a = 0o17", "a = 0b101", "a = 1_000", "a = +5",
    "a = -0", "a = 9223372036854775807", "a = 9223372036854775808", "a = -9223372036854775809",
    "a = 0xFFFFFFFFFFFFFFFF", "a = 1.5", "a = 1e3", "a = 5E-1", "a = 1_0.5", "a = 0.5e+2",
    "a = 1e400", "a = -2e308", "a = 1e-400", "a = 3.14159265358979", "a = inf", "a = -inf",
    "a = +inf", "a = nan", "a = -nan", "a = true", "b = false",
    'a = "x\\u00e9\\U0001F600"', 'a = "\\b\\t\\n\\f\\r\\"\\\\"', "a = 'lit\\n'",
    'a = """\nml\nx"""', "a = '''\nraw\\n\n'''", 'a = """\\\n   x \\\n  y"""',
    'a = "caf\xc3\xa9"', '"caf\xc3\xa9" = 1', "a = [1, \"x\"]", "a = [1, 2.0]", "a = [ ]",
    "a = [\n1,\n2,\n]", "a = [[1],[2, [3]]]", "a = { b = 1, c = { d = 2 } }", "a = {}",
    "a = { b.c = 1 }", "[[t]]\nx=1\n[[t]]\nx=2", "[a.b]\nc=1\n[a]\nd=2", "a.b.c = 1",
    '"quoted key" = 1', '"" = 1', "1 = 2", "1.2 = 3", "a-b_c = 1", "A = 1",
    "a = 1\r\nb = 2", "a\t=\t1 # comment\n# another", "[a]\n[[a.b]]", "[[a]]\n[a.b]\nc=1",
    "[a.b.c]\n[a]\n[a.b]",
    # dates are an error
    "a = 1979-05-27T07:32:00Z", "a = 1979-05-27", "a = 07:32:00", "a = 1979-05-27T07:32:00",
    "a = 1979-05-27 07:32:00Z", "a = [1979-05-27]", "a = 1\n[b]\nc = 1979-05-27",
]
TOML_ERRORS = [
    "a = 1\na = 2", "a =", "x", "[a]\n[a]", "a = 01", "a = 1__0", "a = 0x", "a = +0x1",
    "a = \"\\x41\"", "a = \"\\uD800\"", "a = 1.", "a = .5", "a = TRUE", "a = { b = 1, }",
    'a = "x" b = 1', "\xe9 = 1", '"\xe9" = 1', "a = [{b=1}]\n[[a]]\nc=1",
]


@pytest.mark.parametrize("text", TOML_CASES, ids=[repr(t)[:40] for t in TOML_CASES])
def test_from_toml(text: str) -> None:
    check_reader("fromTOML", from_toml, text)


@pytest.mark.parametrize("text", TOML_ERRORS, ids=[repr(t)[:40] for t in TOML_ERRORS])
def test_from_toml_errors(text: str) -> None:
    ok, want = nix_json(f"builtins.fromTOML {nix_string(text)}")
    assert not ok and want.startswith("while parsing a TOML string: ")
    with pytest.raises(EvalError) as e:
        from_toml(text)
    assert e.value.msg.startswith("while parsing a TOML string: ")


# --------------------------------------------------------------------------
# XML

_names = itertools.count()


def make_lambda(arg: str | None, formals: list[str] | None = None, ellipsis: bool = False,
                pos: Pos = ("", 0, 0), defaults: tuple[str, ...] = ()) -> FunctionType:
    """A Python function that stands for a Nix lambda (registered in LAMBDA_INFO)."""
    code = (lambda x: x).__code__.replace(co_name=f"nix_lambda_{next(_names)}")
    fn = FunctionType(code, {})
    info_formals = None if formals is None else tuple(
        (f, f in defaults, pos) for f in formals)
    LAMBDA_INFO[code] = LambdaInfo(None, pos, arg, info_formals, ellipsis)
    return fn


def _drv(path: str) -> dict[str, Any]:
    return {"type": "derivation", "drvPath": path, "outPath": path[:-4], "name": "x"}


def _primop() -> PrimOp:
    return PrimOp("add", 2, lambda a, b: force(a) + force(b))


ALL_BYTES = "".join(chr(i) for i in range(1, 256))

XML_CASES: list[tuple[str, Any]] = [
    ("1", 1),
    ("(-9223372036854775807 - 1)", -(2**63)),
    ("true", True),
    ("false", False),
    ("null", None),
    ('"plain"', "plain"),
    ('""', ""),
    (nix_string('x<&>"\'\n\t\r'), 'x<&>"\'\n\t\r'),
    (nix_string(ALL_BYTES), ALL_BYTES),
    ("1.5", 1.5),
    ("[ " + " ".join(FLOATS) + " ]", [_py_float(f) for f in FLOATS]),
    ("/tmp/some/path", NixPath("/tmp/some/path")),
    ("[]", []),
    ("{}", {}),
    ("[ [] {} [ 1 [ 2 ] ] ]", [[], {}, [1, [2]]]),
    ("{ b = 1; a = 2; c = { z = null; y = [ true ]; }; }",
     {"b": 1, "a": 2, "c": {"z": None, "y": [True]}}),
    ('{ "a b" = 1; "<&>" = 2; "" = 3; "\\n" = 4; }', {"a b": 1, "<&>": 2, "": 3, "\n": 4}),
    ("{ a = 1 + 1; }", {"a": Thunk(lambda: 2)}),
    ("x: x", make_lambda("x")),
    ("{ a, b ? 1 }: a", make_lambda(None, ["a", "b"], defaults=("b",))),
    ("{ zeta, alpha, mid ? 1, ... }: zeta",
     make_lambda(None, ["zeta", "alpha", "mid"], ellipsis=True, defaults=("mid",))),
    ("args@{ q, p }: p", make_lambda("args", ["q", "p"])),
    ("args@{ ... }: args", make_lambda("args", [], ellipsis=True)),
    ("{ }: 1", make_lambda(None, [])),
    ("builtins.add", _primop()),
    ("builtins.add 1", PrimOpApp(_primop(), (1,))),
    ("{ __functor = self: x: x; }", {"__functor": make_lambda("self")}),
    ('let d = { type = "derivation"; drvPath = "/nix/store/x.drv"; outPath = "/nix/store/x";'
     ' name = "x"; }; in [ d d { inner = d; } ]',
     [_drv("/nix/store/x.drv"), _drv("/nix/store/x.drv"), {"inner": _drv("/nix/store/x.drv")}]),
    ('[ { type = "derivation"; name = "nodrv"; } { type = "derivation"; drvPath = 1; } ]',
     [{"type": "derivation", "name": "nodrv"}, {"type": "derivation", "drvPath": 1}]),
    ('{ type = "derivation"; drvPath = "/a.drv"; outPath = 5; }',
     {"type": "derivation", "drvPath": "/a.drv", "outPath": 5}),
    ('{ type = "not-a-derivation"; drvPath = "/a.drv"; }',
     {"type": "not-a-derivation", "drvPath": "/a.drv"}),
    ('{ type = "derivation"; drvPath = "/a.drv"; x = { type = "derivation"; drvPath = "/a.drv";'
     ' }; y = { type = "derivation"; drvPath = "/b.drv"; }; }',
     {"type": "derivation", "drvPath": "/a.drv",
      "x": {"type": "derivation", "drvPath": "/a.drv"},
      "y": {"type": "derivation", "drvPath": "/b.drv"}}),
]


@pytest.mark.parametrize(("expr", "value"), XML_CASES, ids=[e[:40] for e, _ in XML_CASES])
def test_to_xml_like_builtins_to_xml(expr: str, value: Any) -> None:
    ok, want = nix_json(f"builtins.toXML ({expr})")
    assert ok, want
    assert to_xml(value, strict=True, location=False) == json.loads(want)


def test_to_xml_string_with_context() -> None:
    ok, want = nix_json('builtins.toXML "/nix/store/abc"')
    assert ok
    s = NixStr("/nix/store/abc", frozenset({"/nix/store/abc"}))
    assert to_xml(s, strict=True, location=False) == json.loads(want)


SOURCE = """{
  b = 1;
  s = "str";
  a = { x = 2; };
  f = { p, q ? 1, ... }: p;
  g = args@{ z }: z;
  h = y: y;
  l = [ 1 (2 + 1) ];
  j = builtins.fromJSON "{\\"k\\":1}";
}
"""


def _file_value(path: str) -> tuple[Any, dict[int, dict[str, Pos]]]:
    """What the evaluator would produce for SOURCE: values (thunks where Nix has thunks)
    and the positions of attribute definitions."""
    inner = {"x": 2}
    top: dict[str, Any] = {
        "b": 1,
        "s": "str",
        "a": Thunk(lambda: inner),
        "f": Thunk(lambda: make_lambda(None, ["p", "q"], True, (path, 5, 7), ("q",))),
        "g": Thunk(lambda: make_lambda("args", ["z"], False, (path, 6, 7))),
        "h": Thunk(lambda: make_lambda("y", None, False, (path, 7, 7))),
        "l": Thunk(lambda: [1, Thunk(lambda: 3)]),
        "j": Thunk(lambda: {"k": 1}),
    }
    line = {"b": 2, "s": 3, "a": 4, "f": 5, "g": 6, "h": 7, "l": 8, "j": 9}
    positions = {id(top): {n: (path, line[n], 3) for n in top},
                 id(inner): {"x": (path, 4, 9)}}
    return top, positions


@pytest.mark.parametrize(("strict", "location"), [(False, True), (True, True), (False, False),
                                                  (True, False)])
def test_to_xml_like_nix_instantiate(tmp_path: Path, strict: bool, location: bool) -> None:
    f = tmp_path / "value.nix"
    f.write_text(SOURCE)
    args = ["--xml"] + (["--strict"] if strict else []) + ([] if location else ["--no-location"])
    ok, want = nix(args, str(f))
    assert ok, want
    value, positions = _file_value(str(f))

    def attr_pos(attrs: dict[str, Any], name: str) -> Pos | None:
        return positions.get(id(attrs), {}).get(name)

    assert to_xml(value, strict=strict, location=location, attr_pos=attr_pos) == want


def test_to_xml_forced_thunks_print_without_strict() -> None:
    ok, want = nix(["--xml", "--no-location", "-E"], "let l = [ 1 (1 + 1) ]; "
                   "in builtins.seq (builtins.elemAt l 1) l")
    assert ok
    t = Thunk(lambda: 2)
    t.force()
    assert to_xml([1, t], strict=False, location=False) == want
    ok, unforced = nix(["--xml", "--no-location", "-E"], "[ 1 (1 + 1) ]")
    assert ok
    assert to_xml([1, Thunk(lambda: 2)], strict=False, location=False) == unforced


def test_to_xml_expression_source_as_path() -> None:
    expr = "{ f = x: x; }"
    ok, want = nix(["--xml", "--strict", "-E"], expr)
    assert ok
    origin = errors.STRING_ORIGIN
    saved = errors.SOURCES.get(origin)
    errors.SOURCES[origin] = expr
    try:
        value = {"f": make_lambda("x", pos=(origin, 1, 7))}
        got = to_xml(value, strict=True, location=True,
                     attr_pos=lambda attrs, name: (origin, 1, 3))
    finally:
        if saved is None:
            del errors.SOURCES[origin]
        else:
            errors.SOURCES[origin] = saved
    assert got == want


def _throw(msg: str) -> Thunk:
    def fail() -> Any:
        raise ThrownError(msg)

    return Thunk(fail)


PARTIAL_CASES: list[tuple[str, Any]] = [
    ('{ a = [ 1 (throw "deep") 3 ]; b = 2; }', {"a": [1, _throw("deep"), 3], "b": 2}),
    ('{ type = "derivation"; drvPath = throw "d"; }',
     {"type": "derivation", "drvPath": _throw("d")}),
    ('[ (throw "x") ]', [_throw("x")]),
    ('{ a = { b = { c = throw "x"; }; }; }', {"a": {"b": {"c": _throw("x")}}}),
]


@pytest.mark.parametrize(("expr", "value"), PARTIAL_CASES, ids=[e for e, _ in PARTIAL_CASES])
def test_to_xml_partial_output_on_error(expr: str, value: Any) -> None:
    assert NIX is not None
    r = subprocess.run([NIX, "--eval", "--xml", "--strict", "--no-location", "-E", expr],
                       capture_output=True, timeout=120)
    assert r.returncode != 0
    out: list[str] = []
    with pytest.raises(ThrownError) as e:
        to_xml(value, strict=True, location=False, out=out)
    assert r.stderr.decode().startswith(f"error: {e.value.msg}")
    assert "".join(out) == r.stdout.decode("latin-1")


def test_to_xml_top_level_error_writes_nothing() -> None:
    assert NIX is not None
    r = subprocess.run([NIX, "--eval", "--xml", "-E", 'throw "top"'], capture_output=True,
                       timeout=120)
    assert r.returncode != 0
    out: list[str] = []
    with pytest.raises(ThrownError):
        to_xml(_throw("top"), strict=False, location=True, out=out)
    assert "".join(out) == r.stdout.decode("latin-1")

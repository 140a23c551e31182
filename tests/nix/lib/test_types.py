# ruff: noqa: E501
"""Type checks of ``lib.types`` (spec §4.2): which definitions each type accepts, evaluated
as one expression (every check through ``builtins.tryEval`` of the merged value), and the
exact "is not of type" message for each type's description."""

from __future__ import annotations

import pytest

from .harness import message, nix_available, nix_eval, pynix_eval

# (type, definition value, accepted?)
CHECKS: list[tuple[str, str, bool]] = [
    ("types.bool", "true", True), ("types.bool", "1", False),
    ("types.int", "1", True), ("types.int", "1.0", False),
    ("types.float", "1.5", True), ("types.float", "1", False),
    ("types.number", "1", True), ("types.number", "1.5", True), ("types.number", '"1"', False),
    ("types.str", '"x"', True), ("types.str", "./x", False),
    ("types.nonEmptyStr", '"x"', True), ("types.nonEmptyStr", '" \\t\\n"', False), ("types.nonEmptyStr", '""', False),
    ("types.singleLineStr", '"a\\n"', True), ("types.singleLineStr", '"a\\nb"', False),
    ("(types.strMatching \"[a-z]+\")", '"abc"', True), ("(types.strMatching \"[a-z]+\")", '"abc1"', False),
    ("(types.separatedString \":\")", '"a"', True), ("types.lines", "1", False), ("types.commas", '"a"', True),
    ("(types.enum [ \"a\" 1 ])", '"a"', True), ("(types.enum [ \"a\" 1 ])", "1", True), ("(types.enum [ \"a\" 1 ])", '"b"', False),
    ("types.path", '"/abs"', True), ("types.path", "/abs/x", True), ("types.path", '"rel"', False),
    ("types.pathInStore", '"${builtins.storeDir}/abc-x"', True), ("types.pathInStore", '"/etc"', False),
    ("types.package", '{ type = "derivation"; name = "x"; outPath = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x"; }', True),
    ("types.package", '{ name = "x"; }', False),
    ("types.port", "65535", True), ("types.port", "65536", False), ("types.port", "-1", False),
    ("types.ints.u8", "255", True), ("types.ints.u8", "256", False),
    ("types.ints.u16", "65535", True), ("types.ints.u32", "4294967295", True), ("types.ints.u32", "4294967296", False),
    ("types.ints.s8", "-128", True), ("types.ints.s8", "128", False),
    ("types.ints.s16", "-32768", True), ("types.ints.s16", "32768", False),
    ("types.ints.s32", "2147483647", True), ("types.ints.s32", "-2147483649", False),
    ("types.ints.unsigned", "0", True), ("types.ints.unsigned", "-1", False),
    ("types.ints.positive", "1", True), ("types.ints.positive", "0", False),
    ("(types.ints.between 2 4)", "4", True), ("(types.ints.between 2 4)", "5", False),
    ("types.attrs", "{ a = 1; }", True), ("types.attrs", "[ ]", False),
    ("(types.listOf types.int)", "[ 1 2 ]", True), ("(types.listOf types.int)", '[ 1 "2" ]', False),
    ("(types.nonEmptyListOf types.int)", "[ 1 ]", True), ("(types.nonEmptyListOf types.int)", "[ ]", False),
    ("(types.attrsOf types.int)", "{ a = 1; }", True), ("(types.attrsOf types.int)", '{ a = "x"; }', False),
    ("(types.lazyAttrsOf types.int)", "{ a = 1; }", True),
    ("(types.nullOr types.int)", "null", True), ("(types.nullOr types.int)", '"x"', False),
    ("(types.either types.int types.str)", '"x"', True), ("(types.either types.int types.str)", "true", False),
    ("(types.either (types.listOf types.int) types.str)", '[ "x" ]', False),
    ("(types.oneOf [ types.int types.bool types.str ])", "true", True), ("(types.oneOf [ types.int types.bool ])", '"x"', False),
    ("(types.coercedTo types.int toString types.str)", "1", True), ("(types.coercedTo types.int toString types.str)", "true", False),
    ("(types.functionTo types.int)", "x: 1", True), ("(types.functionTo types.int)", "1", False),
    ("(types.uniq types.int)", "1", True), ("(types.unique { message = \"m\"; } types.int)", '"x"', False),
    ("types.raw", "{ a = mkIf false 1; }", True),
    ("types.anything", "{ a.b = [ 1 ]; }", True),
    ("types.unspecified", "1", True),
    ("(types.submodule { options.a = mkOption { default = 1; }; })", "{ }", True),
    ("(types.submodule { options.a = mkOption { default = 1; }; })", "1", False),
    ("(types.submoduleWith { modules = [ { options.a = mkOption { default = 1; }; } ]; })", "{ config.a = 2; }", True),
    ("types.boolByOr", "false", True),
    ("(types.passwdEntry types.str)", '"a:b"', False), ("(types.passwdEntry types.str)", '"ab"', True),
    ("(types.addCheck types.int (x: x > 5))", "3", False),
    ("(types.str // { check = x: x == \"only\"; })", '"other"', False),
]


def _checks_expr() -> str:
    items = []
    for t, v, _ in CHECKS:
        items.append(
            "(builtins.tryEval (builtins.deepSeq (evalModules { modules = [ "
            f"{{ options.o = mkOption {{ type = {t}; }}; }} {{ o = {v}; }} ]; }}).config.o true)).success"
        )
    return "[\n" + "\n".join(items) + "\n]"


def test_type_checks() -> None:
    expr = _checks_expr()
    got = pynix_eval(expr).value()
    wrong = [(t, v) for (t, v, ok), g in zip(CHECKS, got, strict=True) if g != ok]
    assert not wrong
    if nix_available():
        assert nix_eval(expr).value() == got


# (type, failing value, description in the message)
MESSAGES = [
    ("types.ints.positive", "0", "positive integer, meaning >0"),
    ("types.port", "70000", "16 bit unsigned integer; between 0 and 65535 (both inclusive)"),
    ("(types.listOf types.str)", "1", "list of string"),
    ("(types.attrsOf (types.either types.int types.str))", "1", "attribute set of (signed integer or string)"),
    ("(types.enum [ \"a\" \"b\" ])", '"c"', 'one of "a", "b"'),
    ("(types.nullOr (types.listOf types.str))", "1", "null or (list of string)"),
    ("types.float", "1", "floating point number"),
    ("(types.strMatching \"[0-9]+\")", '"x"', "string matching the pattern [0-9]+"),
    ("types.nonEmptyStr", '""', "non-empty string"),
    ("types.path", '"x"', "absolute path"),
    ("types.bool", '"yes"', "boolean"),
    ("(types.functionTo types.str)", "1", "function that evaluates to a(n) string"),
]


@pytest.mark.parametrize(("t", "v", "desc"), MESSAGES)
def test_type_error_message(t: str, v: str, desc: str) -> None:
    expr = f"(evalModules {{ modules = [ {{ options.o = mkOption {{ type = {t}; }}; }} {{ _file = \"f.nix\"; o = {v}; }} ]; }}).config.o"
    want = f"A definition for option `o' is not of type `{desc}'. Definition values: - In `f.nix': {v}"
    ours = pynix_eval(expr)
    assert not ours.ok
    assert want in message(ours.stderr), ours.stderr
    if nix_available():
        theirs = nix_eval(expr)
        assert want in message(theirs.stderr), theirs.stderr

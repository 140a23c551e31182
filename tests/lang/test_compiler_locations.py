"""The compiler's own ``fix_missing_locations`` gives every node the location
``ast.fix_missing_locations`` would, so the code objects are the same."""

from __future__ import annotations

import ast
import copy
import marshal
from pathlib import Path

import pytest

from pynix.lang import parser
from pynix.lang.compiler import Compiler, fix_missing_locations
from pynix.lang.evaluator import Evaluator
from pynix.lang.stack import on_big_stack

SOURCES = [
    "let a = 1; b = a + 2; in { inherit a b; c = x: y: x + y + b; }",
    "rec { f = n: if n == 0 then 0 else f (n - 1) + 1; r = f 10; }",
    "let xs = builtins.genList (i: i * i) 10; in builtins.foldl' (a: b: a + b) 0 xs",
    "{ a ? 1, b, ... }@args: with args; assert b > 0; ''${toString a} ${toString b}''",
    " + ".join(["1"] * 400),
]


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s[:30])
def test_same_locations_as_ast(source: str, tmp_path: Path) -> None:
    file = str(tmp_path / "t.nix")

    def check() -> None:
        tree = parser.parse(source, file, str(tmp_path))
        ev = Evaluator()
        ours = Compiler(file, frozenset(ev.base), file, True, ev.primops,
                        ev.base_primops).compile_module(tree)
        theirs = copy.deepcopy(ours)
        fix_missing_locations(ours)
        ast.fix_missing_locations(theirs)
        assert ast.dump(ours, include_attributes=True) == \
            ast.dump(theirs, include_attributes=True)
        assert marshal.dumps(compile(ours, file, "exec")) == \
            marshal.dumps(compile(theirs, file, "exec"))

    on_big_stack(check)

# ruff: noqa: E501, RUF001
"""The module system of ``import <pynix/lib>`` (spec §1-§5): values and error texts.

Every value case is evaluated in one expression by pynix and, when available, by the real
Nix on the same lib; both must give the value the spec prescribes.  Every error case must
fail in both with the spec's message."""

from __future__ import annotations

from typing import Any

import pytest

from .harness import message, nix_available, nix_eval, pynix_eval

# name -> (Nix expression, value the spec prescribes)
VALUES: dict[str, tuple[str, Any]] = {
    # §1.3: definitions are processed in reversed collection order
    "list-order": (
        """(evalModules { modules = [ { options.x = mkOption { type = types.listOf types.str; }; }
             { x = [ "a" ]; } { x = [ "b" ]; } ]; }).config.x""",
        ["b", "a"],
    ),
    "lines-order": (
        """(evalModules { modules = [ { options.x = mkOption { type = types.lines; }; }
             { x = "a"; } { x = "b"; } ]; }).config.x""",
        "b\na",
    ),
    "attrs-first-wins": (
        """(evalModules { modules = [ { options.x = mkOption { type = types.attrs; }; }
             { x.k = 1; } { x.k = 2; } ]; }).config.x""",
        {"k": 1},
    ),
    "imports-breadth-first": (
        """(evalModules { modules = [
             { options.x = mkOption { type = types.listOf types.str; }; }
             { x = [ "P" ]; imports = [ { x = [ "I1" ]; } { x = [ "I2" ]; } ]; }
             { x = [ "Q" ]; } ]; }).config.x""",
        ["I2", "I1", "Q", "P"],
    ),
    "mkMerge-keeps-order": (
        """(evalModules { modules = [ { options.x = mkOption { type = types.listOf types.int; }; }
             { x = mkMerge [ [ 1 ] [ 2 ] ]; } ]; }).config.x""",
        [1, 2],
    ),
    "dedup-by-key": (
        """let m = { key = "m"; x = [ 1 ]; }; in (evalModules { modules = [
             { options.x = mkOption { type = types.listOf types.int; }; } m m { imports = [ m ]; } ]; }).config.x""",
        [1],
    ),
    # §3.3 worked examples
    "prio-none": (
        """(evalModules { modules = [ { options.x = mkOption { type = types.listOf types.str; default = [ "d" ]; }; } ]; }).config.x""",
        ["d"],
    ),
    "prio-default-dropped": (
        """(evalModules { modules = [ { options.x = mkOption { type = types.listOf types.str; default = [ "d" ]; }; } { x = [ "x" ]; } ]; }).config.x""",
        ["x"],
    ),
    "prio-mkDefault-both": (
        """(evalModules { modules = [ { options.x = mkOption { type = types.listOf types.str; default = [ "d" ]; }; }
             { x = mkDefault [ "a" ]; } { x = mkDefault [ "b" ]; } ]; }).config.x""",
        ["b", "a"],
    ),
    "prio-mkForce": (
        """(evalModules { modules = [ { options.x = mkOption { type = types.listOf types.str; default = [ "d" ]; }; }
             { x = [ "a" ]; } { x = mkForce [ "f" ]; } { x = [ "b" ]; } ]; }).config.x""",
        ["f"],
    ),
    "prio-mkOverride-10": (
        """(evalModules { modules = [ { options.x = mkOption { type = types.listOf types.str; default = [ "d" ]; }; }
             { x = mkForce [ "f" ]; } { x = mkOverride 10 [ "v" ]; } ]; }).config.x""",
        ["v"],
    ),
    "prio-vm-override": (
        """(evalModules { modules = [ { options.x = mkOption { type = types.int; }; }
             { x = mkForce 1; } { x = mkVMOverride 2; } ]; }).options.x.highestPrio""",
        10,
    ),
    "order": (
        """(evalModules { modules = [ { options.x = mkOption { type = types.listOf types.str; default = [ "d" ]; }; }
             { x = mkAfter [ "z" ]; } { x = [ "m" ]; } { x = mkBefore [ "a" ]; } { x = mkOrder 1200 [ "y" ]; } ]; }).config.x""",
        ["a", "m", "y", "z"],
    ),
    "mkOptionDefault-with-default": (
        """(evalModules { modules = [ { options.x = mkOption { type = types.listOf types.str; default = [ "d" ]; }; }
             { x = mkOptionDefault [ "w" ]; } ]; }).config.x""",
        ["d", "w"],
    ),
    "attrsOf-default-replaced": (
        """(evalModules { modules = [ { options.x = mkOption { type = types.attrsOf types.int; default = { a = 1; }; }; }
             { x = { b = 2; }; } ]; }).config.x""",
        {"b": 2},
    ),
    "attrsOf-prio-per-attr": (
        """(evalModules { modules = [ { options.a = mkOption { type = types.attrsOf types.int; }; }
             { a.x = mkForce 10; } { a.x = 1; a.y = 2; } ]; }).config.a""",
        {"x": 10, "y": 2},
    ),
    # §3.2 laziness: mkIf on config, conditions read other options
    "mkIf-reads-config": (
        """(evalModules { modules = [
             { options.enable = mkOption { type = types.bool; default = false; };
               options.n = mkOption { type = types.int; default = 0; }; }
             ({ config, ... }: { config = mkIf config.enable { n = 5; }; })
             { enable = true; } ]; }).config.n""",
        5,
    ),
    "mkIf-false-not-evaluated": (
        """(evalModules { modules = [
             { options.n = mkOption { type = types.int; default = 1; }; }
             { n = mkIf false (throw "never"); } ]; }).config.n""",
        1,
    ),
    "mkIf-inside-attrsOf-drops-name": (
        """builtins.attrNames (evalModules { modules = [ { options.a = mkOption { type = types.attrsOf types.int; }; }
             { a.x = 1; a.y = mkIf false 2; } ]; }).config.a""",
        ["x"],
    ),
    "lazyAttrsOf-keeps-name": (
        """builtins.attrNames (evalModules { modules = [ { options.a = mkOption { type = types.lazyAttrsOf types.int; }; }
             { a.x = 1; a.y = mkIf false 2; a.z = throw "lazy"; } ]; }).config.a""",
        ["x", "y", "z"],
    ),
    "mkForce-pushdown-whole-set": (
        """(evalModules { modules = [ { options.i = mkOption { type = types.attrsOf types.bool; }; }
             { i = mkForce { alpha = false; }; } { i.beta = true; } ]; }).config.i""",
        {"alpha": False},
    ),
    "lazyAttrsOf-condition-reads-itself": (
        """(evalModules { modules = [ ({ config, ... }: { options.a = mkOption { type = types.lazyAttrsOf types.int; };
             config.a = { x = mkIf (config.a ? y) 1; y = 2; }; }) ]; }).config.a""",
        {"x": 1, "y": 2},
    ),
    "definition-reads-other-option": (
        """(evalModules { modules = [ ({ config, ... }: { options.a = mkOption { type = types.int; }; options.b = mkOption { type = types.int; };
             config = { a = config.b + 1; b = 1; }; }) ]; }).config.a""",
        2,
    ),
    # §4.5 submodules with name
    "submodule-name": (
        """(evalModules { modules = [ { options.users = mkOption { type = types.attrsOf (types.submodule ({ name, ... }: {
               options.home = mkOption { type = types.str; default = "/home/${name}"; };
               options.uid = mkOption { type = types.nullOr types.int; default = null; }; })); }; }
             { users.alice = { }; users.bob.uid = 5; } ]; }).config.users""",
        {"alice": {"home": "/home/alice", "uid": None}, "bob": {"home": "/home/bob", "uid": 5}},
    ),
    "submodule-own-option-name": (
        """(evalModules { modules = [ { options.s = mkOption { type = types.submodule ({ name, ... }: {
               options.n = mkOption { default = name; }; }); default = { }; }; } ]; }).config.s.n""",
        "s",
    ),
    "listOf-submodule-defaults": (
        """(evalModules { modules = [ { options.l = mkOption { type = types.listOf (types.submodule {
               options.a = mkOption { type = types.int; default = 7; }; }); }; }
             { l = [ { } { a = 1; } ]; } ]; }).config.l""",
        [{"a": 7}, {"a": 1}],
    ),
    "submodule-parent-mixed-decls": (
        """(evalModules { modules = [
             { options.box = mkOption { type = types.submodule { options.a = mkOption { default = 1; }; }; default = { }; }; }
             { options.box.deep = mkOption { default = 2; }; } ]; }).config.box""",
        {"a": 1, "deep": 2},
    ),
    # §1.4 module arguments
    "specialArgs-and-module-args": (
        """(evalModules { specialArgs = { s = 3; }; modules = [
             { options.x = mkOption { type = types.int; }; options.y = mkOption { type = types.int; }; }
             { _module.args.a = 4; }
             ({ s, a, ... }: { x = s; y = a; }) ]; }).config""",
        {"x": 3, "y": 4},
    ),
    "unused-arg-not-forced": (
        """(evalModules { modules = [ { options.x = mkOption { type = types.int; }; }
             ({ pkgs, ... }: { x = 1; }) ]; }).config.x""",
        1,
    ),
    "config-options-shorthand": (
        """(evalModules { modules = [ { options.a = mkOption { type = types.int; }; config.a = 1; } ]; }).config.a""",
        1,
    ),
    # §1.5 disabledModules
    "disabledModules": (
        """let m = { key = "m"; x = [ 1 ]; imports = [ { x = [ 2 ]; } ]; }; in (evalModules { modules = [
             { options.x = mkOption { type = types.listOf types.int; default = [ ]; }; }
             m { disabledModules = [ { key = "m"; } ]; x = [ 3 ]; } ]; }).config.x""",
        [3],
    ),
    # §3.9 freeform and _module.check
    "freeform": (
        """(evalModules { modules = [ { freeformType = types.attrsOf types.int; options.d = mkOption { type = types.int; default = 1; }; }
             { extra = 2; } ]; }).config""",
        {"d": 1, "extra": 2},
    ),
    "check-false": (
        """(evalModules { modules = [ { _module.check = false; } { nothing = 1; } ]; }).config""",
        {},
    ),
    # §2.5 merged options
    "option-introspection": (
        """let o = (evalModules { modules = [ { options.x = mkOption { type = types.int; default = 1; description = "d"; }; }
             { x = 2; } ]; }).options.x; in
           { inherit (o) highestPrio isDefined definitions files loc description default;
             t = o.type.name; td = o.type.description; s = "${o}";
             dwl = map (d: d.value) o.definitionsWithLocations; }""",
        {"highestPrio": 100, "isDefined": True, "definitions": [2], "files": ["<unknown-file>"],
         "loc": ["x"], "description": "d", "default": 1, "t": "int", "td": "signed integer",
         "s": "x", "dwl": [2]},
    ),
    "valueMeta": (
        """let r = evalModules { modules = [ { options.s = mkOption { type = types.attrsOf (types.submodule { options.a = mkOption { default = 1; }; }); };
             options.i = mkOption { type = types.int; }; } { _file = "d.nix"; s.x.a = 2; i = 1; } ]; };
           in { a = r.options.s.valueMeta.attrs.x.configuration.config.a; f = r.options.s.valueMeta.attrs.x.configuration.options.a.files; i = r.options.i.valueMeta; }""",
        {"a": 2, "f": ["d.nix"], "i": {}},
    ),
    "option-default-only": (
        """let o = (evalModules { modules = [ { options.x = mkOption { type = types.int; default = 1; }; } ]; }).options.x;
           in [ o.highestPrio o.isDefined ]""",
        [1500, True],
    ),
    "apply": (
        """(evalModules { modules = [ { options.x = mkOption { type = types.listOf types.int; apply = builtins.length; }; }
             { x = [ 1 2 ]; } ]; }).config.x""",
        2,
    ),
    "enum-decls-merge": (
        """(evalModules { modules = [ { options.e = mkOption { type = types.enum [ "a" ]; }; }
             { options.e = mkOption { type = types.enum [ "b" ]; }; } { e = "b"; } ]; }).config.e""",
        "b",
    ),
    "helpers": (
        """let o = lib.mkEnableOption "foo"; p = lib.mkPackageOption { hello = { type = "derivation"; name = "hello"; }; } "hello" { }; in
           { inherit (o) default example description; pd = p.description; pt = p.defaultText.text; pty = p.type.name; }""",
        {"default": False, "example": True, "description": "Whether to enable foo.",
         "pd": "The hello package to use.", "pt": "pkgs.hello", "pty": "package"},
    ),
    "types-descriptions": (
        """map (t: t.description) [ (types.listOf types.str) (types.listOf (types.listOf types.str))
             (types.attrsOf (types.either types.int types.str)) (types.listOf (types.submodule { }))
             (types.attrsOf types.ints.positive) (types.nullOr types.str) (types.nullOr (types.listOf types.str))
             (types.oneOf [ types.int types.str types.bool ]) (types.either types.ints.positive types.str)
             types.ints.u8 types.ints.s16 types.port (types.enum [ "a" 1 true ]) (types.enum [ "a" ]) (types.enum [ ])
             types.lines types.commas (types.nonEmptyListOf types.str) (types.coercedTo types.int toString types.str)
             (types.functionTo types.int) (types.ints.between 1 3) types.path types.nonEmptyStr ]""",
        ["list of string", "list of list of string", "attribute set of (signed integer or string)",
         "list of (submodule)", "attribute set of (positive integer, meaning >0)", "null or string",
         "null or (list of string)", "signed integer or string or boolean",
         "positive integer, meaning >0, or string",
         "8 bit unsigned integer; between 0 and 255 (both inclusive)",
         "16 bit signed integer; between -32768 and 32767 (both inclusive)",
         "16 bit unsigned integer; between 0 and 65535 (both inclusive)",
         'one of "a", 1, true', 'value "a" (singular enum)', "impossible (empty enum)",
         'strings concatenated with "\\n"', 'strings concatenated with ","',
         "non-empty (list of string)", "string or signed integer convertible to it",
         "function that evaluates to a(n) signed integer",
         "integer between 1 and 3 (both inclusive)", "absolute path", "non-empty string"],
    ),
    "type-updated-with-update": (
        """(evalModules { modules = [ { options.x = mkOption { type = types.str // { emptyValue.value = "empty"; }; }; } ]; }).config.x""",
        "empty",
    ),
    "coercedTo-functionTo-either": (
        """(evalModules { modules = [ { options.c = mkOption { type = types.coercedTo types.int toString types.str; };
               options.f = mkOption { type = types.functionTo (types.listOf types.int); };
               options.e = mkOption { type = types.either types.int types.str; }; }
             { c = 5; f = x: [ x ]; e = "s"; } { f = x: [ (x + 1) ]; } ]; }).config
           // { f = (evalModules { modules = [ { options.f = mkOption { type = types.functionTo (types.listOf types.int); }; }
             { f = x: [ x ]; } { f = x: [ (x + 1) ]; } ]; }).config.f 1; }""",
        {"c": "5", "e": "s", "f": [2, 1]},
    ),
    "anything-merges-sets": (
        """(evalModules { modules = [ { options.a = mkOption { type = types.anything; }; }
             { a.x = 1; a.l = [ 1 ]; } { a.y = mkForce 2; a.l = [ 1 ]; } ]; }).config.a""",
        {"x": 1, "y": 2, "l": [1]},
    ),
    "renamed-option": (
        """(evalModules { modules = [ (lib.mkRenamedOptionModule [ "old" ] [ "new" ])
             { options.new = mkOption { type = types.int; }; } { old = 3; } ]; }).config.new""",
        3,
    ),
    "removed-option-assertion": (
        """let r = evalModules { modules = [ (lib.mkRemovedOptionModule [ "gone" ] "Use x.")
             { options.assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; }; } { gone = 1; } ]; };
           in map (a: a.assertion) r.config.assertions""",
        [False],
    ),
}

# (Nix expression, text the error message must contain; layout normalised)
ERRORS: dict[str, tuple[str, str]] = {
    "undeclared-with-suggestion": (
        """(evalModules { modules = [ { options.foo = mkOption { type = types.int; }; options.fob = mkOption { }; } { fooo = 1; } ]; }).config""",
        "The option `fooo' does not exist. Definition values: - In `<unknown-file>': 1 Did you mean `foo' or `fob'?",
    ),
    "undeclared-first-by-name": (
        """(evalModules { modules = [ { options.b.y = mkOption { }; } { b.z = 2; a = 1; } ]; }).config""",
        "The option `a' does not exist. Definition values: - In `<unknown-file>': 1 Did you mean `b'?",
    ),
    "undeclared-no-options": (
        """(evalModules { modules = [ { foo = 1; } ]; }).config""",
        "It seems as if you're trying to declare an option by placing it into `config' rather than `options'!",
    ),
    "not-of-type": (
        """(evalModules { modules = [ { options.foo = mkOption { type = types.int; }; } { foo = "x"; } ]; }).config.foo""",
        "A definition for option `foo' is not of type `signed integer'. Definition values: - In `<unknown-file>': \"x\"",
    ),
    "conflicting": (
        """(evalModules { modules = [ { options.foo = mkOption { type = types.int; }; } { foo = 1; } { foo = 2; } ]; }).config.foo""",
        "The option `foo' has conflicting definition values: - In `<unknown-file>': 2 - In `<unknown-file>': 1 "
        "Use `lib.mkForce value` or `lib.mkDefault value` to change the priority on any of these definitions.",
    ),
    "unique": (
        """(evalModules { modules = [ { options.foo = mkOption { type = types.uniq types.int; }; } { foo = 1; } { foo = 1; } ]; }).config.foo""",
        "The option `foo' is defined multiple times while it's expected to be unique.",
    ),
    "nullOr-both": (
        """(evalModules { modules = [ { options.foo = mkOption { type = types.nullOr types.int; }; } { _file = "a.nix"; foo = null; } { _file = "b.nix"; foo = 1; } ]; }).config.foo""",
        "The option `foo` is defined both null and not null, in `b.nix' and `a.nix'.",
    ),
    "no-value": (
        """(evalModules { modules = [ { options.foo = mkOption { type = types.int; }; } ]; }).config.foo""",
        "The option `foo' was accessed but has no value defined. Try setting the option.",
    ),
    "read-only": (
        """(evalModules { modules = [ { options.foo = mkOption { type = types.int; readOnly = true; default = 1; }; } { foo = 2; } ]; }).config.foo""",
        "The option `foo' is read-only, but it's set multiple times.",
    ),
    "already-declared": (
        """(evalModules { modules = [ { _file = "a.nix"; options.foo = mkOption { default = 1; }; } { _file = "b.nix"; options.foo = mkOption { default = 2; }; } ]; }).config.foo""",
        "The option `foo' in `a.nix' is already declared in `b.nix'.",
    ),
    "mkIf-non-bool": (
        """(evalModules { modules = [ { options.foo = mkOption { type = types.int; }; } { foo = mkIf 1 2; } ]; }).config.foo""",
        "‘mkIf’ called with a non-Boolean condition",
    ),
    "element-path": (
        """(evalModules { modules = [ { options.e = mkOption { type = types.listOf types.int; }; } { e = [ "x" ]; } ]; }).config.e""",
        "A definition for option `e.\"[definition 1-entry 1]\"' is not of type `signed integer'.",
    ),
    "submodule-path": (
        """(evalModules { modules = [ { options.v = mkOption { type = types.attrsOf (types.submodule { options.root = mkOption { type = types.str; }; }); }; }
             { v."example.org".root = 1; } ]; }).config.v."example.org".root""",
        "A definition for option `v.\"example.org\".root' is not of type `string'.",
    ),
    "unsupported-attribute": (
        """(evalModules { modules = [ { options = { }; foo = 1; } ]; }).config""",
        "Module `:anon-1' has an unsupported attribute `foo'.",
    ),
    "nested-list-import": (
        """(evalModules { modules = [ { imports = [ [ { } ] ]; } ]; }).config""",
        "Module imports can't be nested lists. Perhaps you meant to remove one level of lists?",
    ),
    "parent-of-options": (
        """(evalModules { modules = [ { options.a = mkOption { type = types.int; }; } { options.a.b = mkOption { }; } ]; }).config""",
        "The option `a' in module `<unknown-file>' would be a parent of the following options, but its type `signed integer' does not support nested options.",
    ),
    "anything-conflicting-types": (
        """(evalModules { modules = [ { options.a = mkOption { type = types.anything; }; } { a = 1; } { a = "x"; } ]; }).config.a""",
        "The option `a' has conflicting option types in `<unknown-file>' and `<unknown-file>'",
    ),
    "unspecified-cannot-merge": (
        """(evalModules { modules = [ { options.a = mkOption { }; } { a = 1; } { a = "x"; } ]; }).config.a""",
        "Cannot merge definitions of `a'.",
    ),
    "cycle": (
        """(evalModules { modules = [ ({ config, ... }: { options.a = mkOption { type = types.int; }; options.b = mkOption { type = types.int; };
             config = { a = config.b; b = config.a; }; }) ]; }).config.a""",
        "infinite recursion encountered",
    ),
    "attrsOf-condition-reads-itself": (
        """(evalModules { modules = [ ({ config, ... }: { options.a = mkOption { type = types.attrsOf types.int; };
             config.a = { x = mkIf (config.a ? y) 1; y = 2; }; }) ]; }).config.a""",
        "infinite recursion encountered",
    ),
    "formal-default-not-used": (
        """(evalModules { modules = [ { options.v = mkOption { }; } ({ a ? "unused", ... }: { v = a; }) ]; }).config.v""",
        "attribute 'a' missing",
    ),
    "configuration-as-module": (
        """(evalModules { modules = [ (evalModules { modules = [ ]; }) ]; }).config""",
        'Expected a module, but found a value of type "configuration"',
    ),
    "class-mismatch": (
        """(evalModules { class = "nixos"; modules = [ { _class = "darwin"; _file = "d.nix"; } ]; }).config""",
        'The module `d.nix` (class: "darwin") cannot be imported into a module evaluation that expects class "nixos".',
    ),
    "disabledModules-set-without-key": (
        """(evalModules { modules = [ { _file = "m.nix"; disabledModules = [ { foo = 1; } ]; } ]; }).config""",
        "Module `m.nix` contains a disabledModules item that is an attribute set, presumably a module, that does not have a `key` attribute.",
    ),
    "submodule-without-options": (
        """(evalModules { modules = [ { options.s = mkOption { type = types.submodule { config.x = 1; }; }; } { s = { }; } ]; }).config.s""",
        "The option `s.x' does not exist. Definition values: - In `<unknown-file>': 1 However there are no options defined in `s'.",
    ),
    "option-type-as-declaration": (
        """(evalModules { modules = [ { options.a = types.str; } ]; }).config""",
        "In module <unknown-file>: expected an option declaration at option path `a` but got an attribute set with type option-type",
    ),
    "renamed-warning-and-removed": (
        """let r = evalModules { modules = [ (lib.mkRemovedOptionModule [ "gone" ] "Use x.") { options.assertions = mkOption { default = [ ]; }; } { gone = 1; } ]; }; in r.config.gone""",
        "The option `gone' can no longer be used since it's been removed. Use x.",
    ),
    "mkPackageOption-missing": (
        """(evalModules { modules = [ { options.p = lib.mkPackageOption { } "nope" { }; } ]; }).config.p""",
        "nope cannot be found in pkgs",
    ),
    "not-attrset-config": (
        """(evalModules { modules = [ { config = mkIf true true; } ]; }).config""",
        "you're trying to define a value of type `bool' rather than an attribute set for the option",
    ),
}


@pytest.fixture(scope="module")
def oracle() -> bool:
    return nix_available()


def _all_values_expr() -> str:
    return "{\n" + "\n".join(f'  "{name}" = {expr};' for name, (expr, _) in VALUES.items()) + "\n}"


def test_values_pynix_match_spec_and_nix(oracle: bool) -> None:
    expr = _all_values_expr()
    got = pynix_eval(expr).value()
    for name, (_, expected) in VALUES.items():
        assert got[name] == expected, name
    if oracle:
        assert nix_eval(expr).value() == got


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors(name: str, oracle: bool) -> None:
    expr, text = ERRORS[name]
    ours = pynix_eval(expr)
    assert not ours.ok, ours.stdout
    assert "Traceback" not in ours.stderr
    assert text in message(ours.stderr), ours.stderr
    if oracle:
        theirs = nix_eval(expr)
        assert not theirs.ok
        assert text in message(theirs.stderr), theirs.stderr

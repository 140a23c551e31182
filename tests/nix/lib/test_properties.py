# ruff: noqa: E501
"""The property functions of ``lib.modules`` (spec §3.1-§3.3) used directly, and the
helpers built on them; values prescribed here and checked against the real Nix."""

from __future__ import annotations

from typing import Any

from .harness import check_cases

CASES: dict[str, tuple[str, Any]] = {
    "pushDown": ("lib.pushDownProperties (mkMerge [ { a = 1; } (mkIf true { b = 2; }) (mkForce { c = 3; }) ])",
                 [{"a": 1}, {"b": {"_type": "if", "condition": True, "content": 2}},
                  {"c": {"_type": "override", "priority": 50, "content": 3}}]),
    "discharge": ("lib.dischargeProperties (mkMerge [ 1 (mkIf false 2) (mkIf true (mkMerge [ 3 4 ])) ])", [1, 3, 4]),
    "filterOverrides": ("map (d: d.value) (lib.filterOverrides [ { file = \"a\"; value = 1; } { file = \"b\"; value = mkForce 2; } { file = \"c\"; value = mkForce 3; } ])", [2, 3]),
    "sortProperties": ("map (d: d.value) (lib.sortProperties [ { value = mkAfter 1; } { value = 2; } { value = mkBefore 3; } { value = 4; } ])", [3, 2, 4, 1]),
    "mkAssert": ("(evalModules { modules = [ { options.x = mkOption { default = 0; }; } { x = lib.mkAssert true \"never\" 5; } ]; }).config.x", 5),
    "mkDefinition": ("(evalModules { modules = [ { options.x = mkOption { type = types.listOf types.int; }; } { x = lib.mkDefinition { file = \"elsewhere.nix\"; value = [ 1 ]; }; } ]; }).options.x.files", ["elsewhere.nix"]),
    "mkAliasDefinitions": ("(evalModules { modules = [ ({ options, ... }: { options.a = mkOption { type = types.listOf types.int; }; options.b = mkOption { type = types.listOf types.int; default = [ ]; }; config.b = lib.mkAliasDefinitions options.a; }) { a = [ 1 ]; } { a = [ 2 ]; } ]; }).config.b", [2, 1]),
    "mkDerivedConfig": ("(evalModules { modules = [ ({ options, ... }: { options.a = mkOption { type = types.int; }; options.b = mkOption { type = types.int; }; config.b = lib.mkDerivedConfig options.a (x: x * 10); }) { a = mkDefault 4; } { b = 7; } ]; }).config.b", 7),
    "mergeAttrDefinitionsWithPrio": ("lib.modules.mergeAttrDefinitionsWithPrio (evalModules { modules = [ { options.a = mkOption { type = types.attrsOf types.int; }; } { a.x = mkForce 1; a.y = 2; } { a.y = mkDefault 3; } ]; }).options.a",
                                     {"x": {"value": 1, "highestPrio": 50}, "y": {"value": 2, "highestPrio": 100}}),
    "setDefaultModuleLocation": ("(evalModules { modules = [ (lib.setDefaultModuleLocation \"loc.nix\" { options.x = mkOption { }; config.x = 1; }) ]; }).options.x.files", ["loc.nix"]),
    "mergeDefinitions": ("let m = lib.modules.mergeDefinitions [ \"x\" ] (types.listOf types.int) [ { file = \"a\"; value = [ 1 ]; } { file = \"b\"; value = mkBefore [ 2 ]; } ]; in { inherit (m) mergedValue isDefined; p = m.defsFinal'.highestPrio; }",
                         {"mergedValue": [2, 1], "isDefined": True, "p": 100}),
    "mkSinkUndeclaredOptions": ("(evalModules { modules = [ { options.sink = lib.mkSinkUndeclaredOptions { }; } { sink = { anything = 1; }; } ]; }).options.sink.isDefined", True),
}


def test_property_functions() -> None:
    check_cases(CASES)

# ruff: noqa: E501, SIM905
"""The general functions of ``import <pynix/lib>`` (spec Appendix A and the issue's list):
each case's value is prescribed here and, when the real Nix is available, it must compute
the same value on the same lib (our lib is valid Nix, and pynix agrees with Nix on it)."""

from __future__ import annotations

from typing import Any

from .harness import check_cases, nix_available, nix_eval, pynix_eval

CASES: dict[str, tuple[str, Any]] = {
    # trivial
    "id-const-flip": ("[ (lib.id 1) (lib.const 2 3) (lib.flip lib.concat [ 1 ] [ 2 ]) ]", [1, 2, [2, 1]]),
    "pipe": ("lib.pipe 2 [ (x: x + 1) (x: x * 10) toString ]", "30"),
    "boolToString-max-min-mod": ("[ (lib.boolToString true) (lib.max 2 3) (lib.min 2 3) (lib.mod 7 3) (lib.compare 1 2) ]", ["true", 3, 2, 1, -1]),
    "functionArgs-setFunctionArgs": ("lib.functionArgs (lib.setFunctionArgs (x: x) { a = true; })", {"a": True}),
    "toFunction": ("[ (lib.toFunction 1 2) (lib.toFunction (x: x + 1) 2) ]", [1, 3]),
    # lists
    "folds": ("[ (lib.foldr (a: b: a + b) \"\" [ \"a\" \"b\" \"c\" ]) (lib.foldl (a: b: a + b) \"\" [ \"a\" \"b\" \"c\" ]) (lib.foldl' (a: b: a - b) 10 [ 1 2 ]) ]", ["abc", "abc", 7]),
    "imap": ("[ (lib.imap0 (i: v: i * v) [ 5 6 ]) (lib.imap1 (i: v: i * v) [ 5 6 ]) ]", [[0, 6], [5, 12]]),
    "flatten-range-unique": ("[ (lib.flatten [ 1 [ 2 [ 3 ] ] ]) (lib.range 2 4) (lib.unique [ 3 1 3 2 1 ]) (lib.range 3 2) ]", [[1, 2, 3], [2, 3, 4], [3, 1, 2], []]),
    "take-drop-sublist": ("[ (lib.take 2 [ 1 2 3 ]) (lib.drop 2 [ 1 2 3 ]) (lib.sublist 1 5 [ 1 2 3 ]) (lib.last [ 1 2 ]) (lib.init [ 1 2 ]) (lib.reverseList [ 1 2 3 ]) ]", [[1, 2], [3], [2, 3], 2, [1], [3, 2, 1]]),
    "optional-toList-count": ("[ (lib.optional true 1) (lib.optional false 1) (lib.optionals true [ 1 2 ]) (lib.toList 1) (lib.toList [ 1 ]) (lib.count (x: x > 1) [ 1 2 3 ]) ]", [[1], [], [1, 2], [1], [1], 2]),
    "find-sets": ("[ (lib.findFirst (x: x > 1) 0 [ 1 2 3 ]) (lib.findFirst (x: x > 5) 0 [ 1 ]) (lib.subtractLists [ 1 ] [ 1 2 ]) (lib.intersectLists [ 1 3 ] [ 1 2 3 ]) (lib.remove 2 [ 1 2 3 2 ]) ]", [2, 0, [2], [1, 3], [1, 3]]),
    "zip-sort": ("[ (lib.zipListsWith (a: b: a + b) [ 1 2 ] [ 10 20 30 ]) (lib.sortOn (x: -x) [ 1 3 2 ]) (lib.naturalSort [ \"b\" \"a\" ]) ]", [[11, 22], [3, 2, 1], ["a", "b"]]),
    "toposort": ("(lib.toposort (a: b: a < b) [ 3 1 2 ]).result", [1, 2, 3]),
    "cartesianProduct": ("lib.cartesianProduct { a = [ 1 2 ]; b = [ \"x\" ]; }", [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]),
    # attrsets
    "paths": ("[ (lib.attrByPath [ \"a\" \"b\" ] 0 { a.b = 1; }) (lib.attrByPath [ \"a\" \"c\" ] 0 { a.b = 1; }) (lib.hasAttrByPath [ \"a\" \"b\" ] { a.b = 1; }) (lib.setAttrByPath [ \"a\" \"b\" ] 2) (lib.getAttrFromPath [ \"a\" ] { a = 3; }) ]", [1, 0, True, {"a": {"b": 2}}, 3]),
    "maps": ("[ (lib.mapAttrs' (n: v: lib.nameValuePair \"x${n}\" (v + 1)) { a = 1; }) (lib.mapAttrsToList (n: v: n + v) { b = \"2\"; a = \"1\"; }) (lib.filterAttrs (n: v: v > 1) { a = 1; b = 2; }) (lib.genAttrs [ \"a\" ] (n: n + n)) (lib.optionalAttrs false { a = 1; }) ]", [{"xa": 2}, ["a1", "b2"], {"b": 2}, {"a": "aa"}, {}]),
    "zip-fold-attrs": ("[ (lib.zipAttrsWith (n: vs: vs) [ { a = 1; } { a = 2; b = 3; } ]) (lib.foldAttrs (x: acc: x + acc) 0 [ { a = 1; } { a = 2; b = 3; } ]) ]", [{"a": [1, 2], "b": [3]}, {"a": 3, "b": 3}]),
    "recursiveUpdate": ("[ (lib.recursiveUpdate { a.b = 1; a.c = 2; } { a.b = 3; d = 4; }) (lib.recursiveUpdateUntil (path: l: r: path == [ \"a\" ]) { a.b = 1; a.c = 2; } { a.b = 3; }) ]", [{"a": {"b": 3, "c": 2}, "d": 4}, {"a": {"b": 3}}]),
    "collect-recursive": ("[ (lib.collect builtins.isInt { a = 1; b.c = 2; d = \"x\"; }) (lib.mapAttrsRecursive (p: v: lib.concatStringsSep \".\" p) { a.b = 1; }) (lib.isDerivation { type = \"derivation\"; }) ]", [[1, 2], {"a": {"b": "a.b"}}, True]),
    # strings
    "concat": ("[ (lib.concatStringsSep \",\" [ \"a\" \"b\" ]) (lib.concatMapStrings (x: x + \";\") [ \"a\" \"b\" ]) (lib.concatMapStringsSep \"-\" toString [ 1 2 ]) (lib.concatLines [ \"a\" \"b\" ]) (lib.optionalString false \"x\") (lib.optionalString true \"x\") ]", ["a,b", "a;b;", "1-2", "a\nb\n", "", "x"]),
    "prefix-suffix": ("[ (lib.hasPrefix \"ab\" \"abc\") (lib.hasSuffix \"bc\" \"abc\") (lib.hasSuffix \"abcd\" \"abc\") (lib.removePrefix \"a\" \"abc\") (lib.removeSuffix \"c\" \"abc\") (lib.hasInfix \"b\" \"abc\") ]", [True, True, False, "bc", "ab", True]),
    "split-case": ("[ (lib.splitString \".\" \"a.b..c\") (lib.toUpper \"aBc\") (lib.toLower \"aBc\") (lib.stringToCharacters \"ab\") (lib.trim \"  x y \") ]", [["a", "b", "", "c"], "ABC", "abc", ["a", "b"], "x y"]),
    "escapeShellArg": ("[ (lib.escapeShellArg \"abc\") (lib.escapeShellArg \"a b\") (lib.escapeShellArg \"it's\") (lib.escapeShellArgs [ \"a\" \"b c\" ]) ]", ["abc", "'a b'", "'it'\\''s'", "a 'b c'"]),
    "escapeNix": ("[ (lib.escapeNixString \"a\\\"$\") (lib.escapeNixIdentifier \"a-b\") (lib.escapeNixIdentifier \"a.b\") (lib.strings.escapeRegex \"a.b\") ]", ["\"a\\\"\\$\"", "a-b", "\"a.b\"", "a\\.b"]),
    "numbers-versions": ("[ (lib.toInt \"042\") (lib.fixedWidthNumber 3 5) (lib.versionAtLeast \"1.10\" \"1.9\") (lib.versionOlder \"1.2\" \"1.10\") (lib.getName \"hello-2.1\") (lib.getVersion \"hello-2.1\") ]", [42, "005", True, True, "hello", "2.1"]),
    "versions-meta-url": ("[ (lib.versions.majorMinor \"16.2.1\") (lib.versions.major \"16.2\") (lib.strings.escapeURL \"a b/c\") (lib.getExe { name = \"x-1\"; outPath = \"/o\"; type = \"derivation\"; meta.mainProgram = \"y\"; }) (lib.getExe' { outPath = \"/o\"; } \"z\") ]", ["16.2", "16", "a%20b%2Fc", "/o/bin/y", "/o/bin/z"]),
    "makeBinPath": ("lib.makeBinPath [ \"/a\" \"/b\" ]", "/a/bin:/b/bin"),
    "showOption": ("[ (lib.showOption [ \"services\" \"nginx\" \"virtualHosts\" \"example.org\" \"root\" ]) (lib.showOption [ \"a\" \"*\" \"<name>\" ]) (lib.showFiles [ \"a\" \"b\" ]) ]", ["services.nginx.virtualHosts.\"example.org\".root", "a.*.<name>", "`a' and `b'"]),
    "toPretty": ("[ (lib.generators.toPretty { } { a = [ 1 \"x\" null true ]; b.c = 1.5; }) (lib.generators.toPretty { } \"a\\nb\") (lib.generators.toPretty { } ({ x, y ? 1 }: x)) ]", ["{\n  a = [\n    1\n    \"x\"\n    null\n    true\n  ];\n  b = {\n    c = 1.5;\n  };\n}", "''\n  a\n  b''", "<function, args: {x, y?}>"]),
    # fixed points (Appendix A)
    "fix": ("lib.fix (self: { a = 1; b = self.a + 1; })", {"a": 1, "b": 2}),
    "fix-prime": ("((lib.fix' (self: { a = 1; })).__unfix__ { }).a", 1),
    "extends": ("lib.fix (lib.extends (final: prev: { b = prev.a + 10; c = final.b; }) (self: { a = 1; b = 2; }))", {"a": 1, "b": 11, "c": 11}),
    "composeExtensions": ("lib.fix (lib.extends (lib.composeExtensions (final: prev: { a = prev.a + 1; }) (final: prev: { a = prev.a * 10; })) (self: { a = 1; }))", {"a": 20}),
    "composeManyExtensions": ("lib.fix (lib.extends (lib.composeManyExtensions [ (f: p: { a = p.a + 1; }) (f: p: { a = p.a * 10; }) (f: p: { b = f.a; }) ]) (self: { a = 1; }))", {"a": 20, "b": 20}),
    "makeExtensible": ("let e = lib.makeExtensible (self: { a = 1; b = self.a + 1; }); f = e.extend (final: prev: { a = 10; }); in [ e.b f.b (f.extend (p: { b = p.b * 2; })).b ]", [2, 11, 22]),
    "toExtension": ("[ ((lib.toExtension { a = 1; }) { } { }) ((lib.toExtension (prev: { a = prev.a + 1; })) { } { a = 1; }) ((lib.toExtension (final: prev: { a = final.x; })) { x = 3; } { }) ]", [{"a": 1}, {"a": 2}, {"a": 3}]),
    # strings with deps
    "textClosureList": ("lib.textClosureList { a = lib.noDepEntry \"A\"; b = lib.fullDepEntry \"B\" [ \"a\" ]; c = lib.stringAfter [ \"b\" \"a\" ] \"C\"; } [ \"c\" \"a\" ]", ["A", "B", "C"]),
    "textClosureMap": ("lib.textClosureMap (t: \"<${t}>\") { a = lib.noDepEntry \"A\"; b = { deps = [ \"a\" ]; text = \"B\"; }; } [ \"b\" ]", "<A>\n<B>"),
    # asserts
    "checkAssertWarn-ok": ("lib.asserts.checkAssertWarn [ { assertion = true; message = \"no\"; } ] [ ] 5", 5),
    "assertMsg": ("lib.assertMsg true \"m\"", True),
}


def test_general_functions() -> None:
    check_cases(CASES)


def test_checkAssertWarn_failure_lists_messages() -> None:
    expr = 'lib.asserts.checkAssertWarn [ { assertion = false; message = "one"; } { assertion = true; message = "two"; } { assertion = false; message = "three"; } ] [ ] 1'
    for result in [pynix_eval(expr)] + ([nix_eval(expr)] if nix_available() else []):
        assert not result.ok
        assert "Failed assertions:\n" in result.stderr.replace("       ", "")
        assert "- one" in result.stderr and "- three" in result.stderr and "two" not in result.stderr


SPEC_NAMES = """evalModules modules.importApply setDefaultModuleLocation modules.mergeDefinitions
modules.evalOptionValue fixupOptionType mkOption mkEnableOption mkPackageOption mkSinkUndeclaredOptions
isOption literalExpression literalMD options.showDefs showOption showFiles options.mergeEqualOption
mergeOneOption mergeUniqueOption mergeDefaultOption getValues getFiles unknownModule mkIf mkMerge
mkOverride mkOptionDefault mkDefault mkImageMediaOverride mkForce mkVMOverride mkOrder mkBefore mkAfter
mkDefinition mkAssert mkAliasDefinitions mkAliasAndWrapDefinitions mkDerivedConfig sortProperties
filterOverrides dischargeProperties pushDownProperties modules.mkAliasAndWrapDefsWithPriority
modules.mapDefinitionValue modules.defaultOverridePriority modules.defaultOrderPriority
mkRenamedOptionModule mkRenamedOptionModuleWith mkAliasOptionModule mkRemovedOptionModule
mkChangedOptionModule mkMergedOptionModule doRename textClosureList textClosureMap noDepEntry
stringsWithDeps.textClosureList asserts.checkAssertWarn fix fix' extends composeExtensions
composeManyExtensions makeExtensible toExtension attrByPath getAttrFromPath hasAttrByPath setAttrByPath
mapAttrs mapAttrs' mapAttrsToList filterAttrs optionalAttrs genAttrs nameValuePair zipAttrsWith foldAttrs
recursiveUpdate recursiveUpdateUntil collect mapAttrsRecursive mapAttrsRecursiveCond attrNames attrValues
catAttrs getAttrs attrVals removeAttrs listToAttrs isDerivation""".split()

SPEC_TYPES = """bool int ints.between ints.unsigned ints.positive ints.u8 ints.u16 ints.u32 ints.s8 ints.s16 ints.s32
port float number str nonEmptyStr singleLineStr strMatching separatedString lines commas envVar passwdEntry
enum path pathInStore externalPath pathWith package raw unspecified anything attrs listOf nonEmptyListOf
attrsOf lazyAttrsOf attrsWith nullOr uniq unique either oneOf functionTo coercedTo submodule submoduleWith
deferredModule optionType attrTag boolByOr mkOptionType addCheck isType mergeTypes""".split()


def test_spec_names_exist() -> None:
    def has(prefix: str, name: str) -> str:
        path = " ".join(f'"{p}"' for p in name.split("."))
        return f"(lib.hasAttrByPath [ {path} ] {prefix})"

    checks = [f'{{ n = "{n}"; ok = {has("lib", n)}; }}' for n in SPEC_NAMES]
    checks += [f'{{ n = "types.{n}"; ok = {has("lib.types", n)}; }}' for n in SPEC_TYPES]
    expr = "map (c: c.n) (builtins.filter (c: !c.ok) [ " + " ".join(checks) + " ])"
    assert pynix_eval(expr).value() == []
    got = pynix_eval(
        "[ lib.modules.defaultOverridePriority lib.modules.defaultOrderPriority "
        "(mkOptionDefault 1).priority (mkDefault 1).priority (mkForce 1).priority "
        "(mkVMOverride 1).priority (lib.mkImageMediaOverride 1).priority (mkBefore 1).priority "
        "(mkAfter 1).priority (lib.types.isType \"option-type\" types.int) ]"
    ).value()
    assert got == [100, 1000, 1500, 1000, 50, 10, 60, 500, 1500, True]

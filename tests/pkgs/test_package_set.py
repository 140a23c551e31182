"""The package set of <pynix/pkgs> as a Nix value: overlays (final/prev),
callPackage and override, overrideAttrs, meta checks (unfree, platforms,
broken), the pluggable bootstrap."""

from __future__ import annotations

import json

from .conftest import PkgsWorld, real_nix, require_nix

PKG = """
  { stdenvNoCC, greeting ? "hello", who }:
  stdenvNoCC.mkDerivation {
    pname = "greeter"; version = "1.0"; dontUnpack = true;
    inherit greeting who;
    installPhase = "echo $greeting $who > $out";
    passthru.message = "${greeting} ${who}";
  }
"""


def with_overlays(pk: PkgsWorld, body: str) -> str:
    return pk.write("o.nix", "let pkgs = import ./pkgs.nix {\n" + body + "\n}; in pkgs\n")


def test_overlays_final_and_prev(pk: PkgsWorld) -> None:
    f = with_overlays(pk, """overlays = [
      (final: prev: { a = 1; b = final.a + 1; list = [ "one" ]; })
      (final: prev: { a = prev.a * 10; list = prev.list ++ [ "two" ]; })
      (final: prev: { c = prev.b; seenA = prev.a; })
    ];""")
    assert pk.eval(f, "a") == 10
    assert pk.eval(f, "b") == 11  # `final` sees the last overlay's `a`
    assert pk.eval(f, "list") == ["one", "two"]
    assert pk.eval(f, "seenA") == 10
    assert pk.eval(f, "c") == 11


def test_overlay_replaces_dependency(pk: PkgsWorld) -> None:
    pk.write("greeter.nix", PKG)
    f = with_overlays(pk, """overlays = [
      (final: prev: { who = "world"; greeter = final.callPackage ./greeter.nix { }; })
      (final: prev: { who = "overlaid"; })
    ];""")
    assert pk.eval(f, "greeter.message") == "hello overlaid"
    assert pk.real(pk.build(f, "greeter")).read_text() == "hello overlaid\n"


def test_extend(pk: PkgsWorld) -> None:
    f = pk.expr_file("e.nix", """let
      p1 = pkgs.extend (final: prev: { x = 1; y = final.x + 1; });
      p2 = p1.extend (final: prev: { x = 5; });
    in { inherit (p1) x y; y2 = p2.y; }""")
    assert pk.eval(f) == {"x": 1, "y": 2, "y2": 6}


def test_call_package_and_override(pk: PkgsWorld) -> None:
    pk.write("greeter.nix", PKG)
    f = pk.expr_file("c.nix", """let
      withWho = pkgs.extend (final: prev: { who = "set"; });
      g = withWho.callPackage ./greeter.nix { };
      explicit = withWho.callPackage ./greeter.nix { who = "explicit"; greeting = "hi"; };
      overridden = g.override { greeting = "hey"; };
      fnOverride = g.override (old: { who = old.who + "!"; });
      overriddenTwice = (g.override { greeting = "a"; }).override { who = "b"; };
      attrsThenOverride = (g.overrideAttrs { pname = "renamed"; }).override { greeting = "yo"; };
    in {
      auto = g.message;
      explicit = explicit.message;
      overridden = overridden.message;
      fnOverride = fnOverride.message;
      overriddenTwice = overriddenTwice.message;
      attrsThenOverride = [ attrsThenOverride.name attrsThenOverride.message ];
      fromFunction = (callPackage ({ lib, who ? "default" }: { inherit who; }) { }).who;
    }""")
    assert pk.eval(f) == {
        "auto": "hello set",
        "explicit": "hi explicit",
        "overridden": "hey set",
        "fnOverride": "hello set!",
        "overriddenTwice": "a b",
        "attrsThenOverride": ["renamed-1.0", "yo set"],
        "fromFunction": "default",
    }


def test_call_package_missing_argument(pk: PkgsWorld) -> None:
    pk.write("greeter.nix", PKG)
    f = pk.expr_file("m.nix", "(callPackage ./greeter.nix { }).name")
    r = pk.eval_fails(f)
    assert "needs argument 'who'" in r.err
    assert "greeter.nix" in r.err


def test_override_attrs(pk: PkgsWorld) -> None:
    f = pk.expr_file("a.nix", """let
      base = stdenvNoCC.mkDerivation {
        pname = "base"; version = "1"; dontUnpack = true; flags = [ "a" ];
        installPhase = "echo $flags > $out";
      };
      prevForm = base.overrideAttrs (old: { flags = old.flags ++ [ "b" ]; });
      finalForm = base.overrideAttrs (final: prev: { version = "2"; tag = final.version; });
      selfRef = stdenvNoCC.mkDerivation (finalAttrs: {
        pname = "self"; version = "3"; dontUnpack = true;
        description = "v${finalAttrs.version}";
        installPhase = "echo $description > $out";
      });
      selfRefBumped = selfRef.overrideAttrs { version = "4"; };
      chained = (prevForm.overrideAttrs (old: { flags = old.flags ++ [ "c" ]; })).overrideAttrs
        (old: { pname = "chained"; });
    in {
      prevForm = prevForm.flags;
      finalForm = [ finalForm.name finalForm.tag ];
      selfRef = selfRef.description;
      selfRefBumped = [ selfRefBumped.name selfRefBumped.description ];
      chained = [ chained.name chained.flags ];
      distinct = base.drvPath != prevForm.drvPath;
    }""")
    assert pk.eval(f) == {
        "prevForm": ["a", "b"],
        "finalForm": ["base-2", "2"],
        "selfRef": "v3",
        "selfRefBumped": ["self-4", "v4"],
        "chained": ["chained-1", ["a", "b", "c"]],
        "distinct": True,
    }
    g = pk.expr_file("b.nix", """(stdenvNoCC.mkDerivation {
      pname = "base"; version = "1"; dontUnpack = true; flags = [ "a" ];
      installPhase = "echo $flags > $out";
    }).overrideAttrs (old: { flags = old.flags ++ [ "b" ]; })""")
    assert pk.real(pk.build(g)).read_text() == "a b\n"


UNFREE = """stdenvNoCC.mkDerivation {
  pname = "secret"; version = "1.0"; dontUnpack = true;
  installPhase = "echo secret > $out";
  meta = { description = "proprietary"; license = lib.licenses.unfree; };
}"""


def test_unfree_refused(pk: PkgsWorld) -> None:
    f = pk.expr_file("u.nix", UNFREE)
    r = pk.eval_fails(f, "drvPath")
    assert "Package 'secret-1.0' has an unfree license ('unfree'), refusing to evaluate" in r.err
    assert "{ allowUnfree = true; }" in r.err
    r = pk.eval_fails(f, "outPath")
    assert "allowUnfree" in r.err
    r = pk.build_fails(f)
    assert "unfree" in r.err and "allowUnfree" in r.err
    # but its metadata is readable (for search)
    assert pk.eval(f, "meta.description") == "proprietary"
    assert pk.eval(f, "meta.license.free") is False
    assert pk.eval(f, "meta.available") is False
    assert pk.eval(f, "name") == "secret-1.0"


def test_unfree_allowed(pk: PkgsWorld) -> None:
    pk.write("u.nix", "with import ./pkgs.nix { config = { allowUnfree = true; }; };\n" + UNFREE)
    assert pk.real(pk.build("u.nix")).read_text() == "secret\n"
    pk.write("p.nix", "with import ./pkgs.nix {\n"
             "  config.allowUnfreePredicate = p: p.pname == \"secret\";\n};\n" + UNFREE)
    pk.build("p.nix")


def test_free_license_and_meta(pk: PkgsWorld) -> None:
    f = pk.expr_file("m.nix", """stdenvNoCC.mkDerivation {
      pname = "free"; version = "2"; dontUnpack = true; installPhase = "touch $out";
      meta = {
        description = "a free package"; license = with lib.licenses; [ mit gpl3Plus ];
        mainProgram = "free"; platforms = lib.platforms.linux;
      };
    }""")
    meta = pk.eval(f, "meta")
    assert isinstance(meta, dict)
    assert meta["description"] == "a free package"
    assert [lic["shortName"] for lic in meta["license"]] == ["MIT", "GPL-3.0-or-later"]
    assert meta["mainProgram"] == "free"
    assert "x86_64-linux" in meta["platforms"]
    assert meta["available"] is True
    pk.build(f)


def test_unsupported_platform_and_broken(pk: PkgsWorld) -> None:
    f = pk.expr_file("p.nix", """{
      darwinOnly = stdenvNoCC.mkDerivation {
        name = "darwin-only"; dontUnpack = true; installPhase = "touch $out";
        meta.platforms = [ "aarch64-darwin" ];
      };
      broken = stdenvNoCC.mkDerivation {
        name = "broken"; dontUnpack = true; meta.broken = true;
      };
    }""")
    r = pk.eval_fails(f, "darwinOnly.drvPath")
    assert "Package 'darwin-only' is not available on the requested system" in r.err
    assert "allowUnsupportedSystem = true" in r.err
    assert "marked as broken" in pk.eval_fails(f, "broken.drvPath").err
    pk.write("ok.nix", "(import ./pkgs.nix { config.allowUnsupportedSystem = true; })"
             ".stdenvNoCC.mkDerivation { name = \"x\"; meta.platforms = [ \"aarch64-darwin\" ]; }")
    assert pk.eval("ok.nix", "name") == "x"
    assert isinstance(pk.eval("ok.nix", "drvPath"), str)


def test_default_bootstrap_is_debian(pk: PkgsWorld) -> None:
    """Without a `bootstrap` argument the stdenv is made of the imported Debian tools."""
    pk.write("n.nix", "import <pynix/pkgs> { }")
    assert pk.eval("n.nix", "config.allowUnfree") is False
    assert pk.eval("n.nix", "lib.licenses.mit.free") is True
    shell = pk.eval("n.nix", "stdenvNoCC.shell")
    assert isinstance(shell, str) and shell.startswith("/nix/store/")
    assert "-bash-5.2" in shell and shell.endswith("/bin/bash")
    r = pk.eval_fails("n.nix", "hello-does-not-exist")
    assert "hello-does-not-exist" in r.err
    pk.write("w.nix", '(import <pynix/pkgs> { }).writeText "x" "y"')
    assert str(pk.eval("w.nix", "drvPath")).endswith("-x.drv")


def test_bad_overlays(pk: PkgsWorld) -> None:
    pk.write("b.nix", "import ./pkgs.nix { overlays = [ { a = 1; } ]; }")
    assert "every overlay must be a function" in pk.eval_fails("b.nix", "lib").err


def test_stdenv_without_cc(pk: PkgsWorld) -> None:
    pk.write("s.nix", """(import <pynix/pkgs> {
      bootstrap = { shell = "/bin/bash"; initialPath = [ "/usr" ]; };
    }).stdenv.mkDerivation { name = "x"; }""")
    assert "no C compiler" in pk.eval_fails("s.nix", "drvPath").err


def test_same_derivations_as_nix(pk: PkgsWorld) -> None:
    """The package set is plain Nix: the real Nix evaluates it to the same
    derivation paths (overlays, callPackage, overrideAttrs included)."""
    require_nix()
    pk.write("greeter.nix", PKG)
    pk.write("d.nix", """let pkgs = import ./pkgs.nix {
        system = "x86_64-linux";
        overlays = [
          (final: prev: { who = "nix"; greeter = final.callPackage ./greeter.nix { }; })
        ];
      }; in with pkgs; [
        stdenvNoCC.drvPath
        (writeText "x" "y").drvPath
        (writeShellScriptBin "a" "echo a").drvPath
        (runCommand "r" { v = 1; } "echo $v > $out").drvPath
        (symlinkJoin { name = "j"; paths = [ (writeText "x" "y") ]; }).drvPath
        (buildEnv { name = "e"; paths = [ (writeTextDir "bin/x" "y") ]; }).drvPath
        (mkShell { packages = [ (writeText "x" "y") ]; }).drvPath
        greeter.drvPath
        (greeter.overrideAttrs (old: { pname = "other"; })).drvPath
        (greeter.override { greeting = "hi"; }).drvPath
      ]""")
    r = pk.pynix("eval", "--json", "-f", "d.nix")
    assert r.ok, r.err
    ours = json.loads(r.stdout)
    theirs = json.loads(real_nix("nix-instantiate", pk, "--eval", "--strict", "--json", "d.nix"))
    assert ours == theirs
    assert len(set(ours)) == len(ours)


def test_bootstrap_from_the_package_set(pk: PkgsWorld) -> None:
    """`bootstrap` may be a function of the finished set (tools that are
    packages themselves), and an overlay may replace `bootstrapTools`."""
    pk.write("b.nix", """let
      pkgs = import <pynix/pkgs> {
        overlays = [ (final: prev: { hostUsr = "/usr"; }) ];
        bootstrap = final: { shell = "/bin/bash"; initialPath = [ final.hostUsr ]; };
      };
      swapped = pkgs.extend (final: prev: {
        bootstrapTools = prev.bootstrapTools // { initialPath = [ "/usr" "/opt" ]; };
      });
    in {
      path = pkgs.stdenvNoCC.initialPath;
      swapped = swapped.stdenvNoCC.initialPath;
      text = pkgs.writeText "t" "from a function bootstrap";
    }""")
    assert pk.eval("b.nix", "path") == ["/usr"]
    assert pk.eval("b.nix", "swapped") == ["/usr", "/opt"]
    assert pk.real(pk.build("b.nix", "text")).read_text() == "from a function bootstrap"

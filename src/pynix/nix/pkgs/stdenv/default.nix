# The standard environments of the package set, from the bootstrap tools:
#   { shell; initialPath = [ ... ]; cc ? null; }
# `cc` is a wrapped compiler (a derivation), or the arguments of
# ./cc-wrapper.nix ({ gcc; libc; dynamicLinker; ... }) to wrap one.
{ lib, config, system, bootstrap }:
let
  stdenvNoCC = import ./generic.nix {
    inherit lib config system;
    name = "stdenv-nocc";
    inherit (bootstrap) shell initialPath;
  };

  wrapCC = args: import ./cc-wrapper.nix ({ inherit lib stdenvNoCC; } // args);

  cc =
    let c = bootstrap.cc or null; in
    if c == null || lib.isDerivation c then c else wrapCC c;

  stdenv =
    if cc == null then
      stdenvNoCC // {
        mkDerivation = _: throw "stdenv.mkDerivation: the bootstrap tools have no C compiler (bootstrap.cc is null); use stdenvNoCC";
      }
    else
      import ./generic.nix {
        inherit lib config system cc;
        name = "stdenv";
        inherit (bootstrap) shell initialPath;
      };
in
{
  inherit stdenvNoCC stdenv wrapCC cc;
}

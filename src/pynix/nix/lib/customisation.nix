# Calling package functions with their arguments from a set, overriding, and
# a few derivation and meta helpers.
{ lib }:
let
  inherit (builtins) functionArgs intersectAttrs isAttrs isFunction;
in
rec {
  makeOverridable = f: args:
    let
      result = f args;
      overrideWith = newArgs: args // (if isFunction newArgs then newArgs args else newArgs);
    in
    if isAttrs result then
      result // {
        override = newArgs: makeOverridable f (overrideWith newArgs);
        overrideDerivation = fdrv: makeOverridable (a: (f a).overrideDerivation or (_: f a) fdrv) args;
      }
    else if isFunction result then {
      __functor = self: result;
      override = newArgs: makeOverridable f (overrideWith newArgs);
    }
    else result;

  callPackageWith = autoArgs: fn: args:
    let
      f = if isFunction fn then fn else import fn;
      fargs = lib.trivial.functionArgs f;
      allArgs = intersectAttrs fargs autoArgs // args;
      missing = lib.attrsets.filterAttrs (name: optional: !optional && !(allArgs ? ${name})) fargs;
    in
    if missing == { } then makeOverridable f allArgs
    else throw "Function called without required argument(s): ${builtins.concatStringsSep ", " (builtins.attrNames missing)}";

  callPackagesWith = callPackageWith;

  # The main program of a package: meta.mainProgram or its name.
  getExe = x:
    getExe' x (x.meta.mainProgram or (lib.strings.getName x));
  getExe' = x: y: "${lib.attrsets.getBin x}/bin/${y}";

  licenses = {
    mit = { shortName = "mit"; spdxId = "MIT"; fullName = "MIT License"; free = true; };
    asl20 = { shortName = "asl20"; spdxId = "Apache-2.0"; fullName = "Apache License 2.0"; free = true; };
    bsd2 = { shortName = "bsd2"; spdxId = "BSD-2-Clause"; fullName = "BSD 2-clause \"Simplified\" License"; free = true; };
    bsd3 = { shortName = "bsd3"; spdxId = "BSD-3-Clause"; fullName = "BSD 3-clause \"New\" or \"Revised\" License"; free = true; };
    gpl2Plus = { shortName = "gpl2Plus"; spdxId = "GPL-2.0-or-later"; fullName = "GNU General Public License v2.0 or later"; free = true; };
    gpl3Plus = { shortName = "gpl3Plus"; spdxId = "GPL-3.0-or-later"; fullName = "GNU General Public License v3.0 or later"; free = true; };
    lgpl21Plus = { shortName = "lgpl21Plus"; spdxId = "LGPL-2.1-or-later"; fullName = "GNU Lesser General Public License v2.1 or later"; free = true; };
    postgresql = { shortName = "postgresql"; spdxId = "PostgreSQL"; fullName = "PostgreSQL License"; free = true; };
    psfl = { shortName = "psfl"; spdxId = "Python-2.0"; fullName = "Python Software Foundation License version 2"; free = true; };
    unfree = { shortName = "unfree"; fullName = "Unfree"; free = false; };
  };
  maintainers = { };
  teams = { };
  platforms = {
    linux = [ "x86_64-linux" "aarch64-linux" "i686-linux" "armv7l-linux" "riscv64-linux" ];
    darwin = [ "x86_64-darwin" "aarch64-darwin" ];
    unix = platforms.linux ++ platforms.darwin;
    all = platforms.unix;
  };
}

# The base package set, `final: { ... }`: the fixed point (with overlays) is
# taken in ../default.nix. Every package directory ../NAME/default.nix is
# `callPackage`d as NAME; attributes below win over those.
{ lib, config, system, bootstrap, overlays }:
final:
let
  callPackage = lib.callPackageWith final;

  stdenvs = import ../stdenv {
    inherit lib config system;
    bootstrap = final.bootstrapTools;
  };

  trivial = import ../build-support/trivial-builders.nix {
    inherit lib;
    inherit (final) stdenvNoCC stdenv;
  };

  reserved = [ "build-support" "stdenv" "top-level" "lib" ];
  entries = builtins.readDir ./..;
  packageDirs = builtins.filter
    (n: entries.${n} == "directory" && !(builtins.elem n reserved)
        && builtins.pathExists (./.. + "/${n}/default.nix"))
    (builtins.attrNames entries);
  byName = lib.genAttrs packageDirs (n: callPackage (./.. + "/${n}") { });
in
byName
// {
  # pinned Debian and PyPI inputs (their builders run inside pynix: pynix.sources)
  fetchDeb = import ../build-support/fetch-deb.nix;
  fetchDebianSource = import ../build-support/fetch-debian-source.nix;
  fetchPypi = import ../build-support/fetch-pypi.nix;
  importDeb = import ../build-support/import-deb.nix;
  unpackWheel = import ../build-support/unpack-wheel.nix;
  inherit (import ../build-support/fetchers.nix { }) fetchurl fetchzip fetchgit;
}
// {
  inherit lib config system callPackage;
  pkgs = final;
  newScope = extra: lib.callPackageWith (final // extra);

  # this package set again, with one more overlay
  extend = overlay: import ../. {
    inherit system bootstrap config;
    overlays = overlays ++ [ overlay ];
  };
  appendOverlays = more: import ../. {
    inherit system bootstrap config;
    overlays = overlays ++ more;
  };

  # { shell; initialPath; cc ? null; } (see ../stdenv/default.nix), or a
  # function of the finished package set giving it (for tools that are
  # themselves packages of the set, built without stdenv)
  bootstrapTools =
    if bootstrap == null then
      # Debian's bash, coreutils, ..., make and gcc-12, imported into the store
      import ../stdenv/debian-bootstrap.nix { inherit system; inherit (final) debian gcc; }
    else if builtins.isFunction bootstrap then bootstrap final
    else bootstrap;

  inherit (stdenvs) stdenvNoCC stdenv wrapCC;
  cc = stdenvs.cc;

  inherit (trivial)
    runtimeShell runCommandWith runCommand runCommandLocal runCommandCC
    writeTextFile writeText writeTextDir writeScript writeScriptBin
    writeShellScript writeShellScriptBin symlinkJoin mkShell;

  buildEnv = callPackage ../build-support/build-env.nix { };

  # the versioned name NixOS configurations use (the only PostgreSQL here)
  postgresql_15 = final.postgresql;
}

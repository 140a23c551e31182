# One stdenv: a derivation holding `setup` (setup.sh with this stdenv's tools),
# plus `mkDerivation`. `shell` is the bash to run builders with (a path, or a
# package with bin/bash), `initialPath` the packages (or path strings such as
# "/usr") whose bin/ make the base PATH, `cc` a wrapped compiler or null.
{ lib, config, system, name, shell, initialPath, cc ? null }:
let
  inherit (lib) isFunction isAttrs isDerivation filter optional;

  shellPath = if isAttrs shell then "${shell}/bin/bash" else toString shell;

  platform = {
    inherit system;
    isLinux = lib.hasSuffix "-linux" system;
    isDarwin = lib.hasSuffix "-darwin" system;
    isx86_64 = lib.hasPrefix "x86_64-" system;
    isAarch64 = lib.hasPrefix "aarch64-" system;
  };

  checkMeta = import ./check-meta.nix { inherit lib config system; };

  setupDrv = derivation {
    inherit name system;
    builder = shellPath;
    args = [ "-e" ./builder.sh ];
    setup = ./setup.sh;
    initialPath = map toString initialPath;
    defaultNativeBuildInputs = optional (cc != null) cc;
    shell = shellPath;
    preferLocalBuild = true;
    allowSubstitutes = false;
  };

  nonNull = xs: filter (x: x != null) xs;

  # attributes that are for Nix only, not for the builder
  nixOnly = [ "meta" "passthru" "env" "pos" "finalPackage" "realBuilder" ];

  mkDerivationSimple = overrideAttrs: attrs:
    let
      name =
        if attrs ? name then attrs.name
        else if attrs ? pname && attrs ? version then "${attrs.pname}-${toString attrs.version}"
        else if attrs ? pname then attrs.pname
        else throw "stdenv.mkDerivation: give 'name', or 'pname' and 'version'";
      env = attrs.env or { };
      clashes = filter (n: attrs ? ${n}) (builtins.attrNames env);
      drvAttrs = removeAttrs attrs nixOnly // env // {
        inherit name system;
        outputs = attrs.outputs or [ "out" ];
        builder = attrs.realBuilder or shellPath;
        args = attrs.args or [ "-e" (attrs.builder or ./default-builder.sh) ];
        stdenv = stdenv;
        doCheck = attrs.doCheck or true;
        nativeBuildInputs = nonNull (attrs.nativeBuildInputs or [ ]);
        buildInputs = nonNull (attrs.buildInputs or [ ]);
        propagatedBuildInputs = nonNull (attrs.propagatedBuildInputs or [ ]);
        propagatedNativeBuildInputs = nonNull (attrs.propagatedNativeBuildInputs or [ ]);
      };
      drv =
        if clashes != [ ] then
          throw "stdenv.mkDerivation (${name}): '${builtins.head clashes}' is given both as an attribute and in 'env'"
        else derivation drvAttrs;
      givenMeta = attrs.meta or { };
      validity = checkMeta { inherit name attrs; meta = givenMeta; };
      # `available` says whether the package may be evaluated (for listings)
      meta = { inherit name; } // givenMeta // { available = validity.valid; };
      valid = validity.valid || throw validity.message;
    in
    lib.extendDerivation valid (attrs.passthru or { } // {
      inherit meta overrideAttrs;
    }) drv;

  # `mkDerivation attrs` or `mkDerivation (finalAttrs: attrs)`; the result's
  # `overrideAttrs` takes `prev: attrs`, `final: prev: attrs` or just attrs.
  makeExtensible = rattrs:
    let
      finalAttrs = rattrs (finalAttrs // { inherit finalPackage; });
      finalPackage = mkDerivationSimple overrideAttrs finalAttrs;
      overrideAttrs = f0:
        let
          f = final: prev:
            if !(isFunction f0) then f0
            else let x = f0 prev; in if isFunction x then f0 final prev else x;
        in
        makeExtensible (final: let prev = rattrs final; in prev // f final prev);
    in
    finalPackage;

  mkDerivation = fnOrAttrs:
    makeExtensible (if isFunction fnOrAttrs then fnOrAttrs else _: fnOrAttrs);

  stdenv = setupDrv // {
    inherit mkDerivation cc system initialPath;
    shell = shellPath;
    hostPlatform = platform;
    buildPlatform = platform;
    targetPlatform = platform;
    inherit (platform) isLinux isDarwin isx86_64 isAarch64;
    hasCC = cc != null;
  };
in
stdenv

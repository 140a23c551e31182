# `nixpkgs.*`: how the package set `pkgs` is made (see ../../eval-config.nix).
{ lib, ... }:
let
  inherit (lib) mkOption types;

  # nixpkgs.config: attribute sets (or functions of `{ lib }`) merged recursively
  configType = lib.mkOptionType {
    name = "nixpkgs-config";
    description = "nixpkgs config";
    check = x: builtins.isAttrs x || builtins.isFunction x;
    merge = loc: defs:
      builtins.foldl'
        (acc: def: lib.recursiveUpdate acc
          (if builtins.isFunction def.value then def.value { inherit lib; } else def.value))
        { }
        defs;
  };

  overlayType = lib.mkOptionType {
    name = "nixpkgs-overlay";
    description = "nixpkgs overlay (a function final: prev: { ... })";
    check = builtins.isFunction;
    merge = lib.mergeOneOption;
  };
in
{
  options.nixpkgs = {
    config = mkOption {
      type = configType;
      default = { };
      example = { allowUnfree = true; };
      description = "The configuration of the package set, e.g. `allowUnfree`.";
    };
    overlays = mkOption {
      type = types.listOf overlayType;
      default = [ ];
      example = lib.literalExpression "[ (final: prev: { hello = prev.hello.override { }; }) ]";
      description = "Overlays applied to the package set, in order.";
    };
    system = mkOption {
      type = types.str;
      default = builtins.currentSystem;
      defaultText = lib.literalExpression "builtins.currentSystem";
      example = "x86_64-linux";
      description = "The platform the system is built for.";
    };
    pkgs = mkOption {
      type = types.nullOr (types.lazyAttrsOf types.raw);
      default = null;
      description = ''
        A package set to use as is (then `nixpkgs.config` and
        `nixpkgs.overlays` are not applied).
      '';
    };
  };
}

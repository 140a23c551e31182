# Evaluating a system configuration (the NixOS `eval-config.nix` of pynix):
#
#   import <pynix/os/eval-config.nix> {
#     modules = [ ./configuration.nix ];
#     specialArgs ? { };     # extra module arguments, known before `config`
#     pkgs ? null;           # a package set; null: <pynix/pkgs> built from
#                            # nixpkgs.config, nixpkgs.overlays, nixpkgs.system
#   }
#
# returns what `lib.evalModules` returns (config, options, ...) plus `pkgs`.
# The system is `config.system.build.toplevel`; reading an option builds nothing.
{ modules
, specialArgs ? { }
, pkgs ? null
, system ? null
, prefix ? [ ]
, lib ? import ../lib
}:
let
  pkgsModule = { config, ... }:
    let
      thePkgs =
        if pkgs != null then pkgs
        else if config.nixpkgs.pkgs != null then config.nixpkgs.pkgs
        else import ../pkgs {
          config = config.nixpkgs.config;
          overlays = config.nixpkgs.overlays;
          system = config.nixpkgs.system;
        };
    in
    {
      _module.args = {
        pkgs = thePkgs;
        utils = import ./utils.nix { inherit lib; pkgs = thePkgs; };
      };
      nixpkgs.system = lib.mkIf (system != null) (lib.mkDefault system);
    };

  result = lib.evalModules ({
    specialArgs = { modulesPath = toString ./modules; } // specialArgs;
    modules = import ./module-list.nix ++ [ pkgsModule ] ++ modules;
  } // (if prefix != [ ] then { inherit prefix; } else { }));
in
result // { pkgs = result._module.args.pkgs; }

# pynix's package collection:
#
#   import <pynix/pkgs> {
#     overlays = [ (final: prev: { ... }) ];   # applied in order
#     config = { allowUnfree = false; };
#     system = builtins.currentSystem;
#     bootstrap = { shell; initialPath = [ ... ]; cc ? null; };  # or pkgs: { ... }
#   }
#
# The set is the fixed point of the base set (top-level/all-packages.nix)
# extended by the overlays: `final` is the finished set, `prev` the set before
# the overlay.
{ overlays ? [ ]
, config ? { }
, system ? builtins.currentSystem
, bootstrap ? null
}:
let
  lib = import ./lib;

  userConfig = if builtins.isFunction config then config { inherit lib; } else config;
  fullConfig = {
    allowUnfree = false;
    allowBroken = false;
    allowUnsupportedSystem = false;
  } // userConfig;

  checkedOverlays =
    if !(builtins.isList overlays) then
      throw "<pynix/pkgs>: 'overlays' must be a list of functions (final: prev: { ... })"
    else if !(builtins.all builtins.isFunction overlays) then
      throw "<pynix/pkgs>: every overlay must be a function (final: prev: { ... })"
    else overlays;

  base = import ./top-level/all-packages.nix {
    inherit lib system bootstrap;
    config = fullConfig;
    overlays = checkedOverlays;
  };
in
lib.fix (lib.extends (lib.composeManyExtensions checkedOverlays) base)

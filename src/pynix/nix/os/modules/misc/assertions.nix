# `assertions` and `warnings`: checked when the toplevel is built (top-level.nix).
{ lib, ... }:
let inherit (lib) mkOption types; in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      internal = true;
      default = [ ];
      example = [ { assertion = false; message = "you can't enable this for that reason"; } ];
      description = ''
        Conditions that must hold for the system to be built: each item is
        `{ assertion = bool; message = str; }`; a false assertion aborts the
        build of the toplevel with its message.
      '';
    };
    warnings = mkOption {
      internal = true;
      default = [ ];
      type = types.listOf types.str;
      example = [ "The `foo' service is deprecated and will go away soon!" ];
      description = "Messages printed when the toplevel is built.";
    };
  };
}

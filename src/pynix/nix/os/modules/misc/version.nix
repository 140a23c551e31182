# The system's name, release and label (the toplevel is
# pynix-system-<system.name>-<system.nixos.label>).
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.system.nixos;
in
{
  options.system = {
    stateVersion = mkOption {
      type = types.str;
      default = cfg.release;
      defaultText = lib.literalExpression "config.system.nixos.release";
      example = "24.05";
      description = ''
        The release whose defaults of stateful services (e.g. the PostgreSQL
        version and data directory) this machine was first set up with.
        Do not change it on an existing machine.
      '';
    };
    name = mkOption {
      type = types.str;
      default = if config.networking.hostName == "" then "unnamed" else config.networking.hostName;
      defaultText = lib.literalExpression ''if config.networking.hostName == "" then "unnamed" else config.networking.hostName'';
      description = "The name of the system, part of the toplevel's store name.";
    };
    nixos = {
      release = mkOption {
        readOnly = true;
        type = types.str;
        default = "24.05";
        description = "The release of the system modules.";
      };
      version = mkOption {
        internal = true;
        type = types.str;
        default = "${cfg.release}.pynix";
        description = "The full version of the system modules.";
      };
      label = mkOption {
        type = types.strMatching "[a-zA-Z0-9:_\\.-]*";
        default = cfg.version;
        defaultText = lib.literalExpression "config.system.nixos.version";
        description = "The label of the generation (in the toplevel's name and `nixos-version`).";
      };
    };
  };
}

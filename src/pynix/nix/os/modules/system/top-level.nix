# system.build.toplevel: the system, one store path named
# pynix-system-<system.name>-<system.nixos.label>:
#
#   activate, dry-activate   the activation scripts (activation.nix)
#   etc                      -> the etc tree (etc.nix), with etc/systemd/system
#   sw                       -> the system environment (system-path.nix)
#   nixos-version, system    the label and the platform (no newline)
#   services.json            { "<unit>": { wantedBy, after, requires, wants } }
#                            of every enabled unit (the unit files rule)
#
# Building it first checks `assertions` (failing ones abort the evaluation
# with every message) and prints `warnings`.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;

  baseSystem = pkgs.runCommand
    "pynix-system-${config.system.name}-${config.system.nixos.label}"
    ({
      preferLocalBuild = true;
      allowSubstitutes = false;
      passAsFile = [ "activate" "dryActivate" "builderCommands" ];
      activate = config.system.activationScriptText;
      dryActivate = config.system.dryActivationScriptText;
      builderCommands = config.system.systemBuilderCommands;
      etc = config.system.build.etc;
      sw = config.system.path;
      servicesJson = config.system.build.servicesJson;
      label = config.system.nixos.label;
      systemName = config.nixpkgs.system;
      shell = "${pkgs.bash}/bin/bash";
    } // config.system.systemBuilderArgs)
    ''
      mkdir -p "$out"
      # the scripts know their system: @out@ is this path
      writeScript() {
        local text
        text="$(< "$1")"
        printf '%s\n' "''${text//@out@/$out}" > "$2"
        chmod 0555 "$2"
        "$shell" -n "$2"
      }
      writeScript "$activatePath" "$out/activate"
      writeScript "$dryActivatePath" "$out/dry-activate"
      ln -s "$etc/etc" "$out/etc"
      ln -s "$sw" "$out/sw"
      printf '%s' "$label" > "$out/nixos-version"
      printf '%s' "$systemName" > "$out/system"
      cp "$servicesJson" "$out/services.json"
      . "$builderCommandsPath"
    '';

  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);

  checked =
    if failedAssertions != [ ] then
      throw "\nFailed assertions:\n${lib.concatMapStringsSep "\n" (m: "- ${m}") failedAssertions}"
    else
      lib.foldr (w: acc: builtins.trace "warning: ${w}" acc) baseSystem config.warnings;
in
{
  options.system = {
    build.toplevel = mkOption {
      readOnly = true;
      type = types.package;
      description = "The system: everything a generation of the machine is.";
    };
    systemBuilderCommands = mkOption {
      internal = true;
      type = types.lines;
      default = "";
      description = "Shell commands run at the end of the toplevel's build (`$out` is the system).";
    };
    systemBuilderArgs = mkOption {
      internal = true;
      type = types.attrsOf types.unspecified;
      default = { };
      description = "Attributes of the toplevel derivation (for systemBuilderCommands).";
    };
  };

  config.system.build.toplevel = checked;
}

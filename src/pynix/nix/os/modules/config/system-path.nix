# The system environment: environment.systemPackages linked together into
# `system.path`, which is /run/current-system/sw.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.environment;
in
{
  options = {
    environment.systemPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
      example = lib.literalExpression "[ pkgs.nginx pkgs.postgresql ]";
      description = ''
        Packages installed in the system environment
        (/run/current-system/sw: their bin/ is on every user's PATH).
      '';
    };
    environment.corePackages = mkOption {
      type = types.listOf types.package;
      default = [ pkgs.bash pkgs.coreutils pkgs.debian.findutils pkgs.debian.grep pkgs.debian.sed ];
      defaultText = "[ bash coreutils findutils grep sed ]";
      description = "The minimal tools every system has, installed after systemPackages.";
    };
    environment.pathsToLink = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "/share/doc" ];
      description = "Directories of the packages linked into the system environment.";
    };
    environment.extraOutputsToInstall = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "dev" "man" ];
      description = "Outputs of the packages installed in addition to their default ones.";
    };
    environment.extraSetup = mkOption {
      type = types.lines;
      default = "";
      description = "Shell commands run at the end of the system environment's build (`$out` is set).";
    };
    system.path = mkOption {
      internal = true;
      type = types.package;
      description = "The system environment (buildEnv of environment.systemPackages).";
    };
  };

  config = {
    environment.pathsToLink = [ "/bin" "/sbin" "/lib" "/share/systemd" ];

    system.path = pkgs.buildEnv {
      name = "system-path";
      paths = cfg.systemPackages ++ cfg.corePackages;
      inherit (cfg) extraOutputsToInstall;
      pathsToLink = lib.unique cfg.pathsToLink;
      ignoreCollisions = true;
      postBuild = ''
        # wrapped programs' originals are not for users
        if [ -d "$out/bin" ]; then
          find "$out/bin" -maxdepth 1 -name '.*-wrapped' -type l -delete
        fi
        ${cfg.extraSetup}
      '';
    };
  };
}

# systemd.tmpfiles.rules: directories, files and links made (or fixed) at
# every activation by ../../helpers/tmpfiles.py, after users and /etc.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.systemd.tmpfiles;
  rulesFile = pkgs.writeText "tmpfiles.conf" (lib.concatStringsSep "\n" cfg.rules + "\n");
in
{
  options.systemd.tmpfiles.rules = mkOption {
    type = types.listOf types.str;
    default = [ ];
    example = [ "d /var/www 0755 root root -" "L+ /srv/site - - - - /var/www" ];
    description = ''
      tmpfiles.d lines `Type Path Mode User Group Age Argument`, applied at
      every activation (types d, D, f, F, w, L, L+, z, Z, r, R).
    '';
  };

  config.system.activationScripts.tmpfiles = lib.mkIf (cfg.rules != [ ]) {
    deps = [ "users" "groups" "etc" "var" ];
    text = ''
      ${pkgs.python3}/bin/python3 ${../../helpers/tmpfiles.py} ${rulesFile}
    '';
  };
}

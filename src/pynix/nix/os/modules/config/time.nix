# time.timeZone: /etc/localtime (and /etc/timezone) from Debian's tzdata.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  tz = config.time.timeZone;
in
{
  options.time.timeZone = mkOption {
    type = types.nullOr (types.strMatching "[^ ]+");
    default = null;
    example = "Europe/Paris";
    description = "The time zone of the machine (null: UTC).";
  };

  config = lib.mkIf (tz != null) {
    environment.etc.localtime = {
      source = "${pkgs.debian.tzdata}/share/zoneinfo/${tz}";
      mode = "direct-symlink";
    };
    environment.etc.timezone.text = tz + "\n";
  };
}

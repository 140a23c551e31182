# networking.hostName and the files services need to resolve names:
# /etc/hostname, /etc/hosts, /etc/nsswitch.conf.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.networking;
in
{
  options.networking = {
    hostName = mkOption {
      type = types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$";
      default = "pynix";
      example = "server1";
      description = ''
        The name of the machine (a valid DNS label: letters, digits, `-`,
        at most 63 characters), written to /etc/hostname and /etc/hosts.
      '';
    };
    domain = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "home.arpa";
      description = "The domain; with it the host's FQDN is hostName.domain.";
    };
    hosts = mkOption {
      type = types.attrsOf (types.listOf types.str);
      default = { };
      example = { "127.0.0.2" = [ "other-localhost" ]; };
      description = "Entries of /etc/hosts: address -> names.";
    };
    extraHosts = mkOption {
      type = types.lines;
      default = "";
      description = "Lines appended to /etc/hosts.";
    };
  };

  config = {
    networking.hosts =
      let
        names = lib.optional (cfg.domain != null && cfg.hostName != "") "${cfg.hostName}.${cfg.domain}"
          ++ lib.optional (cfg.hostName != "") cfg.hostName;
      in
      {
        "127.0.0.1" = lib.mkBefore ([ "localhost" ] ++ names);
        "::1" = lib.mkBefore [ "localhost" ];
      };

    environment.etc.hostname = lib.mkIf (cfg.hostName != "") { text = cfg.hostName + "\n"; };

    environment.etc.hosts.text =
      lib.concatStrings (lib.mapAttrsToList
        (addr: names: "${addr} ${lib.concatStringsSep " " names}\n")
        (lib.filterAttrs (_: names: names != [ ]) cfg.hosts))
      + cfg.extraHosts;

    environment.etc."nsswitch.conf".text = ''
      passwd:    files
      group:     files
      shadow:    files
      hosts:     files dns
      networks:  files
      ethers:    files
      services:  files
      protocols: files
      rpc:       files
    '';
  };
}

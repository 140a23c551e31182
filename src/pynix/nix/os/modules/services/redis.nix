# services.redis.servers.<name>: Redis servers, each its own service
# (`redis-<name>`, or `redis` for the name "") with its own user, state
# directory /var/lib/<service> and configuration file.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkEnableOption mkIf types optionalString concatStringsSep;

  cfg = config.services.redis;

  redisName = name: if name == "" then "redis" else "redis-${name}";
  enabledServers = lib.filterAttrs (_: s: s.enable) cfg.servers;

  toValue = v:
    if builtins.isBool v then (if v then "yes" else "no")
    else if v == "" then "\"\""
    else toString v;

  # `key value` lines; a list gives one line per element
  configText = settings: concatStringsSep "" (lib.concatLists (lib.mapAttrsToList (k: v:
    if v == null then [ ]
    else if builtins.isList v then map (e: "${k} ${toValue e}\n") v
    else [ "${k} ${toValue v}\n" ]) settings));

  serverOpts = { name, config, ... }: {
    options = {
      enable = mkEnableOption "Redis server ${if name == "" then "(the default one)" else name}";
      user = mkOption {
        type = types.str;
        default = redisName name;
        description = "The user the server runs as (created when it is the default).";
      };
      group = mkOption {
        type = types.str;
        default = config.user;
        description = "The group the server runs as.";
      };
      port = mkOption {
        type = types.port;
        default = if name == "" then 6379 else 0;
        description = "The TCP port (0: no TCP).";
      };
      bind = mkOption {
        type = types.nullOr types.str;
        default = "127.0.0.1";
        example = "192.0.2.1 127.0.0.1";
        description = "The addresses listened on (null: all).";
      };
      unixSocket = mkOption {
        type = types.nullOr types.path;
        default = "/run/${redisName name}/redis.sock";
        description = "The unix socket (null: none).";
      };
      unixSocketPerm = mkOption {
        type = types.int;
        default = 660;
        description = "The permissions of the unix socket.";
      };
      logLevel = mkOption {
        type = types.enum [ "debug" "verbose" "notice" "warning" "nothing" ];
        default = "notice";
        description = "How much is logged.";
      };
      logfile = mkOption {
        type = types.str;
        default = "";
        description = "Where the log goes (\"\": standard output).";
      };
      databases = mkOption {
        type = types.int;
        default = 16;
        description = "The number of databases.";
      };
      maxclients = mkOption {
        type = types.int;
        default = 10000;
        description = "The most clients connected at once.";
      };
      save = mkOption {
        type = types.listOf (types.listOf types.int);
        default = [ [ 900 1 ] [ 300 10 ] [ 60 10000 ] ];
        description = "Snapshots: [ seconds changes ] pairs ([ ]: none).";
      };
      appendOnly = mkOption {
        type = types.bool;
        default = false;
        description = "Whether every write is logged to the append-only file.";
      };
      appendFsync = mkOption {
        type = types.str;
        default = "everysec";
        description = "How often the append-only file is synced.";
      };
      requirePass = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "A password clients must give (stored in the store!).";
      };
      openFirewall = mkOption {
        type = types.bool;
        default = false;
        description = "No effect in pynix: it manages no firewall (see networking.firewall).";
      };
      settings = mkOption {
        type = types.attrsOf (types.oneOf [ types.bool types.int types.str (types.listOf types.str) ]);
        default = { };
        example = { loglevel = "debug"; };
        description = "redis.conf settings (they win over those of the options).";
      };
    };
    config.settings = lib.mapAttrs (_: lib.mkDefault) ({
      inherit (config) port databases maxclients;
      daemonize = false;
      supervised = "systemd";
      loglevel = config.logLevel;
      logfile = config.logfile;
      syslog-enabled = false;
      dir = "/var/lib/${redisName name}";
      appendonly = config.appendOnly;
      appendfsync = config.appendFsync;
      save = if config.save == [ ] then "\"\"" else map (concatStringsSep " ") (map (map toString) config.save);
    } // lib.optionalAttrs (config.bind != null) { inherit (config) bind; }
      // lib.optionalAttrs (config.unixSocket != null) {
      unixsocket = toString config.unixSocket;
      unixsocketperm = toString config.unixSocketPerm;
    } // lib.optionalAttrs (config.requirePass != null) { requirepass = config.requirePass; });
  };
in
{
  options.services.redis = {
    package = mkOption {
      type = types.package;
      default = pkgs.redis;
      defaultText = "pkgs.redis";
      description = "The Redis package.";
    };
    servers = mkOption {
      type = types.attrsOf (types.submodule serverOpts);
      default = { };
      example = { "" = { enable = true; }; cache = { enable = true; port = 6380; }; };
      description = "Redis servers by name; the name \"\" is the service `redis`, any other `redis-<name>`.";
    };
  };

  config = mkIf (enabledServers != { }) {
    assertions = lib.mapAttrsToList (name: s: {
      assertion = s.port != 0 || s.unixSocket != null;
      message = "services.redis.servers.\"${name}\": neither a port nor a unixSocket is set; the server could not be reached.";
    }) enabledServers;

    environment.systemPackages = [ cfg.package ];

    users.users = lib.mapAttrs' (name: s: lib.nameValuePair s.user {
      description = "System user of the Redis server ${redisName name}";
      isSystemUser = true;
      group = s.group;
    }) (lib.filterAttrs (name: s: s.user == redisName name) enabledServers);
    users.groups = lib.mapAttrs' (name: s: lib.nameValuePair s.group { })
      (lib.filterAttrs (name: s: s.group == redisName name) enabledServers);

    systemd.services = lib.mapAttrs' (name: s:
      let
        sname = redisName name;
        configFile = pkgs.writeText "${sname}.conf" (configText s.settings);
      in
      lib.nameValuePair sname {
        description = "Redis Server - ${sname}";
        wantedBy = [ "multi-user.target" ];
        after = [ "network.target" ];
        serviceConfig = {
          ExecStart = "${cfg.package}/bin/redis-server ${configFile}";
          Type = "notify";
          User = s.user;
          Group = s.group;
          RuntimeDirectory = sname;
          RuntimeDirectoryMode = "0750";
          StateDirectory = sname;
          StateDirectoryMode = "0700";
          UMask = "0077";
          Restart = "on-failure";
        };
      }) enabledServers;
  };
}

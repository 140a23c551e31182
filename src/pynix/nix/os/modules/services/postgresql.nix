# services.postgresql: the PostgreSQL server (NixOS 24.05 layout: the setup
# statements run in the postStart of postgresql.service).  The unix socket is
# in /run/postgresql; the data directory is made by initdb on the first start.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkEnableOption mkIf mkDefault mkBefore mkAfter types
    optionalString concatMapStrings concatStringsSep;

  cfg = config.services.postgresql;
  pg = cfg.package;
  defaultDataDir = "/var/lib/postgresql/${pg.psqlSchema}";

  toValue = v:
    if builtins.isBool v then (if v then "yes" else "no")
    else if builtins.isString v then "'${lib.replaceStrings [ "'" ] [ "''" ] v}'"
    else toString v;

  configText = concatStringsSep "\n" (lib.mapAttrsToList (k: v: "${k} = ${toValue v}")
    (lib.filterAttrs (_: v: v != null) cfg.settings)) + "\n";

  configFile = pkgs.writeTextDir "postgresql.conf" configText;

  authFile = pkgs.writeText "pg_hba.conf" cfg.authentication;
  identFile = pkgs.writeText "pg_ident.conf" cfg.identMap;

  socketDir = builtins.head (lib.splitString "," (toString cfg.settings.unix_socket_directories));

  clauseNames = [ "superuser" "createrole" "createdb" "inherit" "login" "replication" "bypassrls" ];

  ensureUserSql = u:
    let
      clauses = lib.concatMap (c:
        let v = u.ensureClauses.${c}; in
        if v == null then [ ] else [ (if v then c else "no${c}") ])
        (lib.sort (a: b: a < b) clauseNames);
    in
    ''
      $PSQL -tAc "SELECT 1 FROM pg_roles WHERE rolname='${u.name}'" | grep -q 1 || $PSQL -tAc 'CREATE USER "${u.name}"'
    '' + optionalString (clauses != [ ]) ''
      $PSQL -tAc 'ALTER ROLE "${u.name}" ${concatStringsSep " " clauses}'
    '' + concatStringsSep "" (lib.mapAttrsToList (object: privileges: ''
      $PSQL -tAc 'GRANT ${privileges} ON ${object} TO "${u.name}"'
    '') u.ensurePermissions) + optionalString u.ensureDBOwnership ''
      $PSQL -tAc 'ALTER DATABASE "${u.name}" OWNER TO "${u.name}";'
    '';

  clauseOption = name: mkOption {
    type = types.nullOr types.bool;
    default = null;
    description = "Whether the role has ${name} (`${name}` or `no${name}`; null: left as is).";
  };
in
{
  imports = [
    (lib.mkRenamedOptionModule [ "services" "postgresql" "extraPlugins" ] [ "services" "postgresql" "extensions" ])
    # NixOS 24.05 moved the port into settings; the old name still works, with a warning
    (lib.mkRenamedOptionModule [ "services" "postgresql" "port" ] [ "services" "postgresql" "settings" "port" ])
  ];

  options.services.postgresql = {
    enable = mkEnableOption "PostgreSQL Server";
    package = mkOption {
      type = types.package;
      default = pkgs.postgresql;
      defaultText = "pkgs.postgresql (chosen by system.stateVersion: PostgreSQL 15)";
      description = "The PostgreSQL package.";
    };
    dataDir = mkOption {
      type = types.path;
      default = defaultDataDir;
      defaultText = "/var/lib/postgresql/<package.psqlSchema>";
      example = "/var/lib/postgresql/15";
      description = "The data directory (made by initdb on the first start).";
    };
    settings = mkOption {
      type = types.submodule {
        freeformType = types.attrsOf (types.nullOr (types.oneOf [ types.bool types.float types.int types.str ]));
        options = {
          port = mkOption {
            type = types.port;
            default = 5432;
            description = "The port the server listens on (also the socket's name).";
          };
          log_line_prefix = mkOption {
            type = types.str;
            default = "[%p] ";
            description = "The prefix of log lines.";
          };
          shared_preload_libraries = mkOption {
            type = types.nullOr (types.coercedTo (types.listOf types.str) (concatStringsSep ", ") types.str);
            default = null;
            description = "Libraries loaded at server start.";
          };
        };
      };
      default = { };
      example = { log_connections = true; max_connections = 200; };
      description = "postgresql.conf: one `key = value` line per attribute.";
    };
    enableTCPIP = mkOption {
      type = types.bool;
      default = false;
      description = "Whether the server listens on every address (else on localhost only).";
    };
    authentication = mkOption {
      type = types.lines;
      default = "";
      example = "host all all 10.0.0.0/8 md5";
      description = ''
        pg_hba.conf: lines defined here come after a header and before the
        defaults (local peer, host md5 on 127.0.0.1 and ::1); mkForce
        replaces everything.
      '';
    };
    identMap = mkOption {
      type = types.lines;
      default = "";
      description = "pg_ident.conf: maps of system user names to database roles.";
    };
    initdbArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "--data-checksums" ];
      description = "More arguments of initdb.";
    };
    initialScript = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = "An SQL file run once, on the first start after initdb.";
    };
    ensureDatabases = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "myapp" ];
      description = "Databases created when missing (never dropped).";
    };
    ensureUsers = mkOption {
      type = types.listOf (types.submodule {
        options = {
          name = mkOption {
            type = types.str;
            description = "The role's name.";
          };
          ensureDBOwnership = mkOption {
            type = types.bool;
            default = false;
            description = "Whether the role owns the database of the same name (in ensureDatabases).";
          };
          ensurePermissions = mkOption {
            type = types.attrsOf types.str;
            default = { };
            example = { "DATABASE \"mydb\"" = "ALL PRIVILEGES"; };
            description = ''
              Privileges granted to the role: `"<object>" = "<privileges>"`
              (GRANT <privileges> ON <object> TO the role). Deprecated in
              NixOS for ensureDBOwnership; kept for older configurations.
            '';
          };
          ensureClauses = builtins.listToAttrs (map (c: lib.nameValuePair c (clauseOption c)) clauseNames);
        };
      });
      default = [ ];
      example = [ { name = "myapp"; ensureDBOwnership = true; } ];
      description = "Roles created when missing (never dropped), with their clauses.";
    };
    extensions = mkOption {
      type = types.coercedTo (types.listOf types.path) (p: _: p) (types.functionTo (types.listOf types.path));
      default = _: [ ];
      description = "Extensions of the server (pynix's PostgreSQL has none packaged).";
    };
    enableJIT = mkEnableOption "JIT support";
    superUser = mkOption {
      type = types.str;
      default = "postgres";
      readOnly = true;
      description = "The superuser of the database (the system user the server runs as).";
    };
    checkConfig = mkOption {
      type = types.bool;
      default = true;
      description = "Whether the configuration is checked when it is built.";
    };
  };

  config = mkIf cfg.enable {
    assertions = map (u: {
      assertion = u.ensureDBOwnership -> builtins.elem u.name cfg.ensureDatabases;
      message = ''
        For each database user defined with `services.postgresql.ensureUsers` and
        `ensureDBOwnership = true;`, a database with the same name must be defined
        in `services.postgresql.ensureDatabases`.

        Offender: ${u.name} has not been found among databases.
      '';
    }) cfg.ensureUsers
    ++ [ {
      assertion = cfg.extensions pg.pkgs or { } == [ ];
      message = "services.postgresql.extensions: pynix's PostgreSQL has no extensions packaged.";
    } ];

    services.postgresql.settings = {
      hba_file = "${authFile}";
      ident_file = "${identFile}";
      log_destination = "stderr";
      listen_addresses = if cfg.enableTCPIP then "*" else "localhost";
      jit = mkDefault (if cfg.enableJIT then "on" else "off");
      unix_socket_directories = mkDefault "/run/postgresql";
    };

    services.postgresql.authentication = lib.mkMerge [
      (mkBefore "# Generated file; do not edit!")
      (mkAfter ''
        # default value of services.postgresql.authentication
        local all all              peer
        host  all all 127.0.0.1/32 md5
        host  all all ::1/128      md5
      '')
    ];

    users.users.postgres = {
      name = "postgres";
      uid = 71;
      group = "postgres";
      description = "PostgreSQL server user";
      home = "${cfg.dataDir}";
      useDefaultShell = true;
    };
    users.groups.postgres.gid = 71;

    environment.systemPackages = [ pg ];
    environment.pathsToLink = [ "/share/postgresql" ];

    systemd.services.postgresql = {
      description = "PostgreSQL Server";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      environment.PGDATA = cfg.dataDir;
      path = [ pg ];
      unitConfig.RequiresMountsFor = "${cfg.dataDir}";

      preStart = ''
        if ! test -e ${cfg.dataDir}/PG_VERSION; then
          # a new cluster: no configuration of an earlier one stays
          rm -f ${cfg.dataDir}/*.conf
          initdb -U ${cfg.superUser} --encoding=UTF8 --locale=C ${lib.escapeShellArgs cfg.initdbArgs}
          # the setup of postStart runs once
          touch "${cfg.dataDir}/.first_startup"
        fi
        ln -sfn "${configFile}/postgresql.conf" "${cfg.dataDir}/postgresql.conf"
      '';

      # the service is started when the server answers and the ensure*
      # statements ran
      postStart = ''
        PSQL="psql --port=${toString cfg.settings.port} --host=${socketDir}"
        while ! $PSQL -d postgres -c "" 2> /dev/null; do
          if [ -n "''${MAINPID:-}" ] && ! kill -0 "$MAINPID"; then exit 1; fi
          sleep 0.1
        done

        if test -e "${cfg.dataDir}/.first_startup"; then
          ${optionalString (cfg.initialScript != null) ''
            $PSQL -f "${cfg.initialScript}" -d postgres
          ''}
          rm -f "${cfg.dataDir}/.first_startup"
        fi
      '' + concatMapStrings (d: ''
        $PSQL -tAc "SELECT 1 FROM pg_database WHERE datname = '${d}'" | grep -q 1 || $PSQL -tAc 'CREATE DATABASE "${d}"'
      '') cfg.ensureDatabases
      + concatMapStrings ensureUserSql cfg.ensureUsers;

      serviceConfig = lib.mkMerge [
        {
          ExecStart = "${pg}/bin/postgres";
          ExecReload = "${pkgs.bash}/bin/bash -c 'kill -HUP $MAINPID'";
          User = "postgres";
          Group = "postgres";
          RuntimeDirectory = "postgresql";
          Type = "notify";
          KillSignal = "SIGINT";
          KillMode = "mixed";
          TimeoutSec = 120;
        }
        (mkIf (cfg.dataDir == defaultDataDir) {
          StateDirectory = "postgresql postgresql/${pg.psqlSchema}";
          StateDirectoryMode = "0750";
        })
      ];
    };
  };
}

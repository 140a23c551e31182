# systemd units: systemd.services, systemd.targets, systemd.timers,
# systemd.sockets and the
# final systemd.units, rendered to unit files (the format of systemd, as NixOS
# writes them) and linked into the unit directory /etc/systemd/system
# (with <target>.wants/<unit> links).  The same files drive systemd where it
# is PID 1 and pynix's supervisor-based service manager everywhere else.
{ config, lib, pkgs, utils, ... }:
let
  inherit (lib) mkOption mkIf mkDefault mkAfter types;
  inherit (utils) unitOption unitNameType attrsToSection makeJobScript storeName;

  cfg = config.systemd;

  unitList = description: mkOption {
    type = types.listOf unitNameType;
    default = [ ];
    inherit description;
  };

  # the options of every kind of unit
  commonUnitOpts = { name, config, ... }: {
    options = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Whether the unit is installed; false masks it (a link to /dev/null).";
      };
      description = mkOption {
        type = types.singleLineStr or (types.strMatching "[^\n]*");
        default = "";
        description = "The unit's Description=.";
      };
      documentation = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "The unit's Documentation= (URLs).";
      };
      requires = unitList "Units started with this one; if they fail, this one fails (Requires=).";
      wants = unitList "Units started with this one (Wants=).";
      upholds = unitList "Units kept running while this one runs (Upholds=).";
      after = unitList "Units this one starts after (After=).";
      before = unitList "Units this one starts before (Before=).";
      bindsTo = unitList "Like requires, and stopped when they stop (BindsTo=).";
      partOf = unitList "Units whose stop or restart applies to this one (PartOf=).";
      conflicts = unitList "Units stopped when this one starts (Conflicts=).";
      requisite = unitList "Units that must already run (Requisite=).";
      onFailure = unitList "Units started when this one fails (OnFailure=).";
      onSuccess = unitList "Units started when this one succeeds (OnSuccess=).";
      wantedBy = unitList "Units that want this one: a <unit>.wants/ link each.";
      requiredBy = unitList "Units that require this one: a <unit>.requires/ link each.";
      upheldBy = unitList "Units that uphold this one: a <unit>.upholds/ link each.";
      aliases = unitList "Other names of this unit (links to it).";
      unitConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
        example = { RequiresMountsFor = "/data"; };
        description = "Keys of the [Unit] section.";
      };
      startLimitBurst = mkOption {
        type = types.nullOr types.int;
        default = null;
        description = "StartLimitBurst= of the unit.";
      };
      startLimitIntervalSec = mkOption {
        type = types.nullOr types.int;
        default = null;
        description = "StartLimitIntervalSec= of the unit.";
      };
      restartTriggers = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
        description = "Values (e.g. configuration files) whose change restarts the unit.";
      };
      reloadTriggers = mkOption {
        type = types.listOf unitOption;
        default = [ ];
        description = "Values whose change (alone) reloads the unit instead.";
      };
      overrideStrategy = mkOption {
        type = types.enum [ "asDropinIfExists" "asDropin" ];
        default = "asDropinIfExists";
        description = "How the unit is installed when an upstream unit of that name exists.";
      };
    };
    config.unitConfig =
      let
        joined = list: mkIf (list != [ ]) (toString list);
        triggerFile = kind: items: pkgs.writeText "X-${kind}-Triggers-${storeName name}"
          (lib.concatMapStringsSep "\n" toString (lib.flatten items));
      in
      {
        Description = mkIf (config.description != "") config.description;
        Documentation = joined config.documentation;
        Requires = joined config.requires;
        Wants = joined config.wants;
        Upholds = joined config.upholds;
        After = joined config.after;
        Before = joined config.before;
        BindsTo = joined config.bindsTo;
        PartOf = joined config.partOf;
        Conflicts = joined config.conflicts;
        Requisite = joined config.requisite;
        OnFailure = joined config.onFailure;
        OnSuccess = joined config.onSuccess;
        StartLimitBurst = mkIf (config.startLimitBurst != null) config.startLimitBurst;
        StartLimitIntervalSec = mkIf (config.startLimitIntervalSec != null) config.startLimitIntervalSec;
        X-Restart-Triggers = mkIf (config.restartTriggers != [ ])
          "${triggerFile "Restart" config.restartTriggers}";
        X-Reload-Triggers = mkIf (config.reloadTriggers != [ ])
          "${triggerFile "Reload" config.reloadTriggers}";
      };
  };

  serviceOpts = { name, config, ... }: {
    options = {
      serviceConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
        example = { ExecStart = "/nix/store/...-myapp/bin/myapp"; Restart = "always"; User = "myapp"; };
        description = "Keys of the [Service] section.";
      };
      environment = mkOption {
        type = types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ]));
        default = { };
        example = { PORT = "8080"; };
        description = "Environment variables of the service's processes (null: unset).";
      };
      path = mkOption {
        type = types.listOf (types.oneOf [ types.package types.str ]);
        default = [ ];
        description = "Packages whose bin/ and sbin/ make the service's PATH.";
      };
      script = mkOption {
        type = types.lines;
        default = "";
        description = "Shell commands that are the service's main process (ExecStart=).";
      };
      scriptArgs = mkOption {
        type = types.str;
        default = "";
        description = "Arguments of `script`.";
      };
      preStart = mkOption {
        type = types.lines;
        default = "";
        description = "Shell commands run before the main process (ExecStartPre=).";
      };
      postStart = mkOption {
        type = types.lines;
        default = "";
        description = "Shell commands run after the main process started (ExecStartPost=); the service is started when they end.";
      };
      reload = mkOption {
        type = types.lines;
        default = "";
        description = "Shell commands that reload the service (ExecReload=).";
      };
      preStop = mkOption {
        type = types.lines;
        default = "";
        description = "Shell commands that stop the service (ExecStop=).";
      };
      postStop = mkOption {
        type = types.lines;
        default = "";
        description = "Shell commands run after the service stopped (ExecStopPost=).";
      };
      restartIfChanged = mkOption {
        type = types.bool;
        default = true;
        description = "Whether a switch restarts the service when its unit changed.";
      };
      reloadIfChanged = mkOption {
        type = types.bool;
        default = false;
        description = "Whether a switch reloads (instead of restarting) the service when its unit changed.";
      };
      stopIfChanged = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Whether a changed service is stopped (old unit) before it is started
          (new unit); false restarts it in one step with the new unit.
        '';
      };
      notSocketActivated = mkOption {
        type = types.bool;
        default = false;
        description = "Whether the service is never socket-activated (restart it directly).";
      };
      startAt = mkOption {
        type = types.either types.str (types.listOf types.str);
        default = [ ];
        example = "*-*-* 03:00:00";
        apply = v: if builtins.isList v then v else [ v ];
        description = "Calendar times at which the service starts (a timer unit of the same name).";
      };
      enableStrictShellChecks = mkOption {
        type = types.bool;
        default = cfg.enableStrictShellChecks;
        description = "Whether the scripts run with `set -euo pipefail`.";
      };
    };

    config =
      let
        strict = lib.optionalString config.enableStrictShellChecks "set -euo pipefail\n";
        job = phase: text: makeJobScript name phase (strict + text);
      in
      {
        path = mkAfter [ pkgs.coreutils pkgs.debian.findutils pkgs.debian.grep pkgs.debian.sed ];
        environment.PATH = utils.makeBinPath config.path;
        serviceConfig = lib.mkMerge [
          (mkIf (config.script != "") { ExecStart = "${job "start" config.script} ${config.scriptArgs}"; })
          (mkIf (config.preStart != "") { ExecStartPre = [ (job "pre-start" config.preStart) ]; })
          (mkIf (config.postStart != "") { ExecStartPost = [ (job "post-start" config.postStart) ]; })
          (mkIf (config.reload != "") { ExecReload = job "reload" config.reload; })
          (mkIf (config.preStop != "") { ExecStop = job "pre-stop" config.preStop; })
          (mkIf (config.postStop != "") { ExecStopPost = job "post-stop" config.postStop; })
        ];
      };
  };

  targetOpts = { ... }: { };

  timerOpts = { ... }: {
    options.timerConfig = mkOption {
      type = types.attrsOf unitOption;
      default = { };
      example = { OnCalendar = "daily"; Persistent = true; };
      description = "Keys of the [Timer] section.";
    };
  };

  socketOpts = { ... }: {
    options = {
      listenStreams = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "127.0.0.1:8080" "/run/foo.sock" ];
        description = ''
          Stream sockets to listen on (ListenStream=): a port, an address
          and port ("127.0.0.1:80", "[::1]:80") or an absolute unix socket path.
        '';
      };
      listenDatagrams = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "127.0.0.1:5353" ];
        description = "Datagram sockets to listen on (ListenDatagram=), written as listenStreams.";
      };
      socketConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
        example = { Accept = false; SocketMode = "0660"; Service = "other.service"; };
        description = "Keys of the [Socket] section.";
      };
    };
  };

  # the per-unit data every kind of unit ends up as
  unitOpts = { name, config, ... }: {
    config.unit = mkDefault (
      if config.text == null then throw "systemd.units.\"${name}\" has no text"
      else pkgs.writeTextFile {
        name = "unit-${storeName name}";
        destination = "/${name}";
        inherit (config) text;
      });
    options = {
      text = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "The unit file's text.";
      };
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Whether the unit is installed (false: masked).";
      };
      wantedBy = unitList "Units that want this one.";
      requiredBy = unitList "Units that require this one.";
      upheldBy = unitList "Units that uphold this one.";
      aliases = unitList "Other names of this unit.";
      after = unitList "(internal) After= of the unit, for services.json.";
      requires = unitList "(internal) Requires= of the unit, for services.json.";
      wants = unitList "(internal) Wants= of the unit, for services.json.";
      overrideStrategy = mkOption {
        type = types.enum [ "asDropinIfExists" "asDropin" ];
        default = "asDropinIfExists";
        description = "How the unit is installed over an upstream one.";
      };
      unit = mkOption {
        internal = true;
        type = types.package;
        description = "The store directory holding the unit file.";
      };
    };
  };

  installText = def:
    let
      lines = lib.optional (def.wantedBy != [ ]) "WantedBy=${toString def.wantedBy}"
        ++ lib.optional (def.requiredBy != [ ]) "RequiredBy=${toString def.requiredBy}"
        ++ lib.optional (def.upheldBy != [ ]) "UpheldBy=${toString def.upheldBy}";
    in
    lib.optionalString (lines != [ ]) "\n[Install]\n${lib.concatMapStrings (l: l + "\n") lines}";

  unitText = def: sectionText:
    "[Unit]\n" + attrsToSection def.unitConfig + "\n" + sectionText + installText def;

  environmentLines = name: env:
    lib.concatMapStrings (n:
      let
        v = env.${n};
        line = "Environment=${builtins.toJSON "${n}=${toString v}"}\n";
      in
      if v == null then ""
      else if builtins.stringLength line >= 1048576 then
        throw "systemd.services.${name}.environment.${n}: the Environment= line is 1 MiB or longer"
      else line)
      (builtins.attrNames env);

  serviceText = name: def:
    unitText def (
      "[Service]\n"
      + environmentLines name (cfg.globalEnvironment // def.environment)
      + (if def.reloadIfChanged then "X-ReloadIfChanged=true\n"
         else if !def.restartIfChanged then "X-RestartIfChanged=false\n" else "")
      + lib.optionalString (!def.stopIfChanged) "X-StopIfChanged=false\n"
      + lib.optionalString def.notSocketActivated "X-NotSocketActivated=true\n"
      + attrsToSection def.serviceConfig);

  toUnit = text: def: {
    inherit text;
    inherit (def) enable wantedBy requiredBy upheldBy aliases overrideStrategy after requires wants;
  };

  # the unit directory (/etc/systemd/system)
  enabledUnits = lib.filterAttrs (_: u: u.enable) cfg.units;
  q = lib.escapeShellArg;
  linkCommands = lib.concatStrings (lib.mapAttrsToList (name: u:
    (if u.enable then "ln -s ${u.unit}/${q name} \"$out\"/${q name}\n"
     else "ln -s /dev/null \"$out\"/${q name}\n")
    + lib.optionalString u.enable (
      lib.concatMapStrings (a: "ln -sfn ${q name} \"$out\"/${q a}\n") u.aliases
      + lib.concatMapStrings (t: "mkdir -p \"$out\"/${q "${t}.wants"}; ln -sfn ${q "../${name}"} \"$out\"/${q "${t}.wants/${name}"}\n") u.wantedBy
      + lib.concatMapStrings (t: "mkdir -p \"$out\"/${q "${t}.requires"}; ln -sfn ${q "../${name}"} \"$out\"/${q "${t}.requires/${name}"}\n") u.requiredBy
      + lib.concatMapStrings (t: "mkdir -p \"$out\"/${q "${t}.upholds"}; ln -sfn ${q "../${name}"} \"$out\"/${q "${t}.upholds/${name}"}\n") u.upheldBy))
    cfg.units);

  unitsDir = pkgs.runCommand "system-units" {
    preferLocalBuild = true;
    allowSubstitutes = false;
    passAsFile = [ "commands" ];
    commands = linkCommands + ''
      ln -s ${q cfg.defaultUnit} "$out"/default.target
    '';
  } ''
    mkdir -p "$out"
    . "$commandsPath"
  '';

  servicesJson = pkgs.writeText "services.json" (builtins.toJSON (lib.mapAttrs
    (_: u: { inherit (u) wantedBy after requires wants; })
    enabledUnits));

  socketText = def:
    unitText def (
      "[Socket]\n"
      + attrsToSection def.socketConfig
      + lib.concatMapStrings (a: "ListenStream=${a}\n") def.listenStreams
      + lib.concatMapStrings (a: "ListenDatagram=${a}\n") def.listenDatagrams);

  socketList = lib.mapAttrsToList (name: s: s // { inherit name; }) cfg.sockets;

  # what a socket unit needs to be valid for systemd
  socketAssertions = s:
    let
      sc = s.socketConfig;
      accept = sc.Accept or false;
      acceptOn = accept == true || builtins.elem (toString accept) [ "yes" "true" "on" "1" ];
      listens = s.listenStreams ++ s.listenDatagrams
        ++ lib.concatMap (k: lib.lists.toList (sc.${k} or [ ]))
          [ "ListenStream" "ListenDatagram" "ListenSequentialPacket" "ListenFIFO"
            "ListenSpecial" "ListenNetlink" "ListenMessageQueue" "ListenUSBFunction" ];
      service = sc.Service or (if acceptOn then "${s.name}@.service" else "${s.name}.service");
      badAddress = builtins.filter (a: builtins.match "(/.+|@.+|[0-9]+|[^/]+:[0-9]+|vsock:.+)" a == null)
        (s.listenStreams ++ s.listenDatagrams);
    in
    [
      {
        assertion = !s.enable || listens != [ ];
        message = "systemd.sockets.${s.name} listens on nothing: set its `listenStreams`, `listenDatagrams` or a Listen...= key of `socketConfig`.";
      }
      {
        assertion = !s.enable || badAddress == [ ];
        message = "systemd.sockets.${s.name}: ${lib.concatMapStringsSep ", " builtins.toJSON badAddress} is not a socket address (a port, \"host:port\", \"[ipv6]:port\" or an absolute path).";
      }
      {
        assertion = !s.enable || cfg.units ? ${service} || (acceptOn && sc ? Service);
        message = "systemd.sockets.${s.name} activates ${service}, which is not defined (define systemd.services.${lib.removeSuffix ".service" service} or set socketConfig.Service).";
      }
    ];

  serviceList = lib.mapAttrsToList (name: s: s // { inherit name; }) cfg.services;
in
{
  options.systemd = {
    services = mkOption {
      type = types.attrsOf (types.submoduleWith { modules = [ commonUnitOpts serviceOpts ]; shorthandOnlyDefinesConfig = true; });
      default = { };
      description = "Services (NAME.service units).";
    };
    targets = mkOption {
      type = types.attrsOf (types.submoduleWith { modules = [ commonUnitOpts targetOpts ]; shorthandOnlyDefinesConfig = true; });
      default = { };
      description = "Targets (NAME.target units): groups of units.";
    };
    timers = mkOption {
      type = types.attrsOf (types.submoduleWith { modules = [ commonUnitOpts timerOpts ]; shorthandOnlyDefinesConfig = true; });
      default = { };
      description = "Timers (NAME.timer units) that start the service NAME.service.";
    };
    sockets = mkOption {
      type = types.attrsOf (types.submoduleWith { modules = [ commonUnitOpts socketOpts ]; shorthandOnlyDefinesConfig = true; });
      default = { };
      description = ''
        Sockets (NAME.socket units): listening sockets that start a service
        (NAME.service unless socketConfig.Service says otherwise) at the first
        connection, handing it the sockets (LISTEN_FDS, from fd 3).
      '';
    };
    units = mkOption {
      type = types.attrsOf (types.submodule unitOpts);
      default = { };
      description = "Every unit by its full name, with its text (made from the options above).";
    };
    globalEnvironment = mkOption {
      type = types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ]));
      default = { };
      example = { TZ = "CET"; };
      description = "Environment variables of every service (a service's own win).";
    };
    defaultUnit = mkOption {
      type = types.str;
      default = "multi-user.target";
      description = "The unit the system starts (default.target).";
    };
    enableStrictShellChecks = mkOption {
      type = types.bool;
      default = false;
      description = "Whether unit scripts run with `set -euo pipefail`.";
    };
  };

  options.system.build.units = mkOption {
    internal = true;
    type = types.package;
    description = "The unit directory (/etc/systemd/system).";
  };
  options.system.build.servicesJson = mkOption {
    internal = true;
    type = types.package;
    description = "services.json of the toplevel: the relations of every enabled unit.";
  };

  config = {
    systemd.globalEnvironment.TZDIR = mkDefault "${pkgs.debian.tzdata}/share/zoneinfo";

    systemd.targets = {
      # the chain of systemd's own targets: multi-user pulls in basic, which
      # pulls in the timers and sockets (so that units wanted by those start)
      multi-user = {
        description = "Multi-User System";
        requires = [ "basic.target" ];
        after = [ "basic.target" ];
        wants = [ "network.target" ];
      };
      network = { description = "Network"; };
      network-online = { description = "Network is Online"; after = [ "network.target" ]; };
      timers = { description = "Timer Units"; };
      sysinit = { description = "System Initialization"; };
      basic = {
        description = "Basic System";
        requires = [ "sysinit.target" ];
        wants = [ "sockets.target" "timers.target" ];
        after = [ "sysinit.target" "sockets.target" ];
      };
      sockets = { description = "Socket Units"; };
    };

    systemd.timers = lib.mapAttrs (name: s: {
      wantedBy = [ "timers.target" ];
      timerConfig.OnCalendar = s.startAt;
    }) (lib.filterAttrs (_: s: s.enable && s.startAt != [ ]) cfg.services);

    systemd.units =
      lib.mapAttrs' (name: def: lib.nameValuePair "${name}.service" (toUnit (serviceText name def) def)) cfg.services
      // lib.mapAttrs' (name: def: lib.nameValuePair "${name}.target" (toUnit (unitText def "") def)) cfg.targets
      // lib.mapAttrs' (name: def: lib.nameValuePair "${name}.timer"
        (toUnit (unitText def ("[Timer]\n" + attrsToSection def.timerConfig)) def)) cfg.timers
      // lib.mapAttrs' (name: def: lib.nameValuePair "${name}.socket" (toUnit (socketText def) def)) cfg.sockets;

    system.build.units = unitsDir;
    system.build.servicesJson = servicesJson;

    environment.etc."systemd/system".source = unitsDir;

    assertions = lib.concatMap socketAssertions socketList ++ lib.concatMap (s:
      let
        sc = s.serviceConfig;
        bad = key: allowed: sc ? ${key} && !(builtins.elem sc.${key} allowed);
        types' = [ "exec" "simple" "forking" "oneshot" "dbus" "notify" "notify-reload" "idle" ];
        restarts = [ "no" "on-success" "on-failure" "on-abnormal" "on-watchdog" "on-abort" "always" ];
      in
      [
        {
          assertion = !(bad "Type" types');
          message = "systemd.services.${s.name}.serviceConfig.Type is ${builtins.toJSON sc.Type or null}, not one of ${lib.concatStringsSep ", " types'}.";
        }
        {
          assertion = !(bad "Restart" restarts);
          message = "systemd.services.${s.name}.serviceConfig.Restart is ${builtins.toJSON sc.Restart or null}, not one of ${lib.concatStringsSep ", " restarts}.";
        }
        {
          assertion = !s.enable || s.script != "" || sc ? ExecStart || (sc.Type or "") == "oneshot";
          message = "systemd.services.${s.name} has no command: set its `script` or `serviceConfig.ExecStart`.";
        }
      ]) serviceList;

    warnings = lib.concatMap (s:
      let sc = s.serviceConfig; in
      lib.optional ((sc.Type or "") == "oneshot" && builtins.elem (sc.Restart or "no") [ "always" "on-success" ])
        "Service '${s.name}.service' with 'Type=oneshot' cannot have 'Restart=always' or 'Restart=on-success'"
      ++ lib.optional (sc ? StartLimitInterval)
        "Service '${s.name}.service' uses StartLimitInterval in serviceConfig; use startLimitIntervalSec (the [Unit] option) instead"
      ++ lib.optional (s.reloadIfChanged && s.reloadTriggers != [ ])
        "Service '${s.name}.service' has both reloadIfChanged and reloadTriggers; reloadTriggers has no effect"
      ++ lib.optional (builtins.elem "network-online.target" s.after
          && !(lib.any (l: builtins.elem "network-online.target" l) [ s.wants s.requires s.bindsTo ]))
        "Service '${s.name}.service' is ordered after 'network-online.target' but doesn't depend on it")
      serviceList;
  };
}

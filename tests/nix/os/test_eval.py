"""Evaluation of system configurations (nothing is built): option values,
defaults and merging, the rendered unit files (spec §7.2), the generated
nginx/PostgreSQL/Redis settings, and the messages of bad configurations."""

from __future__ import annotations

import json
import re

from .conftest import STORE_PATH, OsWorld, parse_unit

SPEC_EXAMPLE = """{ ... }: {
  systemd.services.myapp = {
    description = "My app";
    after = [ "network.target" ];
    wantedBy = [ "multi-user.target" ];
    environment.PORT = "8080";
    serviceConfig = { User = "myapp"; Restart = "on-failure"; };
    preStart = "mkdir -p /var/lib/myapp";
    script = "exec myapp --port $PORT";
  };
}
"""


def test_unit_of_the_spec_example(world: OsWorld) -> None:
    got = world.eval(SPEC_EXAMPLE, """{
  text = config.systemd.units."myapp.service".text;
  wantedBy = config.systemd.units."myapp.service".wantedBy;
  tzdata = "${pkgs.debian.tzdata}";
  coreutils = "${pkgs.coreutils}";
}""")
    assert isinstance(got, dict)
    text = got["text"]
    # the exact shape of spec §7.2, store paths aside
    shape = STORE_PATH.sub("/nix/store/X", text)
    shape = re.sub(r'Environment="PATH=[^"]*"', 'Environment="PATH=..."', shape)
    assert shape == """[Unit]
After=network.target
Description=My app

[Service]
Environment="PATH=..."
Environment="PORT=8080"
Environment="TZDIR=/nix/store/X/share/zoneinfo"
ExecStart=/nix/store/X/bin/myapp-start{SPACE}
ExecStartPre=/nix/store/X/bin/myapp-pre-start
Restart=on-failure
User=myapp

[Install]
WantedBy=multi-user.target
""".replace("{SPACE}", " ")
    assert got["wantedBy"] == ["multi-user.target"]
    # the script files are named as NixOS names them
    start = re.search(r"ExecStart=(\S+)", text)
    assert start and re.fullmatch(
        r"/nix/store/[a-z0-9]{32}-unit-script-myapp-start/bin/myapp-start", start.group(1))
    # PATH: every bin directory, then every sbin directory; coreutils first
    path = re.search(r'Environment="PATH=([^"]*)"', text)
    assert path
    dirs = path.group(1).split(":")
    assert dirs[0] == f"{got['coreutils']}/bin"
    assert [d.rsplit("/", 1)[1] for d in dirs] == ["bin"] * 4 + ["sbin"] * 4
    assert f"TZDIR={got['tzdata']}/share/zoneinfo" in text


def test_unit_options_render_and_merge(world: OsWorld) -> None:
    other = world.write("other.nix", """{ lib, ... }: {
  systemd.services.a.serviceConfig.ExecStartPre = [ "/bin/second" ];
  systemd.services.b.serviceConfig.Environment = lib.mkForce [ "ONLY=1" ];
  systemd.services.c.serviceConfig.User = lib.mkForce "forced";
}
""")
    got = world.eval(f"""{{ lib, ... }}: {{
  imports = [ {other} ];
  systemd.services.a = {{
    serviceConfig.ExecStartPre = [ "/bin/first" ];
    serviceConfig.ExecStart = "/bin/a";
    serviceConfig.Restart = "always";
    serviceConfig.PrivateTmp = true;
    serviceConfig.TimeoutSec = 30;
    restartIfChanged = false;
    stopIfChanged = false;
    restartTriggers = [ "one" 2 ];
    requires = [ "b.service" ];
    wants = [ "c.service" "network-online.target" ];
    after = [ "network-online.target" ];
    startAt = "*-*-* 03:00:00";
  }};
  systemd.services.b = {{
    serviceConfig.ExecStart = "/bin/b";
    serviceConfig.Environment = [ "X=1" ];
    reloadIfChanged = true;
    restartIfChanged = false;
    environment = {{ UNSET = null; "A_B" = "with \\"quotes\\" and spaces"; }};
  }};
  systemd.services.c = {{
    serviceConfig.ExecStart = "/bin/c";
    serviceConfig.User = "ignored";
    enable = false;
    reload = "echo reload";
    postStop = "echo stopped";
  }};
}}
""", """lib.mapAttrs (n: u: { inherit (u) text enable wantedBy; })
  (lib.filterAttrs (n: _: builtins.elem n [ "a.service" "b.service" "c.service" "a.timer" ])
    config.systemd.units)""")
    assert isinstance(got, dict)
    assert sorted(got) == ["a.service", "a.timer", "b.service", "c.service"]
    a = parse_unit(got["a.service"]["text"])
    # list definitions of two modules are concatenated in module order
    assert [v for k, v in a["Service"] if k == "ExecStartPre"] == ["/bin/first", "/bin/second"]
    service_keys = [k for k, _ in a["Service"]]
    assert service_keys[-5:] == ["ExecStart", "ExecStartPre", "ExecStartPre", "PrivateTmp",
                                 "Restart"] or "TimeoutSec" in service_keys
    assert ("PrivateTmp", "true") in a["Service"] and ("TimeoutSec", "30") in a["Service"]
    assert ("X-RestartIfChanged", "false") in a["Service"]
    assert ("X-StopIfChanged", "false") in a["Service"]
    unit = dict(a["Unit"])
    assert unit["Requires"] == "b.service"
    assert unit["Wants"] == "c.service network-online.target"
    assert STORE_PATH.fullmatch(unit["X-Restart-Triggers"])
    assert "WantedBy" not in dict(a.get("Install", []))
    # the timer of startAt
    timer = parse_unit(got["a.timer"]["text"])
    assert timer["Timer"] == [("OnCalendar", "*-*-* 03:00:00")]
    assert timer["Install"] == [("WantedBy", "timers.target")]
    # reloadIfChanged wins; mkForce replaces a whole list; null variables are left out
    b = parse_unit(got["b.service"]["text"])
    assert ("X-ReloadIfChanged", "true") in b["Service"]
    assert ("X-RestartIfChanged", "false") not in b["Service"]
    assert [v for k, v in b["Service"] if k == "Environment"] == [
        json.dumps('A_B=with "quotes" and spaces'),
        *[v for k, v in b["Service"] if k == "Environment" and v.startswith('"PATH=')],
        *[v for k, v in b["Service"] if k == "Environment" and v.startswith('"TZDIR=')],
        "ONLY=1",
    ]
    assert "UNSET" not in got["b.service"]["text"]
    # disabled; mkForce wins over a plain definition; reload/postStop scripts
    c = got["c.service"]
    assert c["enable"] is False
    cs = dict(parse_unit(c["text"])["Service"])
    assert cs["User"] == "forced"
    assert cs["ExecReload"].endswith("-unit-script-c-reload/bin/c-reload")
    assert cs["ExecStopPost"].endswith("-unit-script-c-post-stop/bin/c-post-stop")


def test_conflicting_scalar_unit_options_name_both_files(world: OsWorld) -> None:
    other = world.write("conflict.nix",
                        '{ systemd.services.x.serviceConfig.User = "bob"; }\n')
    err = world.eval_fails(f"""{{
  imports = [ {other} ];
  systemd.services.x.serviceConfig = {{ User = "alice"; ExecStart = "/bin/x"; }};
}}
""", 'config.systemd.units."x.service".text')
    assert "systemd.services.x.serviceConfig.User" in err
    assert "conflict.nix" in err and "fail-configuration.nix" in err


def test_bad_service_values_fail_the_assertions(world: OsWorld) -> None:
    err = world.eval_fails("""{
  systemd.services.x.serviceConfig = { Type = "sometimes"; ExecStart = "/bin/x"; };
  systemd.services.y.serviceConfig = { Restart = "maybe"; ExecStart = "/bin/y"; };
  systemd.services.z.description = "no command";
}
""", "config.system.build.toplevel.drvPath")
    assert "Failed assertions:" in err
    assert 'systemd.services.x.serviceConfig.Type is "sometimes"' in err
    assert 'systemd.services.y.serviceConfig.Restart is "maybe"' in err
    assert "systemd.services.z has no command" in err


def test_defaults_and_generated_etc(world: OsWorld) -> None:
    got = world.eval("{ networking.hostName = \"box\"; }\n", """{
  hostName = config.networking.hostName;
  name = config.system.build.toplevel.name;
  root = config.users.users.root.uid;
  groups = builtins.attrNames config.users.groups;
  hosts = config.environment.etc.hosts.text;
  hostname = config.environment.etc.hostname.text;
  nsswitch = config.environment.etc."nsswitch.conf".text;
  etcSource = toString config.environment.etc.hosts.source;
  label = config.system.nixos.label;
  stateVersion = config.system.stateVersion;
  nginxEnabled = config.services.nginx.enable;
  vhosts = builtins.attrNames config.services.nginx.virtualHosts;
  units = builtins.attrNames config.systemd.units;
}""")
    assert isinstance(got, dict)
    assert got["hostName"] == "box"
    assert got["name"] == f"pynix-system-box-{got['label']}"
    assert got["root"] == 0
    assert {"root", "wheel", "users", "nogroup"} <= set(got["groups"])
    assert got["hosts"].splitlines() == ["127.0.0.1 localhost box", "::1 localhost"]
    assert got["hostname"] == "box\n"
    assert "passwd:    files" in got["nsswitch"] and "hosts:     files dns" in got["nsswitch"]
    assert re.fullmatch(r"/nix/store/[a-z0-9]{32}-etc-hosts", got["etcSource"])
    assert got["stateVersion"] == "24.05"
    assert got["nginxEnabled"] is False
    assert got["vhosts"] == ["localhost"]
    assert {"multi-user.target", "network.target", "timers.target"} <= set(got["units"])
    assert not any(u.endswith(".service") for u in got["units"])


def test_unnamed_system_and_etc_entries(world: OsWorld) -> None:
    got = world.eval("""{ lib, pkgs, ... }: {
  networking.hostName = "";
  environment.etc."a/b.conf".text = "x";
  environment.etc."a/b.conf".mode = "0640";
  environment.etc."a/b.conf".group = "wheel";
  environment.etc.gone = { text = "y"; enable = false; };
  environment.etc.renamed = { text = "z"; target = "elsewhere/z"; };
  environment.etc."odd name@x".text = "odd";
  environment.etc.forced.text = lib.mkForce "forced";
  environment.etc.forced.source = pkgs.writeText "plain" "plain";
  environment.variables = { EDITOR = "vi"; SEARCH = [ "/a" "/b" ]; QUOTED = "it's"; };
}
""", """{
  setEnv = config.environment.etc."set-environment".text;
  name = config.system.build.toplevel.name;
  ab = let e = config.environment.etc."a/b.conf"; in
    { inherit (e) mode user group target; src = toString e.source; };
  renamed = config.environment.etc.renamed.target;
  forcedSource = toString config.environment.etc.forced.source;
  hostnameEntry = config.environment.etc ? hostname;
  odd = config.environment.etc."odd name@x".source.drvPath;
}""")
    assert isinstance(got, dict)
    assert got["name"].startswith("pynix-system-unnamed-")
    assert got["ab"] == {"mode": "0640", "user": "+0", "group": "wheel", "target": "a/b.conf",
                         "src": got["ab"]["src"]}
    assert got["ab"]["src"].endswith("-etc-a-b.conf")
    assert got["renamed"] == "elsewhere/z"
    # `text` defined with mkForce: its source is defined with that priority too
    assert got["forcedSource"].endswith("-etc-forced")
    assert got["hostnameEntry"] is False
    assert got["odd"].endswith("-etc-odd-name-x.drv")
    env = got["setEnv"].splitlines()
    assert "export EDITOR=vi" in env or "export EDITOR='vi'" in env
    assert "export SEARCH=/a:/b" in env or "export SEARCH='/a:/b'" in env
    assert "export QUOTED='it'\\''s'" in env
    assert 'export PATH="/run/current-system/sw/bin:/run/current-system/sw/sbin${PATH:+:$PATH}"' \
        in env


def test_users_defaults_and_assertions(world: OsWorld) -> None:
    got = world.eval("""{ pkgs, ... }: {
  users.users.alice = { isNormalUser = true; extraGroups = [ "wheel" ]; };
  users.users.svc = { isSystemUser = true; group = "svc"; packages = [ pkgs.curl ]; };
  users.groups.svc = { };
  system.activationScripts.aaa = { deps = [ "zzz" ]; text = "echo after zzz"; };
  system.activationScripts.zzz = "echo first";
}
""", """{
  perUser = builtins.attrNames (lib.filterAttrs (n: _: lib.hasPrefix "profiles/" n)
    config.environment.etc);
  script = config.system.activationScriptText;
  alice = let a = config.users.users.alice; in
    { inherit (a) group home createHome useDefaultShell isSystemUser; shell = toString a.shell; };
  bash = toString pkgs.bash;
  svc = { inherit (config.users.users.svc) group home createHome uid; };
}""")
    assert isinstance(got, dict)
    assert got["alice"] == {"group": "users", "home": "/home/alice", "createHome": True,
                            "useDefaultShell": True, "isSystemUser": False,
                            "shell": got["bash"]}
    assert got["svc"] == {"group": "svc", "home": "/var/empty", "createHome": False,
                          "uid": None}
    assert got["perUser"] == ["profiles/per-user/svc"]
    # snippets: sorted names, each one's deps first
    script = got["script"]
    assert script.index("snippet zzz:") < script.index("snippet aaa:")
    assert script.count("snippet zzz:") == 1
    err = world.eval_fails("""{
  system.activationScripts.x = { deps = [ "nonexistent" ]; text = ""; };
}
""", "config.system.activationScriptText")
    assert "system.activationScripts: a snippet depends on `nonexistent'" in err
    err = world.eval_fails("""{
  users.users.nogroup = { isSystemUser = true; };
  users.users.both = { isSystemUser = true; isNormalUser = true; };
  users.users.neither = { group = "users"; };
  users.users.u1 = { uid = 1500; isNormalUser = true; };
  users.users.u2 = { uid = 1500; isNormalUser = true; };
}
""", "config.system.build.toplevel.drvPath")
    assert "\nFailed assertions:\n- " in err
    assert "users.users.nogroup.group is unset." in err
    assert ("Exactly one of users.users.both.isSystemUser and users.users.both.isNormalUser "
            "must be set.") in err
    assert "Exactly one of users.users.neither.isSystemUser" in err
    assert "UIDs must be unique: users u1, u2 all have uid 1500" in err


def test_failing_assertions_and_warnings(world: OsWorld) -> None:
    err = world.eval_fails("""{ lib, ... }: {
  assertions = [
    { assertion = true; message = "never shown"; }
    { assertion = false; message = "first problem"; }
    { assertion = 1 == 2; message = "second problem"; }
  ];
}
""", "config.system.build.toplevel.drvPath")
    assert "\nFailed assertions:\n- first problem\n- second problem" in err
    assert "never shown" not in err
    # reading options works with failing assertions: only the toplevel checks them
    got = world.eval("""{
  assertions = [ { assertion = false; message = "broken"; } ];
  networking.hostName = "still-readable";
}
""", "config.networking.hostName")
    assert got == "still-readable"
    r = world.pynix("eval", "--json", "-f", world.system_file("warn", """{
  warnings = [ "be careful" "really" ];
}
""", "r.config.system.build.toplevel.name"))
    assert r.ok, r.stderr
    assert r.stderr.index("warning: be careful") < r.stderr.index("warning: really")


def test_bad_input_names_the_option_and_the_file(world: OsWorld) -> None:
    err = world.eval_fails('{ services.nginx.enable = "yes"; }\n', "config.services.nginx.enable")
    assert "services.nginx.enable" in err and "fail-configuration.nix" in err
    err = world.eval_fails("{ services.nginx.virtualHost.x = { }; }\n",
                           "config.system.build.toplevel.drvPath")
    assert "services.nginx.virtualHost" in err and "fail-configuration.nix" in err
    err = world.eval_fails('{ networking.hostName = "not a host name"; }\n',
                           "config.networking.hostName")
    assert "networking.hostName" in err
    err = world.eval_fails('{ systemd.services.x.after = [ "network" ]; }\n',
                           'config.systemd.services.x.after')
    assert "systemd.services.x.after" in err
    err = world.eval_fails('{ environment.etc.x = { text = "x"; mode = "rw"; }; }\n',
                           "config.system.build.toplevel.drvPath")
    assert 'environment.etc."x".mode' in err


def test_nginx_configuration(world: OsWorld) -> None:
    got = world.eval("""{ pkgs, ... }: {
  services.nginx = {
    enable = true;
    defaultHTTPListenPort = 8081;
    recommendedProxySettings = true;
    appendHttpConfig = "# appended";
    commonHttpConfig = "# common";
    virtualHosts."example.com" = {
      root = "/var/www/example";
      serverAliases = [ "www.example.com" ];
      default = true;
      locations."/".proxyPass = "http://127.0.0.1:3000";
      locations."/static/" = { alias = "/var/www/static/"; priority = 500; };
      locations."= /health".return = "200 ok";
      locations."/files/" = { root = "/srv"; tryFiles = "$uri =404"; index = "index.html";
                              recommendedProxySettings = false; extraConfig = "autoindex on;"; };
      extraConfig = "# vhost extra";
    };
    virtualHosts.other = {
      listen = [ { addr = "127.0.0.1"; port = 9090; } ];
      serverName = "other.example";
    };
  };
}
""", """{
  conf = config.services.nginx.configFile.text;
  unit = config.systemd.units."nginx.service".text;
  users = { inherit (config.users.users.nginx) uid group isSystemUser; };
  nginx = "${pkgs.nginx}";
}""")
    assert isinstance(got, dict)
    conf: str = got["conf"]
    for line in ("daemon off;", "pid /run/nginx/nginx.pid;", "error_log stderr;",
                 "listen 0.0.0.0:8081 default_server;", "listen [::0]:8081 default_server;",
                 "server_name example.com www.example.com;", "root /var/www/example;",
                 "proxy_pass http://127.0.0.1:3000;", "alias /var/www/static/;",
                 "return 200 ok;", "try_files $uri =404;", "autoindex on;",
                 "listen 127.0.0.1:9090;", "server_name other.example ;",
                 "client_body_temp_path /var/cache/nginx/client_body;",
                 "server_tokens off;", "client_max_body_size 10m;"):
        assert line in conf, line
    # order: common config, servers in attribute order, locations by
    # priority then path, appended config last
    order = [conf.index(s) for s in (
        "# common", "server_name example.com", "location /static/", "location / {",
        "location /files/", "location = /health", "# vhost extra", "server_name other.example",
        "# appended")]
    assert order == sorted(order)
    # recommended proxy headers only where a location proxies
    assert conf.count("nginx-recommended-proxy-headers.conf") == 1
    assert re.search(
        r"include /nix/store/[a-z0-9]{32}-nginx-common-[^/]*/etc/nginx/mime.types;", conf)
    unit = dict(parse_unit(got["unit"])["Service"])
    assert unit["ExecStart"].startswith(f"{got['nginx']}/bin/nginx ")
    assert "-c '/nix/store/" in unit["ExecStart"]
    assert unit["User"] == "nginx" and unit["Restart"] == "always"
    assert unit["RuntimeDirectory"] == "nginx" and unit["X-StopIfChanged"] == "false"
    assert got["users"] == {"uid": 60, "group": "nginx", "isSystemUser": True}
    # enableReload: the configuration is /etc/nginx/nginx.conf, a change reloads;
    # another user is not created; no IPv6 listeners without IPv6
    reload = world.eval("""{
  services.nginx = { enable = true; enableReload = true; user = "www"; group = "www"; };
  networking.enableIPv6 = false;
}
""", """{
  unit = config.systemd.units."nginx.service".text;
  etc = toString config.environment.etc."nginx/nginx.conf".source;
  conf = config.services.nginx.configFile.text;
  file = toString config.services.nginx.configFile;
  nginxUser = config.users.users ? nginx;
}""")
    assert isinstance(reload, dict)
    service = dict(parse_unit(reload["unit"])["Service"])
    assert service["X-ReloadIfChanged"] == "true"
    assert service["ExecStart"].endswith("-c '/etc/nginx/nginx.conf'")
    assert service["User"] == "www"
    assert dict(parse_unit(reload["unit"])["Unit"])["X-Reload-Triggers"].startswith("/nix/store/")
    assert reload["etc"] == reload["file"]
    assert "listen 0.0.0.0:80;" in reload["conf"] and "[::0]" not in reload["conf"]
    assert reload["nginxUser"] is False
    err = world.eval_fails("""{
  services.nginx.enable = true;
  services.nginx.virtualHosts.x.locations."/" = { root = "/a"; alias = "/b"; };
}
""", "config.system.build.toplevel.drvPath")
    assert "Only one of nginx root or alias can be specified on a location." in err


def test_postgresql_configuration(world: OsWorld) -> None:
    got = world.eval("""{ lib, ... }: {
  services.postgresql = {
    enable = true;
    settings = { port = 5999; log_connections = true; ratio = 0.5; name = "it's"; };
    authentication = "host mydb me 10.0.0.0/8 md5";
    ensureDatabases = [ "mydb" ];
    ensureUsers = [ { name = "mydb"; ensureDBOwnership = true;
                      ensureClauses = { login = true; createdb = false; }; } ];
    initialScript = builtins.toFile "init.sql" "SELECT 1;";
  };
}
""", """let pg = config.services.postgresql; in {
  hba = pg.authentication;
  settings = pg.settings;
  dataDir = pg.dataDir;
  unit = config.systemd.units."postgresql.service".text;
  postStart = config.systemd.services.postgresql.postStart;
  preStart = config.systemd.services.postgresql.preStart;
  user = { inherit (config.users.users.postgres) uid group home; };
}""")
    assert isinstance(got, dict)
    # the user's lines between the header and the defaults
    assert got["hba"].splitlines() == [
        "# Generated file; do not edit!",
        "host mydb me 10.0.0.0/8 md5",
        "# default value of services.postgresql.authentication",
        "local all all              peer",
        "host  all all 127.0.0.1/32 md5",
        "host  all all ::1/128      md5",
    ]
    s = got["settings"]
    assert s["port"] == 5999 and s["listen_addresses"] == "localhost"
    assert s["log_destination"] == "stderr" and s["jit"] == "off"
    assert s["unix_socket_directories"] == "/run/postgresql"
    assert STORE_PATH.fullmatch(s["hba_file"]) and s["hba_file"].endswith("-pg_hba.conf")
    assert got["dataDir"] == "/var/lib/postgresql/15"
    unit = dict(parse_unit(got["unit"])["Service"])
    assert unit["StateDirectory"] == "postgresql postgresql/15"
    assert unit["Type"] == "notify" and unit["KillSignal"] == "SIGINT"
    assert unit["User"] == "postgres" and unit["RuntimeDirectory"] == "postgresql"
    assert "Environment" in got["unit"] and '"PGDATA=/var/lib/postgresql/15"' in got["unit"]
    post = got["postStart"]
    assert 'PSQL="psql --port=5999 --host=/run/postgresql"' in post
    assert "CREATE DATABASE \"mydb\"" in post
    assert "ALTER ROLE \"mydb\" nocreatedb login" in post
    assert "ALTER DATABASE \"mydb\" OWNER TO \"mydb\";" in post
    assert "init.sql" in post
    assert "initdb -U postgres" in got["preStart"]
    assert got["user"] == {"uid": 71, "group": "postgres", "home": "/var/lib/postgresql/15"}
    # mkForce replaces the whole authentication
    forced = world.eval("""{ lib, ... }: {
  services.postgresql.enable = true;
  services.postgresql.authentication = lib.mkForce "local all all trust";
  services.postgresql.dataDir = "/srv/pg";
}
""", """{ hba = config.services.postgresql.authentication;
         unit = config.systemd.units."postgresql.service".text; }""")
    assert isinstance(forced, dict)
    assert forced["hba"] == "local all all trust"
    assert "StateDirectory" not in forced["unit"]
    err = world.eval_fails("""{
  services.postgresql.enable = true;
  services.postgresql.ensureUsers = [ { name = "ghost"; ensureDBOwnership = true; } ];
}
""", "config.system.build.toplevel.drvPath")
    assert ("For each database user defined with `services.postgresql.ensureUsers` and\n"
            "`ensureDBOwnership = true;`, a database with the same name must be defined") in err
    assert "Offender: ghost has not been found among databases." in err


def test_redis_servers(world: OsWorld) -> None:
    got = world.eval("""{
  services.redis.servers."".enable = true;
  services.redis.servers.cache = {
    enable = true; port = 6390; save = [ ]; settings.maxmemory = "10mb";
  };
  services.redis.servers.off.port = 6391;
}
""", """let redis = names: builtins.filter (n: builtins.match "redis.*" n != null) names; in {
  units = redis (builtins.attrNames config.systemd.units);
  main = config.systemd.units."redis.service".text;
  cache = config.systemd.services.redis-cache.serviceConfig.ExecStart;
  users = redis (builtins.attrNames config.users.users);
}""")
    assert isinstance(got, dict)
    assert got["units"] == ["redis-cache.service", "redis.service"]
    assert got["users"] == ["redis", "redis-cache"]
    main = dict(parse_unit(got["main"])["Service"])
    assert main["User"] == "redis" and main["StateDirectory"] == "redis"


def test_nixpkgs_overlays_and_config_make_pkgs(world: OsWorld) -> None:
    got = world.eval("""{ pkgs, ... }: {
  nixpkgs.config.allowUnfree = true;
  nixpkgs.overlays = [ (final: prev: { greeting = final.writeText "greeting" "hi"; }) ];
  environment.systemPackages = [ pkgs.greeting ];
}
""", """{
  unfree = pkgs.config.allowUnfree;
  greeting = pkgs.greeting.name;
  inSystem = map (p: p.name) config.environment.systemPackages;
}""")
    assert got == {"unfree": True, "greeting": "greeting", "inSystem": ["greeting"]}


def test_time_zone_firewall_and_versioned_postgresql(world: OsWorld) -> None:
    got = world.eval("""{ pkgs, ... }: {
  time.timeZone = "Europe/Paris";
  networking.firewall.allowedTCPPorts = [ 80 443 ];
  services.postgresql = {
    enable = true;
    package = pkgs.postgresql_15;
    port = 5433;  # the name before 24.05: renamed to settings.port
    ensureDatabases = [ "app" ];
    ensureUsers = [ { name = "app"; ensurePermissions."DATABASE \\"app\\"" = "ALL PRIVILEGES"; } ];
  };
}
""", """{
  localtime = let e = config.environment.etc.localtime; in
    { inherit (e) mode; src = toString e.source; };
  timezone = config.environment.etc.timezone.text;
  tzdata = "${pkgs.debian.tzdata}";
  postStart = config.systemd.services.postgresql.postStart;
  pg = config.services.postgresql.package.name;
  port = config.services.postgresql.settings.port;
  warnings = config.warnings;
}""")
    assert isinstance(got, dict)
    assert got["localtime"] == {"mode": "direct-symlink",
                                "src": got["tzdata"] + "/share/zoneinfo/Europe/Paris"}
    assert got["timezone"] == "Europe/Paris\n"
    assert "GRANT ALL PRIVILEGES ON DATABASE \"app\" TO \"app\"" in got["postStart"]
    assert got["pg"].startswith("postgresql-15.")
    assert got["port"] == 5433
    assert any("services.postgresql.port" in w and "services.postgresql.settings.port" in w
               for w in got["warnings"]), got["warnings"]


def test_eval_config_arguments(world: OsWorld) -> None:
    """specialArgs reach every module; a given `pkgs` is used as is (and
    nixpkgs.overlays then do not apply); modulesPath names the modules."""
    conf = world.write("args-configuration.nix", """{ pkgs, answer, modulesPath, ... }: {
  networking.hostName = "h${toString answer}";
  nixpkgs.overlays = [ (final: prev: { marker = "overlaid"; }) ];
  environment.etc.where.text = modulesPath;
}
""")
    file = world.write("args.nix", f"""
let
  base = import <pynix/pkgs> {{ }};
  mine = base // {{ marker = "given"; }};
  given = import <pynix/os/eval-config.nix> {{
    modules = [ {conf} ]; specialArgs = {{ answer = 42; }}; pkgs = mine; }};
  built = import <pynix/os/eval-config.nix> {{
    modules = [ {conf} ]; specialArgs = {{ answer = 7; }}; }};
in {{
  host = given.config.networking.hostName;
  givenMarker = given.pkgs.marker;
  builtMarker = built.pkgs.marker;
  builtHost = built.config.networking.hostName;
  where = built.config.environment.etc.where.text;
  attrs = builtins.filter (n: builtins.elem n [ "config" "options" "pkgs" ])
    (builtins.attrNames built);
}}
""")
    r = world.pynix("eval", "--json", "-f", file)
    assert r.ok, r.stderr
    got = json.loads(r.stdout)
    assert got["host"] == "h42" and got["builtHost"] == "h7"
    assert got["givenMarker"] == "given" and got["builtMarker"] == "overlaid"
    assert got["where"].endswith("/os/modules")
    assert got["attrs"] == ["config", "options", "pkgs"]

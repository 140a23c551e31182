"""Building systems: the toplevel's layout (contract item 3), the unit
directory in the etc tree, the generated nginx.conf (checked with the
store's `nginx -t` when it is built), pg_hba.conf, postgresql.conf and
redis.conf, and build-time errors."""

from __future__ import annotations

import json
import os
import stat

import pytest

from .conftest import STORE_PATH, OsWorld, parse_unit

SERVER = """{ pkgs, lib, ... }: {
  networking.hostName = "server";
  environment.systemPackages = [ pkgs.curl ];
  services.nginx.enable = true;
  services.nginx.defaultHTTPListenPort = 18080;
  services.nginx.virtualHosts."site.test" = {
    root = "/var/www/site";
    locations."/api/".proxyPass = "http://127.0.0.1:18081";
  };
  services.postgresql = {
    enable = true;
    settings.port = 15432;
    authentication = "local mydb all trust";
    ensureDatabases = [ "mydb" ];
    ensureUsers = [ { name = "mydb"; ensureDBOwnership = true; } ];
  };
  services.redis.servers."" = { enable = true; port = 16379; };
  systemd.services.masked = { script = "sleep 1"; enable = false; };
  systemd.services.nightly = { script = "true"; startAt = "daily"; };
}
"""


@pytest.fixture(scope="module")
def server(os_store: object, tmp_path_factory: pytest.TempPathFactory) -> tuple[OsWorld, str]:
    from pathlib import Path

    assert isinstance(os_store, Path)
    work = tmp_path_factory.mktemp("toplevel")
    world = OsWorld(os_store, work)
    return world, world.build(SERVER, name="server")


def test_toplevel_layout(server: tuple[OsWorld, str]) -> None:
    world, top = server
    assert STORE_PATH.fullmatch(top)
    assert top.endswith("-pynix-system-server-24.05.pynix")
    real = world.real(top)
    assert sorted(os.listdir(real)) == ["activate", "dry-activate", "etc", "nixos-version",
                                        "services.json", "sw", "system"]
    for script in ("activate", "dry-activate"):
        mode = os.stat(real / script).st_mode
        assert mode & stat.S_IXUSR, script
        text = (real / script).read_text()
        assert text.startswith("#!/nix/store/") and f"systemConfig='{top}'" in text
        # only store tools: PATH is reset to store directories
        assert "export PATH=/empty" in text
    activate = (real / "activate").read_text()
    assert activate.rstrip().endswith("exit $_status")
    assert "mv -T /run/.current-system.tmp /run/current-system" in activate
    dry = (real / "dry-activate").read_text()
    assert "/run/current-system" not in dry
    assert "#### Activation script snippet users does not support dry activation." in dry
    # the snippets in dependency order: var before users, users/groups before etc
    order = [activate.index(f"#### Activation script snippet {n}:")
             for n in ("var", "users", "groups", "etc")]
    assert order == sorted(order)
    assert (real / "nixos-version").read_text() == "24.05.pynix"
    assert (real / "system").read_text() == "x86_64-linux"
    assert STORE_PATH.fullmatch(os.readlink(real / "sw"))
    assert os.readlink(real / "etc").endswith("-etc/etc")
    sw = world.resolve(top + "/sw")
    for program in ("curl", "psql", "redis-server", "bash", "ls", "grep"):
        assert os.path.lexists(sw / "bin" / program), program


def test_services_json_and_unit_directory(server: tuple[OsWorld, str]) -> None:
    world, top = server
    services = json.loads(world.read(top + "/services.json"))
    units = world.resolve(top + "/etc/systemd/system")
    assert sorted(services) == sorted(
        n for n in os.listdir(units)
        if not n.endswith((".wants", ".requires")) and n not in ("default.target", "masked.service")
    )
    assert services["nginx.service"] == {
        "wantedBy": ["multi-user.target"], "after": ["network.target", "network-online.target"],
        "requires": [], "wants": ["network-online.target"]}
    assert services["nightly.timer"]["wantedBy"] == ["timers.target"]
    assert "masked.service" not in services
    # the unit files, the .wants links, the mask, the default target
    assert os.readlink(units / "multi-user.target.wants" / "nginx.service") == "../nginx.service"
    assert os.readlink(units / "timers.target.wants" / "nightly.timer") == "../nightly.timer"
    assert os.readlink(units / "masked.service") == "/dev/null"
    assert os.readlink(units / "default.target") == "multi-user.target"
    redis = parse_unit(world.read(top + "/etc/systemd/system/redis.service"))
    service = dict(redis["Service"])
    assert service["User"] == "redis" and service["StateDirectory"] == "redis"
    conf = world.read(service["ExecStart"].split()[1]).splitlines()
    for line in ("port 16379", "bind 127.0.0.1", "daemonize no", "dir /var/lib/redis",
                 "unixsocket /run/redis/redis.sock", "save 900 1", "save 60 10000"):
        assert line in conf, line
    timer = parse_unit(world.read(top + "/etc/systemd/system/nightly.timer"))
    assert timer["Timer"] == [("OnCalendar", "daily")]


def test_nginx_and_postgresql_files(server: tuple[OsWorld, str]) -> None:
    world, top = server
    nginx = dict(parse_unit(world.read(top + "/etc/systemd/system/nginx.service"))["Service"])
    conf_path = nginx["ExecStart"].split("-c ")[1].strip("'")
    conf = world.read(conf_path)
    assert "listen 0.0.0.0:18080;" in conf and "server_name site.test ;" in conf
    assert "proxy_pass http://127.0.0.1:18081;" in conf and "daemon off;" in conf
    # (the store's `nginx -t` accepted it when it was built: test_services runs it)
    pg = dict(parse_unit(world.read(top + "/etc/systemd/system/postgresql.service"))["Service"])
    pre = world.read(pg["ExecStartPre"])
    conf_link = next(w for w in pre.split() if w.endswith('/postgresql.conf"')).strip('"')
    pgconf = world.read(conf_link).splitlines()
    assert "port = 15432" in pgconf
    assert "listen_addresses = 'localhost'" in pgconf
    assert "unix_socket_directories = '/run/postgresql'" in pgconf
    assert "log_line_prefix = '[%p] '" in pgconf
    hba_line = next(line for line in pgconf if line.startswith("hba_file = "))
    hba = world.read(hba_line.split("'")[1])
    assert hba.splitlines()[:3] == ["# Generated file; do not edit!", "local mydb all trust",
                                    "# default value of services.postgresql.authentication"]


def test_nginx_t_rejects_a_broken_configuration(world: OsWorld) -> None:
    err = world.build_fails("""{
  services.nginx.enable = true;
  services.nginx.defaultHTTPListenPort = 18082;
  services.nginx.appendHttpConfig = "no_such_directive on;";
}
""")
    assert 'unknown directive "no_such_directive"' in err
    assert "services.nginx: the generated nginx.conf" in err and "does not pass 'nginx -t'" in err


def test_etc_entries_with_one_target_must_agree(world: OsWorld) -> None:
    err = world.build_fails("""{
  environment.etc.a = { target = "same"; text = "one"; };
  environment.etc.b = { target = "same"; text = "two"; };
}
""")
    assert "environment.etc: two different sources for /etc/same" in err


def test_nginx_t_cannot_see_hosts_or_certificates_in_the_build(world: OsWorld) -> None:
    """The build has no network: a proxied host name nginx cannot resolve
    there does not fail the build (nginx checks it again when it starts)."""
    conf = world.build("""{
  services.nginx.enable = true;
  services.nginx.virtualHosts.x.locations."/".proxyPass = "http://backend.example.invalid:8080";
}
""", name="unresolved", attr="config.services.nginx.configFile")
    assert "proxy_pass http://backend.example.invalid:8080;" in world.read(conf)
    log = world.pynix("log", conf)
    assert "could not resolve a host name or load a certificate here" in log.stdout + log.stderr
    # likewise certificates outside the store
    conf = world.build("""{
  services.nginx.enable = true;
  services.nginx.virtualHosts.x = {
    onlySSL = true;
    sslCertificate = "/var/lib/certs/x.pem";
    sslCertificateKey = "/var/lib/certs/x.key";
  };
}
""", name="ssl", attr="config.services.nginx.configFile")
    text = world.read(conf)
    assert "listen 0.0.0.0:443 http2 ssl;" in text
    assert "ssl_certificate /var/lib/certs/x.pem;" in text
    assert "listen 0.0.0.0:80" not in text

"""The units of nginx, PostgreSQL and Redis run for real from their unit
files, the way a service manager without systemd runs them (contract item
5): after activation, in the machine namespace, each unit's state/runtime/
logs/cache directories are made, then its ExecStartPre commands, ExecStart
in the background and its ExecStartPost commands (with $MAINPID) run as its
User with its Environment.  PostgreSQL's postStart waits for the server and
creates ensureDatabases/ensureUsers; nginx serves a page; Redis answers.
Ports are free ones on 127.0.0.1; everything stops with the namespace."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import needs

from .conftest import Machine, OsWorld, free_port, parse_unit

CONFIG = """{{ pkgs, ... }}: {{
  networking.hostName = "services";
  services.nginx.enable = true;
  services.nginx.defaultListenAddresses = [ "127.0.0.1" ];
  services.nginx.defaultHTTPListenPort = {http};
  services.nginx.virtualHosts."site.test" = {{
    root = "/var/www/site";
    locations."= /health".return = "200 'healthy'";
  }};
  services.postgresql = {{
    enable = true;
    settings.port = {pg};
    ensureDatabases = [ "mydb" ];
    ensureUsers = [ {{ name = "mydb"; ensureDBOwnership = true;
                      ensureClauses.createdb = true; }} ];
    initialScript = pkgs.writeText "init.sql" "CREATE TABLE marker (x int);";
  }};
  services.redis.servers."" = {{ enable = true; port = {redis}; }};
}}
"""

DIRECTORIES = {"StateDirectory": "/var/lib", "RuntimeDirectory": "/run",
               "LogsDirectory": "/var/log", "CacheDirectory": "/var/cache"}


def start_commands(name: str, text: str) -> str:
    """Bash that starts the unit ``name`` (its [Service] section) the way a
    launcher does; the main PID ends up in $MAINPID_<name>."""
    service = parse_unit(text)["Service"]
    values: dict[str, list[str]] = {}
    for key, value in service:
        values.setdefault(key, []).append(value)
    user = values.get("User", ["root"])[0]
    group = values.get("Group", [user])[0]
    env = ["env", "-i"] + [json.loads(v) if v.startswith('"') else v
                           for v in values.get("Environment", [])]
    as_user = ["setpriv", f"--reuid={user}", f"--regid={group}", "--init-groups", *env]
    lines = [f"# {name}"]
    for key, base in DIRECTORIES.items():
        mode = values.get(f"{key}Mode", ["0755"])[0]
        for d in " ".join(values.get(key, [])).split():
            lines.append(f"install -d -o {user} -g {group} -m {mode} {base}/{d}")
    for cmd in values.get("ExecStartPre", []):
        lines.append(shlex.join([*as_user, *shlex.split(cmd)]))
    var = "MAINPID_" + name.replace("-", "_")
    lines.append(shlex.join([*as_user, *shlex.split(values["ExecStart"][0])])
                 + f" > /run/{name}.log 2>&1 &")
    lines.append(f"{var}=$!")
    for cmd in values.get("ExecStartPost", []):
        lines.append(shlex.join([*as_user, f"MAINPID=${var}", *shlex.split(cmd)])
                     .replace(f"'MAINPID=${var}'", f'"MAINPID=${var}"'))
    return "\n".join(lines) + "\n"


def test_units_run_without_systemd(os_store: Path, tmp_path: Path, machine: Machine) -> None:
    for tool in ("setpriv", "curl"):
        needs.tool(tool)
    http, pg, redis = free_port(), free_port(), free_port()
    world = OsWorld(os_store, tmp_path / "work")
    world.dir.mkdir()
    top = world.build(CONFIG.format(http=http, pg=pg, redis=redis), name="services")
    start = "".join(start_commands(n, world.read(f"{top}/etc/systemd/system/{n}.service"))
                    for n in ("postgresql", "redis", "nginx"))
    sw = f"{top}/sw/bin"
    script = f"""set -eu
{top}/activate {top}
mkdir -p /var/www/site
echo 'hello from the machine' > /var/www/site/index.html
{start}
for _ in $(seq 100); do  # at most ~10 s for nginx and redis to listen
  if curl -fs -o /dev/null -H 'Host: site.test' http://127.0.0.1:{http}/ &&
     {sw}/redis-cli -p {redis} ping > /dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS -H 'Host: site.test' http://127.0.0.1:{http}/
curl -fsS -H 'Host: site.test' http://127.0.0.1:{http}/health; echo
as_postgres() {{ setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }}
as_postgres {sw}/psql --port={pg} --host=/run/postgresql -d mydb -XtAc \\
  "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'mydb'"
as_postgres {sw}/psql --port={pg} --host=/run/postgresql -d postgres -XtAc \\
  "SELECT rolcreatedb FROM pg_roles WHERE rolname = 'mydb'"
as_postgres {sw}/psql --port={pg} --host=/run/postgresql -d postgres -XtAc \\
  "SELECT count(*) FROM marker"
{sw}/redis-cli -p {redis} ping
test ! -e /var/lib/postgresql/15/.first_startup
stat -c "%U %a" /var/lib/postgresql/15 /run/nginx
kill -INT $MAINPID_postgresql; kill -QUIT $MAINPID_nginx; kill -TERM $MAINPID_redis
wait
"""
    r = machine.run(["/bin/bash", "-c", script], host_usr=True, timeout=150,
                    env={"PATH": "/usr/bin:/bin", "NIXOS_ACTION": "switch"})
    logs = "".join(f"\n--- {n}.log\n" + machine.path(f"/run/{n}.log").read_text()
                   for n in ("postgresql", "redis", "nginx")
                   if machine.path(f"/run/{n}.log").exists())
    assert r.ok, r.stdout + r.stderr + logs
    assert r.stdout.splitlines()[-8:] == [
        "hello from the machine", "healthy", "mydb", "t", "0", "PONG",
        # (initdb makes its directory 0700)
        "postgres 700", "nginx 750"], r.stdout + logs


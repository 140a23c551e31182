"""The seed example, end to end: ``examples/server/configuration.nix`` (nginx in
front of a Python app that counts page views in PostgreSQL) switched for real
in a throwaway machine root, with supervisord running the services.

One module, one machine: it uses the default ports (80, 5432, 6379), which no
other test uses.  Every wait is bounded; the machine is halted at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from os_synth import wait_for

import needs

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "server"
PYNIX = str(Path(sys.executable).parent / "pynix")
STORE_PATH = re.compile(r"/nix/store/[0-9a-df-np-sv-z]{32}-[^/\s'\"]+")


def views(page: str) -> int:
    found = re.search(r"viewed (\d+) times", page)
    assert found, page
    return int(found.group(1))


@dataclass
class Machine:
    root: Path
    work: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.work),
            "XDG_CONFIG_HOME": str(self.work / ".config"),
            "NIX_PATH": "",
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "PYNIX_CONFIG": "cores = 2\nmax-jobs = 4\n",
        }

    def pynix(self, *args: str, check: bool = True,
              timeout: float = 900) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([PYNIX, *args], env=self.env, cwd=self.work, text=True,
                              capture_output=True, timeout=timeout, check=False)
        assert "Traceback (most recent call last)" not in proc.stderr, proc.stderr
        if check:
            assert proc.returncode == 0, f"pynix {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
        return proc

    def os(self, action: str, *args: str, check: bool = True,
           timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return self.pynix("os", action, "--root", str(self.root), *args,
                          check=check, timeout=timeout)

    def real(self, path: str) -> Path:
        return Path(str(self.root) + path)

    def current_system(self) -> str:
        return os.readlink(self.root / "run" / "current-system")

    def in_machine(self, user: str, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` as ``user`` of the machine, with its store, /etc and /run
        in place (a private mount namespace, as the machine's services see them)."""
        uid = gid = None
        for line in (self.root / "etc" / "passwd").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == user:
                uid, gid = fields[2], fields[3]
        assert uid is not None, f"no user {user} in the machine's /etc/passwd"
        mount, setpriv = needs.tool("mount"), needs.tool("setpriv")
        binds = " && ".join(
            f"{mount} --bind {self.root / d} /{d}" for d in ("etc", "run")
        )
        script = (f"{mount} --make-rprivate / && "
                  f"{mount} --bind {self.root}/nix/store /nix/store && {binds} && "
                  f"export PATH={self.current_system()}/sw/bin && "
                  f'exec {setpriv} --reuid={uid} --regid={gid} --clear-groups -- "$@"')
        return subprocess.run(
            [needs.tool("unshare"), "--mount", "--", "/bin/sh", "-c", script, "sh", *argv],
            capture_output=True, text=True, timeout=60, check=False,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})

    def page(self, host: str = "example.com") -> str:
        proc = subprocess.run(
            [needs.tool("curl"), "-sS", "--max-time", "10", "-H", f"Host: {host}",
             "http://127.0.0.1/"],
            capture_output=True, text=True, timeout=30, check=False)
        if proc.returncode != 0:
            raise OSError(proc.stderr.strip())
        return proc.stdout

    def pids(self, needle: str) -> set[int]:
        """PIDs of this machine's processes (descendants of its supervisord)
        whose command line contains ``needle``.  Other machines may run the same
        programs meanwhile (the systemd tests boot a container with this example
        on a parallel worker), so a command line alone does not say whose it is."""
        supervisord = int((self.root / "run" / "pynix" / "supervisord.pid").read_text())
        parents: dict[int, int] = {}
        lines: dict[int, str] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            pid = int(entry.name)
            parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
            lines[pid] = cmdline

        def ours(pid: int) -> bool:
            while pid > 1:
                pid = parents.get(pid, 0)
                if pid == supervisord:
                    return True
            return False

        return {pid for pid, cmdline in lines.items() if needle in cmdline and ours(pid)}

@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machine]:
    needs.root("switching a machine")
    base = tmp_path_factory.mktemp("server-example")
    work = base / "work"
    shutil.copytree(EXAMPLE, work)
    m = Machine(base / "machine", work)
    try:
        yield m
    finally:
        m.os("halt", check=False, timeout=120)


def test_server_example(machine: Machine) -> None:
    m = machine
    # -- generation 1: the example as it is ----------------------------------------
    first = m.os("switch", "-f", str(m.work / "configuration.nix"))
    gen1 = m.current_system()
    assert STORE_PATH.fullmatch(gen1), gen1
    assert "starting the following units:" in first.stdout + first.stderr
    page = wait_for("the page through nginx", lambda: "viewed" in (p := m.page()) and p, timeout=60)
    assert isinstance(page, str) and page.startswith("Hello from myapp!"), page
    count = views(page)
    assert views(m.page()) == count + 1  # the counter lives in PostgreSQL
    # psql, as the machine's postgres user, sees myapp's table and its counter
    psql = m.in_machine("postgres", "psql", "-d", "myapp", "-tAc",
                        "SELECT page, count FROM visits")
    assert psql.returncode == 0, psql.stderr
    page_row, seen = psql.stdout.strip().split("|")
    assert page_row == "/" and int(seen) >= count + 1, psql.stdout

    # -- kill -9 myapp: it comes back (Restart=always) ---------------------------
    (old_app,) = m.pids("myapp.py")
    os.kill(old_app, signal.SIGKILL)
    wait_for("myapp to come back", lambda: m.pids("myapp.py") - {old_app}, timeout=30)
    wait_for("the page after the restart", lambda: "viewed" in m.page(), timeout=60)

    nginx_before = m.pids("nginx: master") or m.pids("bin/nginx")
    postgres_before = m.pids("bin/postgres")
    assert nginx_before and postgres_before

    # -- generation 2: redis added, the page changed --------------------------------
    (m.work / "configuration2.nix").write_text(
        "{ ... }: {\n"
        "  imports = [ ./configuration.nix ];\n"
        '  services.redis.servers."".enable = true;\n'
        '  systemd.services.myapp.environment.MYAPP_GREETING = "Hello again";\n'
        "}\n")
    second = m.os("switch", "-f", str(m.work / "configuration2.nix"))
    out = second.stdout + second.stderr
    gen2 = m.current_system()
    assert gen2 != gen1
    assert re.search(r"restarting the following units: .*myapp\.service", out) or \
        re.search(r"stopping the following units: .*myapp\.service", out), out
    assert re.search(r"starting the following units: .*redis\.service", out), out
    assert "nginx.service" not in out and "postgresql.service" not in out, out
    wait_for("the new page", lambda: m.page().startswith("Hello again!"), timeout=60)
    # nginx and PostgreSQL kept running, untouched
    assert (m.pids("nginx: master") or m.pids("bin/nginx")) == nginx_before
    assert m.pids("bin/postgres") >= postgres_before
    redis_cli = m.in_machine("root", "redis-cli", "-p", "6379", "PING")
    assert redis_cli.stdout.strip() == "PONG", redis_cli

    # -- generations list both; rollback restores generation 1 and its services -------
    gens = json.loads(m.os("generations", "--json").stdout)
    assert [g["generation"] for g in gens] == [1, 2] or \
        sorted(g["generation"] for g in gens) == [1, 2], gens
    assert [g["generation"] for g in gens if g["current"]] == [2]
    m.os("rollback")
    assert m.current_system() == gen1
    wait_for("the first page again", lambda: m.page().startswith("Hello from myapp!"), timeout=60)
    wait_for("redis to stop", lambda: not m.pids("redis-server"), timeout=30)
    gens = json.loads(m.os("generations", "--json").stdout)
    assert [g["generation"] for g in gens if g["current"]] == [1]

    # -- delete the other generations, collect garbage: the current system stays --------
    m.os("delete-generations", "old")
    gens = json.loads(m.os("generations", "--json").stdout)
    assert [g["generation"] for g in gens] == [1]
    gc = m.pynix("store", "gc", "--store", f"local?root={m.root}")
    assert gc.returncode == 0
    assert not m.real(gen2).exists()
    verify = m.pynix("store", "verify", "--check-contents", "--store", f"local?root={m.root}",
                     gen1)
    assert verify.returncode == 0, verify.stderr
    assert m.page().startswith("Hello from myapp!")

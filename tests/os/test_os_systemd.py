"""The systemd service manager, under real systemd: a machine booted with
systemd-nspawn (Debian's systemd as PID 1) is switched from inside with
``pynix os``; the units of the system are run by systemd itself."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from os_nspawn import Container, container, require
from os_synth import World, answer, free_port, get, line, refused, server_unit, wait_for
from test_os_real_config import write
from test_server_example import EXAMPLE, views

from pynix.store.url import open_store


@pytest.fixture
def booted(tmp_path: Path) -> Iterator[tuple[World, Container]]:
    require()
    w = World(tmp_path)
    with open_store(w.url):  # the machine's store exists before it is bound into the container
        pass
    with container(tmp_path, w.root / "nix") as c:
        yield w, c


def verified(c: Container, toplevel: str) -> None:
    """systemd's own check of every unit file of a system (syntax, settings,
    executables present): no complaint."""
    unit_dir = f"{toplevel}/etc/systemd/system"
    names = [n for n in c.run("ls", unit_dir).stdout.split()
             if not n.endswith((".wants", ".requires"))]
    assert len(names) > 3
    r = c.run("systemd-analyze", "verify", *(f"{unit_dir}/{n}" for n in names))
    assert r.returncode == 0 and not r.stderr.strip(), (names, r.stdout, r.stderr)


def test_switch_under_systemd(booted: tuple[World, Container]) -> None:
    w, c = booted
    pa, pb, pe = free_port(), free_port(), free_port()
    reload = "ExecReload=/bin/kill -HUP $MAINPID\n"
    a_extra = "User=svc\nStateDirectory=a-state\nStateDirectoryMode=0700\n"
    oneshot = ("[Service]\nType=oneshot\nRemainAfterExit=yes\n"
               "ExecStart=/bin/sh -c 'echo ran >> /var/lib/c-ran'\n")
    b_text = server_unit(pb, "b-one", server=w.server, after="a.service", extra=reload)
    gen1 = w.system({
        "a.service": server_unit(pa, "a-one", server=w.server, extra=a_extra),
        "b.service": b_text,
        "c.service": oneshot,
    }, label="one")

    first = c.pynix("os", "switch", "--system", gen1)
    assert first.returncode == 0, first.stderr
    assert line(first.stderr, "starting the following units:") == [
        "a.service", "b.service", "c.service"]
    assert c.run("readlink", "/run/current-system").stdout.strip() == gen1
    # systemd runs them: the process answering is the unit's main PID, as svc
    a = answer(pa)
    assert a["message"] == "a-one" and a["uid"] == "990"
    assert c.show("a.service", "MainPID") == a["pid"]
    assert c.show("a.service", "ActiveState") == "active"
    assert c.show("c.service", "SubState") == "exited"  # oneshot, RemainAfterExit
    assert answer(pb)["message"] == "b-one"
    state = c.root / "var/lib/a-state"
    assert state.stat().st_uid == 990 and state.stat().st_mode & 0o777 == 0o700
    assert (c.root / "var/lib/c-ran").read_text() == "ran\n"
    status = json.loads(c.pynix("os", "status", "--json").stdout)
    states = {e["unit"]: e["state"] for e in status}
    assert states["a.service"] == "active (running)", states
    assert states["c.service"] == "active (exited)", states

    # kill -9: systemd restarts it (Restart=always)
    assert c.run("kill", "-9", a["pid"]).returncode == 0
    wait_for("a to come back", lambda: not refused(pa) and answer(pa)["pid"] != a["pid"],
             timeout=15)

    # generation 2: a changed (restart), b only in its reload triggers
    # (reload), c removed (stopped), e new (started)
    b_unit = b_text.replace(
        "[Unit]\n", "[Unit]\nX-Reload-Triggers=/nix/store/00000000000000000000000000000000-x\n")
    gen2 = w.system({
        "a.service": server_unit(pa, "a-two", server=w.server, extra=a_extra),
        "b.service": b_unit,
        "e.service": server_unit(pe, "e-new", server=w.server),
    }, label="two")
    b_before = answer(pb)
    second = c.pynix("os", "switch", "--system", gen2)
    assert second.returncode == 0, second.stderr
    out = second.stderr
    assert line(out, "stopping the following units:") == ["a.service", "c.service"]
    assert line(out, "reloading the following units:") == ["b.service"]
    assert line(out, "starting the following units:") == ["a.service", "e.service"]
    assert answer(pa)["message"] == "a-two"
    b_after = wait_for("b's reload", lambda: (x := answer(pb))["reloads"] == "1" and x)
    assert isinstance(b_after, dict) and b_after["pid"] == b_before["pid"]  # not restarted
    assert answer(pe)["message"] == "e-new"
    assert c.show("c.service", "ActiveState") == "inactive"
    # systemd reads the units through /etc/systemd/system -> /etc/static
    assert c.show("e.service", "FragmentPath") == "/etc/systemd/system/e.service"

    # a service that fails to start: exit 4, the unit, its journal and its
    # file named; generation 2 put back and running
    failing = ("[Unit]\nDescription=failing\n[Service]\n"
               "ExecStart=/bin/sh -c 'echo boom: no config; exit 3'\nRestart=always\n")
    gen3 = w.system({"a.service": failing, "b.service": b_unit,
                     "e.service": server_unit(pe, "e-new", server=w.server)}, label="three")
    bad = c.pynix("os", "switch", "--system", gen3)
    assert bad.returncode == 4, bad.stderr
    assert "Failed to start a.service" in bad.stderr
    assert "exit status 3" in bad.stderr
    assert "boom: no config" in bad.stderr  # from the journal
    assert f"{gen3}/etc/systemd/system/a.service" in bad.stderr
    assert c.run("readlink", "/run/current-system").stdout.strip() == gen2
    wait_for("a back on generation 2", lambda: answer(pa)["message"] == "a-two", timeout=15)
    assert answer(pe)["message"] == "e-new"

    # rollback: generation 1 and its services
    rb = c.pynix("os", "rollback")
    assert rb.returncode == 0, rb.stderr
    assert c.run("readlink", "/run/current-system").stdout.strip() == gen1
    assert answer(pa)["message"] == "a-one"
    assert refused(pe)
    assert "c.service" in line(rb.stderr, "starting the following units:")
    gens = json.loads(c.pynix("os", "generations", "--json").stdout)
    assert [g["generation"] for g in gens] == [1, 2, 3]
    assert [g["current"] for g in gens] == [True, False, False]


def test_real_configuration_under_systemd(booted: tuple[World, Container]) -> None:
    """A configuration.nix built by the module system: its units (unit
    scripts, PATH, User, StateDirectory, preStart) as systemd runs them, and
    the activation script run at / by the switch."""
    w, c = booted
    port = free_port()
    config = write(w, "configuration.nix", "hello-systemd", port)
    built = w.os("build", "-f", config, timeout=900)
    assert built.returncode == 0, built.stderr
    top = built.stdout.strip()
    sw = c.pynix("os", "switch", "--system", top)
    assert sw.returncode == 0, sw.stderr
    assert "starting the following units: hello.service" in sw.stderr
    assert get(port).strip() == "hello-systemd"  # written by preStart, served as web
    passwd = (c.root / "etc/passwd").read_text()
    uid = re.search(r"^web:[^:]*:(\d+):", passwd, re.M)
    assert uid, passwd
    pid = c.show("hello.service", "MainPID")
    assert c.run("stat", "-c", "%u", f"/proc/{pid}").stdout.strip() == uid.group(1)
    assert (c.root / "var/lib/hello").stat().st_uid == int(uid.group(1))
    assert c.show("hello.service", "FragmentPath") == "/etc/systemd/system/hello.service"
    assert c.show("hello.service", "UnitFileState") == "enabled"  # through multi-user.target.wants
    etc = c.run("readlink", "-f", top + "/etc").stdout.strip()
    assert etc.endswith("-etc/etc") and c.run("readlink", "/etc/static").stdout.strip() == etc
    # startAt's timer is systemd's (which may delay it by up to AccuracySec=1min)
    assert c.show("stamp.timer", "ActiveState") == "active"
    assert c.show("stamp.timer", "Triggers") == "stamp.service"
    verified(c, top)
    hostname = c.run("cat", "/etc/hostname").stdout.strip()
    assert hostname == "tiny"
    # kill -9: back, by systemd
    assert c.run("kill", "-9", pid).returncode == 0
    wait_for("hello after kill -9",
             lambda: c.show("hello.service", "MainPID") not in ("0", pid)
             and get(port).strip() == "hello-systemd", timeout=20)


def test_server_example_under_systemd(tmp_path: Path) -> None:
    """examples/server (nginx, PostgreSQL, myapp) run by systemd: the page
    through nginx counts in PostgreSQL, psql sees the table, a killed myapp is
    restarted, a new greeting restarts myapp only, rollback brings back the
    first page.  The container has its own loopback (ports 80 and 5432)."""
    require()
    w = World(tmp_path)
    work = tmp_path / "work"
    shutil.copytree(EXAMPLE, work)
    (work / "configuration2.nix").write_text(
        "{ ... }: {\n  imports = [ ./configuration.nix ];\n"
        '  systemd.services.myapp.environment.MYAPP_GREETING = "Hello again";\n}\n')
    systems = []
    for name in ("configuration.nix", "configuration2.nix"):
        built = w.os("build", "-f", str(work / name), timeout=900)
        assert built.returncode == 0, built.stderr
        systems.append(built.stdout.strip())
    gen1, gen2 = systems

    with container(tmp_path, w.root / "nix", private_network=True) as c:
        def page() -> str:
            r = c.run("curl", "-sS", "--max-time", "10", "-H", "Host: example.com",
                      "http://127.0.0.1/", timeout=30)
            return r.stdout if r.returncode == 0 else ""

        def main_pid(unit: str) -> str:
            return c.show(unit, "MainPID")

        def journal() -> str:
            """What systemd and nginx said, for a failure's message."""
            log = c.run("journalctl", "--no-pager", "-n", "80", "-u", "myapp.service",
                        "-u", "nginx.service", "-u", "postgresql.service")
            errors = c.run("tail", "-n", "20", "/var/log/nginx/error.log")
            return f"\n--- journal:\n{log.stdout}\n--- nginx error.log:\n{errors.stdout}"

        first = c.pynix("os", "switch", "--system", gen1)
        assert first.returncode == 0, first.stderr
        assert line(first.stderr, "starting the following units:") == [
            "myapp.service", "nginx.service", "postgresql.service"]
        text = wait_for("the page through nginx", lambda: "viewed" in (p := page()) and p)
        assert isinstance(text, str) and text.startswith("Hello from myapp!"), text
        count = views(text)
        # the counter lives in PostgreSQL: the next page counts exactly one more
        # (CI saw nginx answer 502 once right after the first page, cause
        # unknown; a request nginx could not pass on is asked again, and the
        # journal is shown if that lasts)
        try:
            again = wait_for("the next page", lambda: "viewed" in (p := page()) and p,
                             timeout=30)
        except AssertionError as e:
            raise AssertionError(f"{e}{journal()}") from None
        assert isinstance(again, str)
        assert views(again) == count + 1, again + journal()
        psql = c.run("setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups",
                     "/run/current-system/sw/bin/psql", "-d", "myapp", "-tAc",
                     "SELECT page, count FROM visits")
        assert psql.returncode == 0, psql.stderr
        assert psql.stdout.strip() == f"/|{count + 1}", psql.stdout + journal()
        verified(c, gen1)

        app = main_pid("myapp.service")
        assert c.run("kill", "-9", app).returncode == 0
        wait_for("myapp to come back", lambda: main_pid("myapp.service") not in ("0", app)
                 and "viewed" in page(), timeout=30)

        nginx, postgres = main_pid("nginx.service"), main_pid("postgresql.service")
        second = c.pynix("os", "switch", "--system", gen2)
        assert second.returncode == 0, second.stderr
        touched = [u for verb in ("stopping", "restarting", "starting", "reloading")
                   for u in line(second.stderr, f"{verb} the following units:")]
        assert set(touched) == {"myapp.service"}, second.stderr
        wait_for("the new page", lambda: page().startswith("Hello again!"))
        assert (main_pid("nginx.service"), main_pid("postgresql.service")) == (nginx, postgres)

        rb = c.pynix("os", "rollback")
        assert rb.returncode == 0, rb.stderr
        assert c.run("readlink", "/run/current-system").stdout.strip() == gen1
        wait_for("the first page again", lambda: page().startswith("Hello from myapp!"))

"""Switching synthetic systems in a temporary machine root with a real
supervisord: services on 127.0.0.1, restart on kill -9, only changed units
touched, reload, rollback, generations, GC, dry-activate, failures, halt."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import time
from pathlib import Path

from os_synth import World, answer, free_port, line, refused, server_unit, wait_for


def test_switch_lifecycle(world: World) -> None:
    w = world
    pa, pb, pe = free_port(), free_port(), free_port()
    post = ("ExecStartPost=+/bin/sh -c 'echo post $MAINPID > /run/a-post'\n"
            "User=svc\nStateDirectory=a-state\nStateDirectoryMode=0700\n")
    oneshot = ("[Service]\nType=oneshot\nRemainAfterExit=yes\n"
               "ExecStart=/bin/sh -c 'echo ran >> /var/lib/c-ran'\n")
    b_text = server_unit(pb, "b-one", server=w.server, after="a.service",
                         extra="RestartSec=2s\n")
    gen1 = w.system({
        "a.service": server_unit(pa, "a-one", server=w.server, extra=post),
        "b.service": b_text,
        "c.service": oneshot,
    }, label="one")

    # dry-activate on an empty machine: the plan, and nothing done
    dry = w.switch(gen1, "dry-activate")
    assert dry.returncode == 0, dry.stderr
    assert line(dry.stderr, "would start the following units:") == [
        "a.service", "b.service", "c.service"]
    assert "would activate the configuration..." in dry.stderr
    assert w.current_system() is None and refused(pa)

    first = w.switch(gen1)
    assert first.returncode == 0, first.stderr
    out = first.stderr
    assert out.index("activating the configuration...") < out.index(
        "starting the following units: a.service, b.service, c.service")
    assert w.current_system() == gen1 and w.profile_target() == gen1
    a = answer(pa)
    assert a["message"] == "a-one" and a["uid"] == "990"  # User=svc from the machine's passwd
    assert answer(pb)["message"] == "b-one"
    # the ExecStartPost ran with MAINPID = the service's own PID (no fork in between)
    assert (w.root / "run/a-post").read_text().split() == ["post", a["pid"]]
    state = w.root / "var/lib/a-state"
    assert state.stat().st_uid == 990 and state.stat().st_mode & 0o777 == 0o700
    assert (state / "started").read_text().split() == [a["pid"]]
    assert (w.root / "var/lib/c-ran").read_text() == "ran\n"
    # a command inside the machine, as one of its users
    inside = w.os("run", "--user", "svc", "--", "/bin/sh", "-c",
                  "id -u; readlink /run/current-system; cat /var/lib/c-ran")
    assert inside.returncode == 0, inside.stderr
    assert inside.stdout.split() == ["990", gen1, "ran"]

    # kill -9: Restart=always brings it back, with a new PID, within seconds
    os.kill(int(a["pid"]), signal.SIGKILL)
    t0 = time.monotonic()
    back = wait_for("a to come back", lambda: not refused(pa) and answer(pa)["pid"] != a["pid"],
                    timeout=10)
    assert back and time.monotonic() - t0 < 10
    a = answer(pa)
    # ... after RestartSec= (2 s for b)
    b = answer(pb)
    os.kill(int(b["pid"]), signal.SIGKILL)
    time.sleep(1.0)
    assert refused(pb)
    wait_for("b to come back", lambda: answer(pb)["pid"] != b["pid"], timeout=10)

    # generation 2: a changed (restart), b only in its reload triggers (reload),
    # c removed (stopped), e new (started)
    b_unit = b_text.replace(
        "[Unit]\n", "[Unit]\nX-Reload-Triggers=/nix/store/00000000000000000000000000000000-x\n")
    gen2 = w.system({
        "a.service": server_unit(pa, "a-two", server=w.server, extra=post),
        "b.service": b_unit,
        "e.service": server_unit(pe, "e-new", server=w.server),
    }, label="two")
    b_before = answer(pb)
    second = w.switch(gen2)
    assert second.returncode == 0, second.stderr
    out = second.stderr
    assert line(out, "stopping the following units:") == ["a.service", "c.service"]
    assert line(out, "reloading the following units:") == ["b.service"]
    assert line(out, "starting the following units:") == ["a.service", "e.service"]
    assert "restarting the following units:" not in out
    assert answer(pa)["message"] == "a-two"
    b_after = wait_for("b's reload", lambda: (x := answer(pb))["reloads"] == "1" and x)
    assert isinstance(b_after, dict) and b_after["pid"] == b_before["pid"]  # not restarted
    assert answer(pe)["message"] == "e-new"
    status = json.loads(w.os("status", "--json").stdout)
    states = {e["unit"]: e["state"] for e in status}
    assert states["a.service"] == "RUNNING" and "c.service" not in states

    # a third switch to the same system changes nothing
    again = w.switch(gen2)
    assert again.returncode == 0 and "stopping" not in again.stderr
    assert "starting the following units" not in again.stderr
    assert answer(pb)["pid"] == b_before["pid"]

    gens = json.loads(w.os("generations", "--json").stdout)
    assert [(g["generation"], g["current"], g["nixosVersion"]) for g in gens] == [
        (1, False, "one"), (2, True, "two")]

    # rollback: generation 1 and its services
    rb = w.os("rollback")
    assert rb.returncode == 0, rb.stderr
    assert w.current_system() == gen1 and w.profile_target() == gen1
    assert answer(pa)["message"] == "a-one"
    assert refused(pe)
    assert "c.service" in line(rb.stderr, "starting the following units:")
    text = w.os("generations").stdout
    assert re.search(r"^1 current\s", text, re.M) and re.search(r"^2\s", text, re.M), text

    # delete the other generations, collect garbage: the running system stays
    assert w.os("delete-generations", "old").returncode == 0
    assert [g["generation"] for g in json.loads(w.os("generations", "--json").stdout)] == [1]
    gc = w.pynix("store", "gc", "--store", w.url)
    assert gc.returncode == 0, gc.stderr
    assert not (w.root / gen2.lstrip("/")).exists()
    assert (w.root / gen1.lstrip("/") / "activate").exists()
    assert answer(pa)["message"] == "a-one"

    # a service that fails to start: exit code 4, the unit, its log and file
    # named, and generation 1 put back and running
    failing = server_unit(pa, "a-three", server=w.server).replace(
        f"{w.server} {pa}", "-c 'import sys; print(\"boom: no config\"); sys.exit(3)'")
    gen3 = w.system({"a.service": failing, "b.service": b_text}, label="three")
    bad = w.switch(gen3)
    assert bad.returncode == 4, bad.stderr
    assert "Failed to start a.service" in bad.stderr
    assert "boom: no config" in bad.stderr
    assert f"{gen3}/etc/systemd/system/a.service" in bad.stderr
    assert w.current_system() == gen1 and w.profile_target() == gen1
    assert not refused(pa) and not refused(pb), bad.stderr
    assert answer(pa)["message"] == "a-one" and answer(pb)["message"] == "b-one"

    # halt: every service and supervisord stop
    pid = int((w.root / "run/pynix/supervisord.pid").read_text())
    w.halt()
    assert refused(pa) and refused(pb)
    wait_for("supervisord to exit", lambda: not Path(f"/proc/{pid}").exists(), timeout=10)


def test_one_switch_at_a_time(world: World) -> None:
    w = world
    system = w.system({"multi-user.target": "[Unit]\n"}, wanted=[])
    lock = w.root / "run/nixos/switch-to-configuration.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        busy = w.switch(system)
    assert busy.returncode == 1 and "Could not acquire lock" in busy.stderr
    assert w.current_system() is None
    ok = w.switch(system, "test")  # test: activated, no generation
    assert ok.returncode == 0, ok.stderr
    assert w.current_system() == system and w.profile_target() is None


def test_bad_toplevel(world: World) -> None:
    bad = world.os("switch", "--system", "/nix/store/00000000000000000000000000000000-nothing")
    assert bad.returncode == 1
    assert "is not a valid path in the store" in bad.stderr
    missing = world.os("switch", "-f", str(world.base / "nope.nix"))
    assert missing.returncode == 1 and "nope.nix' does not exist" in missing.stderr


def test_interrupted_switch_is_completed(world: World) -> None:
    """The start and restart lists a switch leaves in /run/nixos (it was killed
    after stopping units) are carried out by the next switch."""
    import io

    from pynix.os.machine import Machine
    from pynix.os.managers.supervisor import SupervisorManager
    from pynix.os.switch import Switcher

    w = world
    pa, pb = free_port(), free_port()
    # neither unit is wanted by multi-user.target: only the lists bring them up
    system = w.system({"a.service": server_unit(pa, "a", server=w.server),
                       "b.service": server_unit(pb, "b", server=w.server)}, wanted=[])
    assert w.switch(system).returncode == 0
    assert refused(pa) and refused(pb)
    machine_ = Machine.open(str(w.root), None)
    graph = Switcher(machine_, io.BytesIO()).graph(system)
    manager = SupervisorManager(machine_, create=False)
    assert manager.start(["b.service"], graph) == []
    b = answer(pb)
    (w.root / "run/nixos/start-list").write_text("a.service\n")
    (w.root / "run/nixos/restart-list").write_text("b.service\n")
    again = w.switch(system)
    assert again.returncode == 0, again.stderr
    assert line(again.stderr, "starting the following units:") == ["a.service"]
    assert line(again.stderr, "restarting the following units:") == ["b.service"]
    assert answer(pa)["message"] == "a" and answer(pb)["pid"] != b["pid"]
    assert not (w.root / "run/nixos/start-list").exists()
    assert not (w.root / "run/nixos/restart-list").exists()


def test_start_list_naming_a_running_service(world: World) -> None:
    """A switch killed after it started a unit, but before it cleared its start
    list, leaves that unit on the list while it runs: the next switch starts it
    again, which is nothing to do (the service keeps its PID), not a wait for a
    start that never comes (CI saw a 90 s timeout and a failed switch)."""
    w = world
    port = free_port()
    system = w.system({"s.service": server_unit(port, "s", server=w.server,
                                                extra="TimeoutStartSec=15s\n")})
    assert w.switch(system).returncode == 0
    before = wait_for("s", lambda: answer(port))
    assert isinstance(before, dict)
    (w.root / "run/nixos/start-list").write_text("s.service\n")
    again = w.switch(system)
    assert again.returncode == 0, again.stderr
    assert line(again.stderr, "starting the following units:") == ["s.service"]
    assert answer(port)["pid"] == before["pid"]
    assert not (w.root / "run/nixos/start-list").exists()


def test_failing_activation(world: World) -> None:
    """A failing activation script: exit status 2, said so, and the switch goes on."""
    w = world
    port = free_port()
    system = w.system({"a.service": server_unit(port, "a", server=w.server)},
                      activate_extra='echo "snippet failed" >&2; _status=1')
    out = w.switch(system)
    assert out.returncode == 2, out.stderr
    assert "snippet failed" in out.stderr
    assert f"the activation script of {system} failed (exit code 1)" in out.stderr
    assert w.current_system() == system and answer(port)["message"] == "a"

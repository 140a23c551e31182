"""SIGKILL at 30 random moments during ``pynix os switch``: /run/current-system
and the system profile always name one complete generation, and the next
switch succeeds (issue acceptance 4)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

from os_synth import PYNIX, World, answer, free_port, server_unit, wait_for

KILLS = 30


def complete(w: World, path: str | None, systems: set[str]) -> bool:
    """``path`` is one of the systems and its files are all there."""
    if path not in systems:
        return False
    assert path is not None
    real = w.root / path.lstrip("/")
    return (real / "activate").is_file() and (real / "etc/systemd/system").is_dir()


def test_sigkill_during_switch(world: World) -> None:
    w = world
    port = free_port()
    # the service changes between the two systems, so every switch stops and
    # starts it; the other unit is the same in both
    systems = [
        w.system({"s.service": server_unit(port, f"system-{i}", server=w.server),
                  "t.service": server_unit(free_port(), "static", server=w.server)},
                 label=f"s{i}")
        for i in range(2)
    ]
    first = w.switch(systems[0])
    assert first.returncode == 0, first.stderr
    rng = random.Random(int(os.environ.get("PYNIX_TEST_SEED", "5")))
    killed = 0
    for i in range(KILLS):
        target = systems[(i + 1) % 2]
        proc = subprocess.Popen([PYNIX, "os", "switch", "--root", str(w.root), "--system",
                                 target], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.0, 1.6))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(timeout=60)
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        proc.stderr.close()
        assert "Traceback" not in err, err
        # whatever the moment, both links name a complete generation
        assert complete(w, w.current_system(), set(systems)), w.current_system()
        assert complete(w, w.profile_target(), set(systems)), w.profile_target()
    assert killed >= KILLS // 2  # most switches were really interrupted
    # the next switch succeeds and leaves the system's services running
    for target in systems[1], systems[0]:
        done = w.switch(target)
        assert done.returncode == 0, done.stderr
        assert w.current_system() == target and w.profile_target() == target
        n = systems.index(target)
        wait_for("the service", lambda n=n: answer(port)["message"] == f"system-{n}")

"""A small real configuration.nix (evaluated by the module system, built from
the package collection) switched in a temporary machine root; the evaluator's
messages for bad configurations; ``pynix os option`` and ``pynix os diff``."""

from __future__ import annotations

import json
import os
import re

from os_synth import World, free_port, get, timer_dues, wait_for

CONFIG = """\
{ pkgs, ... }: {
  networking.hostName = "tiny";
  environment.systemPackages = [ pkgs.coreutils ];
  users.users.web = { isSystemUser = true; group = "web"; };
  users.groups.web = { };
  systemd.services.hello = {
    description = "hello server";
    wantedBy = [ "multi-user.target" ];
    environment.GREETING = "@GREETING@";
    preStart = "echo $GREETING > /var/lib/hello/index.html";
    serviceConfig = {
      ExecStart = "${pkgs.python3}/bin/python3 -m http.server @PORT@"
        + " --bind 127.0.0.1 --directory /var/lib/hello";
      User = "web";
      StateDirectory = "hello";
      Restart = "always";
    };
  };
  # a job every 2 seconds (a timer), a plain (not oneshot) service
  systemd.services.stamp = {
    startAt = "*:*:0/2";
    script = "date +%s >> /var/lib/stamps";
  };
  @EXTRA@
}
"""

# (definition added to the configuration, what the message must say)
BAD = [
    ("services.nginx.enabel = true;",
     [r"services\.nginx\.enabel' does not exist", r"bad\.nix", r"services\.nginx\.enable"]),
    ("networking.hostName = 42;", [r"networking\.hostName' is not of type", r"bad\.nix"]),
    ('networking.hostName = "other";',
     [r"networking\.hostName' has conflicting definition values", r"configuration2\.nix",
      r"bad\.nix"]),
    ('assertions = [ { assertion = false; message = "hello needs a port"; } ];',
     [r"Failed assertions", r"hello needs a port"]),
]


def write(w: World, name: str, greeting: str, port: int, extra: str = "") -> str:
    path = w.base / name
    path.write_text(CONFIG.replace("@GREETING@", greeting).replace("@PORT@", str(port))
                    .replace("@EXTRA@", extra))
    return str(path)


def test_real_configuration(world: World) -> None:
    w = world
    port, port2 = free_port(), free_port()
    config = write(w, "configuration.nix", "hello-one", port)
    first = w.os("switch", "-f", config, timeout=900)
    assert first.returncode == 0, first.stderr
    assert "starting the following units: hello.service" in first.stderr
    assert "stamp.timer" in first.stderr and "does not run these units" not in first.stderr
    gen1 = w.current_system()
    assert gen1 is not None and gen1.endswith("-pynix-system-tiny-" + gen1.rsplit("-", 1)[-1])
    assert get(port).strip() == "hello-one"
    built = w.os("build", "-f", config)  # the same system, already built: ./result
    assert built.returncode == 0 and built.stdout.strip() == gen1, built.stderr
    assert os.readlink(w.base / "result") == gen1
    passwd = (w.root / "etc/passwd").read_text()
    uid = int(re.search(r"^web:[^:]*:(\d+):", passwd, re.M).group(1))  # type: ignore[union-attr]
    assert (w.root / "var/lib/hello").stat().st_uid == uid
    # the timer of startAt runs the stamp service on the even seconds, once each
    stamps = w.root / "var/lib/stamps"
    wait_for("two stamps", lambda: stamps.exists() and len(stamps.read_text().split()) >= 2,
             timeout=20)
    dues = timer_dues(w.root, "stamp.timer")
    assert len(dues) >= 2 and all(d % 2 == 0 for d in dues) and dues == sorted(set(dues)), dues
    assert all(int(t) >= int(d) for t, d in zip(stamps.read_text().split(), dues, strict=False))

    # a second service and a new greeting: hello restarts, the new one starts
    extra = (f'systemd.services.other = {{ wantedBy = [ "multi-user.target" ]; '
             f'serviceConfig.ExecStart = "${{pkgs.python3}}/bin/python3 -m http.server '
             f'{port2} --bind 127.0.0.1 --directory /etc"; }};'
             " imports = [ { environment.systemPackages = [ pkgs.python3 ]; } ];")
    config2 = write(w, "configuration2.nix", "hello-two", port, extra)
    dry = w.os("dry-activate", "-f", config2, timeout=600)
    assert dry.returncode == 0, dry.stderr
    assert re.search(r"^would stop the following units: hello\.service$", dry.stderr, re.M)
    assert re.search(r"^would start the following units: hello\.service, other\.service$",
                     dry.stderr, re.M), dry.stderr
    assert w.current_system() == gen1
    second = w.os("switch", "-f", config2, timeout=600)
    assert second.returncode == 0, second.stderr
    assert re.search(r"^stopping the following units: hello\.service$", second.stderr, re.M)
    assert get(port).strip() == "hello-two"
    assert "hostname" in get(port2)  # a listing of the machine's /etc
    gen2 = w.current_system()

    # what changed between the generations: the packages of sw, with sizes
    d = json.loads(w.os("diff", "1", "2", "--json").stdout)
    assert d["from"] == gen1 and d["to"] == gen2
    assert 0 < d["swClosureSize"][0] < d["swClosureSize"][1]
    assert 0 < d["closureSize"][0] <= d["closureSize"][1]
    added = dict(d["added"])
    assert added.get("python3", "").startswith("3."), d  # with its version
    assert not d["removed"], d
    assert "sw closure size:" in w.os("diff", "1", "2").stdout

    # the option command: type, value, where it was defined
    opt = w.os("option", "-f", config2, "networking.hostName")
    assert opt.returncode == 0, opt.stderr
    assert re.search(r"^Type: .*string", opt.stdout, re.M)
    assert '"tiny"' in opt.stdout and "configuration2.nix" in opt.stdout
    missing = w.os("option", "-f", config2, "networking.hostNam")
    assert missing.returncode == 1 and "networking.hostName" in missing.stderr

    # bad configurations: the evaluator's message, no traceback, nothing changed
    for definition, expected in BAD:
        (w.base / "bad.nix").write_text(
            f"{{ ... }}: {{ imports = [ ./configuration2.nix ]; {definition} }}\n")
        bad = w.os("switch", "-f", str(w.base / "bad.nix"), timeout=300)
        assert bad.returncode == 1, bad.stderr
        for pattern in expected:
            assert re.search(pattern, bad.stderr), (pattern, bad.stderr)
        assert "nothing was changed" in bad.stderr
        assert w.current_system() == gen2
    assert get(port).strip() == "hello-two"

    # kill -9 of the service: back (Restart=always)
    pid = int((w.root / "run/pynix").joinpath("units/hello.service.started").read_text()
              .split('"pid": ')[1].split(",")[0].split("}")[0])
    os.kill(pid, 9)
    wait_for("hello after kill -9", lambda: get(port).strip() == "hello-two", timeout=15)

    rb = w.os("rollback")
    assert rb.returncode == 0, rb.stderr
    assert w.current_system() == gen1 and get(port).strip() == "hello-one"

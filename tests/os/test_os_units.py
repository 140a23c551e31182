"""Unit files, command lines and the switch plan, without running anything."""

from __future__ import annotations

from pathlib import Path

import pytest

import needs
from pynix.os.cmdline import (
    CommandLineError,
    parse_command,
    parse_environment,
    parse_environment_file,
)
from pynix.os.managers import UnitGraph
from pynix.os.service import ServiceSpec, parse_seconds, signal_number
from pynix.os.switch import Plan, Switcher
from pynix.os.system import parse_name
from pynix.os.units import (
    EQUAL,
    NEEDS_RELOAD,
    NEEDS_RESTART,
    Unit,
    compare_units,
    dependency_order,
    parse_unit_text,
    read_unit,
)

# rendered the way NixOS renders systemd.services (spec §7.2)
NGINX = """\
[Unit]
After=network.target
Description=Nginx Web Server
X-Reload-Triggers=/nix/store/aaaa-nginx.conf

[Service]
Environment="LOCALE_ARCHIVE=/nix/store/xxxx-glibc-locales/lib/locale/locale-archive"
Environment="PATH=/nix/store/yyyy-coreutils/bin:/nix/store/yyyy-coreutils/sbin"
ExecReload=/nix/store/zzzz-nginx/bin/nginx -c /nix/store/aaaa-nginx.conf -t
ExecReload=/nix/store/kkkk-coreutils/bin/kill -HUP $MAINPID
ExecStart=/nix/store/zzzz-nginx/bin/nginx -c '/nix/store/aaaa-nginx.conf'
ExecStartPre=/nix/store/pppp-unit-script-nginx-pre-start/bin/nginx-pre-start
KillSignal=QUIT
Restart=always
RestartSec=10s
StateDirectory=nginx
StateDirectoryMode=0750
User=nginx

[Install]
WantedBy=multi-user.target
"""


def test_parse_unit_sections_lists_and_reset() -> None:
    s = parse_unit_text(NGINX + "\n[Service]\nExecReload=\nExecReload=/bin/true\n", "n")
    assert s["Unit"]["After"] == ["network.target"]
    assert s["Service"]["Environment"][1].startswith('"PATH=')
    assert s["Service"]["ExecReload"] == ["/bin/true"]  # the empty value reset the list
    assert s["Install"]["WantedBy"] == ["multi-user.target"]


def test_parse_continuation_and_comments() -> None:
    s = parse_unit_text("# c\n[Service]\n; c\nExecStart=/bin/echo a \\\n  b\n", "x")
    assert s["Service"]["ExecStart"] == ["/bin/echo a  b"]


def test_parse_errors_name_file_and_line() -> None:
    with pytest.raises(Exception, match=r"u.service:2: expected 'Key=Value'"):
        parse_unit_text("[Unit]\nnonsense\n", "u", source="u.service")


def test_compare_units() -> None:
    old = parse_unit_text(NGINX, "nginx.service")
    assert compare_units(old, parse_unit_text(NGINX, "n")) == EQUAL
    # description, [Install]: ignored
    changed = NGINX.replace("Nginx Web Server", "web").replace("multi-user", "graphical")
    assert compare_units(old, parse_unit_text(changed, "n")) == EQUAL
    # only the reload triggers: reload
    changed = NGINX.replace("aaaa-nginx.conf\n", "bbbb-nginx.conf\n", 1)
    assert compare_units(old, parse_unit_text(changed, "n")) == NEEDS_RELOAD
    # a [Service] value, an added key, a removed section: restart
    for changed in (NGINX.replace("QUIT", "TERM"), NGINX.replace("User=nginx", "User=x\nGroup=y"),
                    NGINX.split("[Service]")[0]):
        assert compare_units(old, parse_unit_text(changed, "n")) == NEEDS_RESTART
    # a [Unit] section that appears holding only ignored keys is no difference
    assert compare_units(parse_unit_text("[Service]\nA=1\n", "x"),
                         parse_unit_text("[Unit]\nDescription=d\n[Service]\nA=1\n", "x")) == EQUAL


def test_read_unit_with_dropins_and_template(tmp_path: Path) -> None:
    (tmp_path / "app@.service").write_text("[Service]\nExecStart=/bin/app %i\nUser=a\n")
    (tmp_path / "app@.service.d").mkdir()
    (tmp_path / "app@.service.d" / "overrides.conf").write_text("[Service]\nUser=b\n")
    (tmp_path / "masked.service").symlink_to("/dev/null")
    u = read_unit(str(tmp_path), "app@one.service")
    assert u is not None and u.values("Service", "User") == ["a", "b"]
    assert ServiceSpec(u).user == "b"
    cmd = ServiceSpec(u).commands("ExecStart", {})[0]
    assert cmd.argv == ["/bin/app", "one"]
    assert read_unit(str(tmp_path), "masked.service") is None
    assert read_unit(str(tmp_path), "missing.service") is None


def test_command_lines() -> None:
    env = {"A": "x y", "B": "b", "EMPTY": ""}
    c = parse_command("-/bin/prog 'one two' \"th\\\"ree\" $A ${A} pre${B}post $$HOME $EMPTY", env)
    assert c.ignore_failure and not c.privileged
    assert c.argv == ["/bin/prog", "one two", 'th"ree', "x", "y", "x y", "prebpost", "$HOME"]
    c = parse_command("+@/bin/sh shname -c 'echo \\x41\\n'", env)
    assert c.privileged and c.executable == "/bin/sh" and c.argv == ["shname", "-c", "echo A\n"]
    c = parse_command(":/bin/echo $A", env)
    assert c.argv == ["/bin/echo", "$A"]
    with pytest.raises(CommandLineError):
        parse_command("/bin/echo 'unterminated", env)
    with pytest.raises(CommandLineError):
        parse_command("-", env)


def test_environment_lines_and_files() -> None:
    assert parse_environment(['"PATH=/a b:/c" X=1', "Y='two words'"]) == {
        "PATH": "/a b:/c", "X": "1", "Y": "two words"}
    text = "# comment\nexport A=1\nB=\"quoted \\\" value\"\nC='single'\nbad line\n"
    assert parse_environment_file(text) == {"A": "1", "B": 'quoted " value', "C": "single"}


def test_service_settings() -> None:
    spec = ServiceSpec(Unit("nginx.service", parse_unit_text(NGINX, "nginx.service")))
    assert spec.kill_signal == 3 and spec.restart == "always" and spec.restart_sec == 10
    (var, dirs), = spec.directories()
    assert var == "STATE_DIRECTORY" and dirs[0].path == "/var/lib/nginx" and dirs[0].mode == 0o750
    assert parse_seconds("1min 30s", 0) == 90 and parse_seconds("100ms", 0) == 0.1
    assert signal_number("SIGKILL") == 9 and signal_number("HUP") == 1


def test_dependency_order() -> None:
    after = {"app": ["db", "network.target"], "db": ["network.target"], "web": ["app"],
             "network.target": []}
    order = dependency_order(after, lambda u: after.get(u, []))
    assert order.index("network.target") < order.index("db") < order.index("app") \
        < order.index("web")
    # Before= of one unit orders it ahead of the other
    order = dependency_order(["a", "b"], lambda u: [], lambda u: ["a"] if u == "b" else [])
    assert order == ["b", "a"]
    # a cycle does not hang
    assert sorted(dependency_order(["a", "b"], lambda u: ["b" if u == "a" else "a"])) == ["a", "b"]


def _graph(units: dict[str, str]) -> UnitGraph:
    g = UnitGraph(unit_dir="/x")
    for name, text in units.items():
        g.units[name] = Unit(name, parse_unit_text(text, name))
    return g


def test_plan_rules(tmp_path: Path) -> None:
    base = "[Service]\nExecStart=/bin/{n}\n"
    old = _graph({
        "restart.service": base.format(n="a"),
        "reload.service": base.format(n="b") + "X-ReloadIfChanged=true\n",
        "skip.service": base.format(n="c") + "X-RestartIfChanged=false\n",
        "onestep.service": base.format(n="d") + "X-StopIfChanged=false\n",
        "trigger.service": "[Unit]\nX-Reload-Triggers=/nix/store/1\n" + base.format(n="e"),
        "same.service": base.format(n="f"),
        "gone.service": base.format(n="g"),
        "keep-on-removal.service": "[Unit]\nX-StopOnRemoval=false\n" + base.format(n="h"),
        "mysock.socket": "[Socket]\nListenStream=1\n",
        "multi-user.target": "[Unit]\nDescription=m\n",
    })
    new = _graph({
        "restart.service": base.format(n="a2"),
        "reload.service": base.format(n="b2") + "X-ReloadIfChanged=true\n",
        "skip.service": base.format(n="c2") + "X-RestartIfChanged=false\n",
        "onestep.service": base.format(n="d2") + "X-StopIfChanged=false\n",
        "trigger.service": "[Unit]\nX-Reload-Triggers=/nix/store/2\n" + base.format(n="e"),
        "same.service": base.format(n="f"),
        "mysock.socket": "[Socket]\nListenStream=2\n",
        "multi-user.target": "[Unit]\nDescription=m\nWants=new.service same.service\n",
        "new.service": base.format(n="n"),
    })
    active = set(old.units)
    sw = Switcher.__new__(Switcher)
    sw.machine = None  # type: ignore[assignment]
    sw.unsupported = set()
    sw.wanted_closure = lambda g, root="multi-user.target": (  # type: ignore[method-assign]
        {"multi-user.target", "new.service", "same.service"})
    p = sw.plan(old, new, active, persisted=False)
    # a changed socket is left alone (sockets are not restarted)
    assert p == Plan(stop={"restart.service", "gone.service"},
                     start={"restart.service", "new.service"},
                     restart={"onestep.service"},
                     reload={"reload.service", "trigger.service"},
                     skip={"skip.service"}, quiet=set())


BIND_LOW_PORT = r"""
import socket, sys
from pynix.os.accounts import Credentials
from pynix.os.privileges import become
caps = [int(c) for c in sys.argv[1:]]
become(Credentials("nobody", 65534, 65534, (65534,), "/", "/bin/sh"), caps, True)
import os
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(os.environ["PORT"])))
    print("bound", os.getuid())
except PermissionError:
    print("denied", os.getuid())
"""


def test_ambient_capabilities_let_a_user_bind_a_low_port() -> None:
    import os
    import random
    import subprocess
    import sys

    needs.root("changing users")
    port = str(random.randint(600, 1000))
    env = {**os.environ, "PORT": port}
    with_cap = subprocess.run([sys.executable, "-c", BIND_LOW_PORT, "10"], env=env,
                              capture_output=True, text=True, timeout=30, check=True)
    assert with_cap.stdout.split() == ["bound", "65534"], with_cap.stderr
    without = subprocess.run([sys.executable, "-c", BIND_LOW_PORT], env=env,
                             capture_output=True, text=True, timeout=30, check=True)
    assert without.stdout.split() == ["denied", "65534"], without.stderr


def test_package_names_and_versions() -> None:
    # as builtins.parseDrvName splits them
    assert parse_name("python3-3.11.2") == ("python3", "3.11.2")
    assert parse_name("bash-5.2.15-2+b13") == ("bash", "5.2.15-2+b13")
    assert parse_name("system-path") == ("system-path", "")
    assert parse_name("unit-script-nginx-pre-start") == ("unit-script-nginx-pre-start", "")
    assert parse_name("libpython3.11-minimal-3.11.2-6") == ("libpython3.11-minimal", "3.11.2-6")

"""``systemd.sockets.<name>``: the socket unit files of a built system (their
[Unit]/[Socket]/[Install] sections, the sockets.target.wants links,
services.json) and the errors of a socket that cannot work."""

from __future__ import annotations

import json
import os

import pytest

import needs

from .conftest import Machine, OsWorld, parse_unit

CONFIG = """{ pkgs, ... }: {
  systemd.sockets.echo = {
    description = "Echo socket";
    wantedBy = [ "sockets.target" ];
    listenStreams = [ "127.0.0.1:18090" "/run/echo/echo.sock" ];
    listenDatagrams = [ "[::1]:18091" ];
    socketConfig = { Accept = false; SocketMode = "0660"; Backlog = 64; };
    after = [ "network.target" ];
  };
  systemd.services.echo = { script = "exec sleep 100"; };
  systemd.sockets.other = {
    listenStreams = [ "18092" ];
    socketConfig.Service = "echo.service";
    requiredBy = [ "multi-user.target" ];
  };
}
"""


@pytest.fixture(scope="module")
def built(os_store: object, tmp_path_factory: pytest.TempPathFactory) -> tuple[OsWorld, str]:
    from pathlib import Path

    assert isinstance(os_store, Path)
    world = OsWorld(os_store, tmp_path_factory.mktemp("sockets"))
    return world, world.build(CONFIG, name="sockets")


def test_socket_unit_files(built: tuple[OsWorld, str]) -> None:
    world, top = built
    units = f"{top}/etc/systemd/system"
    text = world.read(units + "/echo.socket")
    sections = parse_unit(text)
    assert list(sections) == ["Unit", "Socket", "Install"]
    assert sections["Unit"] == [("After", "network.target"), ("Description", "Echo socket")]
    # socketConfig sorted, then the streams and datagrams in their order
    assert sections["Socket"] == [
        ("Accept", "false"), ("Backlog", "64"), ("SocketMode", "0660"),
        ("ListenStream", "127.0.0.1:18090"), ("ListenStream", "/run/echo/echo.sock"),
        ("ListenDatagram", "[::1]:18091")]
    assert sections["Install"] == [("WantedBy", "sockets.target")]
    other = parse_unit(world.read(units + "/other.socket"))
    assert other["Socket"] == [("Service", "echo.service"), ("ListenStream", "18092")]
    assert other["Install"] == [("RequiredBy", "multi-user.target")]
    host_units = world.resolve(units)
    assert os.readlink(host_units / "sockets.target.wants" / "echo.socket") == "../echo.socket"
    assert os.readlink(host_units / "multi-user.target.requires" / "other.socket") == \
        "../other.socket"
    # sockets.target is pulled in by basic.target, which multi-user.target requires
    basic = dict(parse_unit(world.read(units + "/basic.target"))["Unit"])
    assert "sockets.target" in basic["Wants"].split()
    services = json.loads(world.read(top + "/services.json"))
    assert services["echo.socket"]["wantedBy"] == ["sockets.target"]
    assert services["echo.socket"]["after"] == ["network.target"]
    # the service has no [Install]: the socket starts it
    assert "Install" not in parse_unit(world.read(units + "/echo.service"))


def test_systemd_accepts_the_socket_units(built: tuple[OsWorld, str], machine: Machine) -> None:
    """``systemd-analyze verify`` (the host's systemd, in a machine that shows
    the store at /nix/store) has nothing to say about the generated units."""
    needs.tool("systemd-analyze")
    _, top = built
    units = f"{top}/etc/systemd/system"
    r = machine.run(["/usr/bin/systemd-analyze", "verify", f"{units}/echo.socket",
                     f"{units}/other.socket", f"{units}/echo.service"], host_usr=True)
    assert r.status == 0 and not r.stderr.strip(), (r.stdout, r.stderr)


def test_socket_options_are_documented(world: OsWorld) -> None:
    doc = world.eval("{ ... }: { }", "map (o: { inherit (o) name type description; }) "
                     "(lib.optionAttrSetToDocList options.systemd.sockets)")
    assert isinstance(doc, list)
    by_name = {d["name"]: d for d in doc}
    for opt in ("listenStreams", "listenDatagrams", "socketConfig", "wantedBy", "requiredBy",
                "requires", "wants", "after", "before", "unitConfig", "description", "enable"):
        entry = by_name[f"systemd.sockets.<name>.{opt}"]
        assert entry["description"], entry
    assert by_name["systemd.sockets.<name>.listenStreams"]["type"] == "list of string"


@pytest.mark.parametrize(("config", "message"), [
    ('systemd.sockets.lonely = { listenStreams = [ "18093" ]; };',
     "systemd.sockets.lonely activates lonely.service, which is not defined"),
    ('systemd.sockets.mute = { }; systemd.services.mute.script = "true";',
     "systemd.sockets.mute listens on nothing"),
    ('systemd.sockets.bad = { listenStreams = [ "localhost" "run/x.sock" ]; };'
     ' systemd.services.bad.script = "true";',
     'systemd.sockets.bad: "localhost", "run/x.sock" is not a socket address'),
    ('systemd.sockets.x = { listenStreams = [ "1" ]; socketConfig.Service = "y.service"; };',
     "systemd.sockets.x activates y.service, which is not defined"),
])
def test_socket_errors(world: OsWorld, config: str, message: str) -> None:
    err = world.eval_fails("{ ... }: { " + config + " }",
                           "builtins.seq r.config.system.build.toplevel.drvPath true")
    assert message in err.replace("\n", " "), err

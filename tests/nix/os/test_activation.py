"""Activation for real (contract item 4): `$toplevel/activate` run as root in
a machine root that shows only the machine's directories and the store (no
host /usr, /bin or /lib: the script must use store tools only).  Users and
groups, /etc through /etc/static, copied files and /etc/.clean,
/run/current-system, idempotence, and a second generation switching /etc
over, then a return to the first."""

from __future__ import annotations

import os

import pytest

from .conftest import Machine, OsWorld, table

GEN1 = """{ pkgs, ... }: {
  networking.hostName = "first";
  users.users.alice = { isNormalUser = true; extraGroups = [ "wheel" ]; };
  users.users.svc = {
    isSystemUser = true; group = "svc"; home = "/var/lib/svc"; createHome = true;
  };
  users.groups.svc = { };
  environment.etc."app/config".text = "v1";
  environment.etc.secret = { text = "s3cret"; mode = "0640"; group = "svc"; };
  environment.etc.dropped.text = "only in the first generation";
  environment.etc."conf.d".source = pkgs.writeTextDir "x.conf" "x";
  environment.etc.direct = { source = pkgs.writeText "direct" "direct"; mode = "direct-symlink"; };
  system.activationScripts.greet = {
    deps = [ "etc" ];
    text = "cat /etc/app/config > /run/greet-$NIXOS_ACTION";
    supportsDryActivation = true;
  };
  systemd.services.web = { wantedBy = [ "multi-user.target" ]; script = "sleep 1"; };
  systemd.tmpfiles.rules = [
    "d /var/www/site 0750 svc svc -"
    "f /var/www/site/index.html 0640 svc svc - hello"
    "L+ /var/www/link - - - - /var/www/site"
  ];
}
"""

GEN2 = """{ pkgs, ... }: {
  networking.hostName = "second";
  users.users.alice = { isNormalUser = true; extraGroups = [ "wheel" ]; };
  users.users.bob = { isNormalUser = true; initialPassword = "pw"; };
  users.users.carol = { isNormalUser = true; uid = 1700; hashedPassword = "!locked-hash"; };
  environment.etc."app/config".text = "v2";
  environment.etc."conf.d/a.conf".text = "a";
  environment.etc.direct = { source = pkgs.writeText "direct" "direct"; mode = "direct-symlink"; };
  # a failing snippet does not stop the others
  system.activationScripts.broken = "false";
  systemd.tmpfiles.rules = [ "x /unsupported" "d /var/www/other" ];
  system.activationScripts.greet = {
    deps = [ "etc" ];
    text = "cat /etc/app/config > /run/greet-$NIXOS_ACTION";
  };
}
"""


@pytest.fixture(scope="module")
def generations(os_store: object,
                tmp_path_factory: pytest.TempPathFactory) -> tuple[OsWorld, str, str]:
    from pathlib import Path

    assert isinstance(os_store, Path)
    world = OsWorld(os_store, tmp_path_factory.mktemp("generations"))
    return world, world.build(GEN1, name="gen1"), world.build(GEN2, name="gen2")


def snapshot(m: Machine) -> dict[str, str]:
    """The account files, /etc/.clean and the remembered ids."""
    files = ["/etc/passwd", "/etc/group", "/etc/shadow", "/etc/.clean",
             "/var/lib/pynix/uid-map", "/var/lib/pynix/gid-map"]
    return {f: m.path(f).read_text() for f in files}


def test_activate_two_generations(generations: tuple[OsWorld, str, str], machine: Machine) -> None:
    _, gen1, gen2 = generations
    m = machine
    # something of the user's own, which activation must leave alone
    m.path("/etc/mine").write_text("mine\n")

    r = m.activate(gen1)
    assert r.ok, r.stdout + r.stderr
    assert os.readlink(m.path("/run/current-system")) == gen1
    # users and groups
    passwd, group = m.passwd(), m.group()
    assert passwd["root"][2:4] == ["0", "0"]
    assert passwd["alice"][2] == "1000" and passwd["alice"][3] == "100"
    assert passwd["alice"][5:] == ["/home/alice", passwd["alice"][6]]
    assert passwd["alice"][6].endswith("/bin/bash")
    svc_uid = int(passwd["svc"][2])
    assert 400 <= svc_uid < 1000
    assert group["svc"][2] == passwd["svc"][3]
    assert group["wheel"][3] == "alice"
    assert passwd["svc"][6].endswith("-nologin/bin/nologin")
    assert table(m.path("/etc/shadow"))["alice"][1] == "!"
    home = m.path("/home/alice").stat()
    assert (home.st_uid, home.st_mode & 0o777) == (1000, 0o700)
    assert m.path("/var/lib/svc").stat().st_uid == svc_uid
    # /etc: the static tree, links through it, a direct link, a copy
    static = os.readlink(m.path("/etc/static"))
    assert static == os.readlink(generations[0].real(gen1) / "etc")
    assert os.readlink(m.path("/etc/app/config")) == "/etc/static/app/config"
    assert os.readlink(m.path("/etc/hostname")) == "/etc/static/hostname"
    assert os.readlink(m.path("/etc/systemd/system")) == "/etc/static/systemd/system"
    assert os.readlink(m.path("/etc/direct")).startswith("/nix/store/")
    secret = m.path("/etc/secret")
    assert not secret.is_symlink() and secret.read_text() == "s3cret"
    st = secret.stat()
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o640, 0, int(group["svc"][2]))
    assert m.path("/etc/.clean").read_text() == "secret\n"
    assert m.path("/etc/NIXOS").exists()
    # what the machine's services see through the links
    hosts = m.run([f"{gen1}/sw/bin/cat", "/etc/hosts", "/etc/hostname", "/etc/app/config"])
    assert hosts.ok, hosts.stderr
    assert hosts.stdout == "127.0.0.1 localhost first\n::1 localhost\nfirst\nv1"
    # the directories of every system
    assert m.path("/var/empty").is_dir() and os.readlink(m.path("/var/run")) == "/run"
    assert m.path("/tmp").stat().st_mode & 0o1777 == 0o1777
    assert m.path("/run/greet-switch").read_text() == "v1"
    # systemd.tmpfiles.rules (an unsupported type is reported, the others apply)
    site = m.path("/var/www/site").stat()
    assert (site.st_mode & 0o777, site.st_uid) == (0o750, svc_uid)
    assert m.path("/var/www/site/index.html").read_text() == "hello"
    assert os.readlink(m.path("/var/www/link")) == "/var/www/site"

    # -- idempotence: the same generation again changes nothing -------------------------
    before = snapshot(m)
    r = m.activate(gen1)
    assert r.ok, r.stdout + r.stderr
    assert snapshot(m) == before

    # -- dry activation: only the snippets that support it, no flip ------------------------
    r = m.activate(gen2, action="dry-activate", dry=True)
    assert r.ok, r.stdout + r.stderr
    assert os.readlink(m.path("/run/current-system")) == gen1
    assert snapshot(m) == before

    # an account made by hand stays (users.mutableUsers)
    with m.path("/etc/passwd").open("a") as f:
        f.write("manual:x:1500:100::/var/empty:/bin/false\n")

    # -- generation 2 -------------------------------------------------------------------
    r = m.activate(gen2)
    assert r.status != 0  # the broken snippet
    assert "Activation script snippet 'broken' failed (1)" in r.stdout
    # an unsupported tmpfiles type is reported; the other rules apply
    assert "systemd.tmpfiles.rules, line 1 (x /unsupported): the type 'x' is not supported" \
        in r.stderr
    assert "Activation script snippet 'tmpfiles' failed (1)" in r.stdout
    assert m.path("/var/www/other").is_dir()
    assert os.readlink(m.path("/run/current-system")) == gen2
    passwd, group = m.passwd(), m.group()
    assert "svc" not in passwd and "svc" not in group
    assert passwd["alice"][2] == "1000" and passwd["bob"][2] == "1001"
    assert passwd["carol"][2] == "1700"
    shadow = table(m.path("/etc/shadow"))
    assert shadow["bob"][1].startswith("$6$") and shadow["carol"][1] == "!locked-hash"
    assert "DeprecationWarning" not in r.stderr
    assert "manual" in passwd
    assert os.readlink(m.path("/etc/static")) == os.readlink(generations[0].real(gen2) / "etc")
    assert not os.path.lexists(m.path("/etc/dropped"))
    assert not os.path.lexists(m.path("/etc/secret"))  # copied by gen1 only: removed
    assert m.path("/etc/.clean").read_text() == ""
    # a linked directory became a directory of links
    assert not m.path("/etc/conf.d").is_symlink() and m.path("/etc/conf.d").is_dir()
    assert sorted(os.listdir(m.path("/etc/conf.d"))) == ["a.conf"]
    assert os.readlink(m.path("/etc/conf.d/a.conf")) == "/etc/static/conf.d/a.conf"
    assert m.path("/etc/mine").read_text() == "mine\n"
    # snippets after the broken one ran, with the new /etc
    assert m.path("/run/greet-switch").read_text() == "v2"
    hostname = m.run([f"{gen2}/sw/bin/cat", "/etc/hostname"])
    assert hostname.stdout == "second\n"

    # -- back to generation 1: svc gets its old uid again ----------------------------------
    r = m.activate(gen1)
    assert r.ok, r.stdout + r.stderr
    passwd = m.passwd()
    assert int(passwd["svc"][2]) == svc_uid
    assert "bob" not in passwd and "manual" in passwd
    assert m.path("/etc/secret").read_text() == "s3cret"
    # ... and back (it held only links of the static tree)
    assert os.readlink(m.path("/etc/conf.d")) == "/etc/static/conf.d"
    assert os.readlink(m.path("/run/current-system")) == gen1


def test_current_system_flip_is_a_rename(generations: tuple[OsWorld, str, str],
                                         machine: Machine) -> None:
    """`/run/current-system` is replaced by renaming a new link over it: the
    inode of the link changes and no temporary link is left behind."""
    _, gen1, gen2 = generations
    m = machine
    assert m.activate(gen1).ok
    first = os.lstat(m.path("/run/current-system")).st_ino
    r = m.activate(gen2)
    assert "failed" in r.stdout
    assert os.lstat(m.path("/run/current-system")).st_ino != first
    assert not os.path.lexists(m.path("/run/.current-system.tmp"))
    assert os.readlink(m.path("/run/current-system")) == gen2
